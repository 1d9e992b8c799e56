#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""check_burst_code.py BINARY: the bursts' machine code clears no large
object.

A PMD thread calls the receive and transmit bursts (nvh::net_enqueue_burst,
nvh::net_dequeue_burst, every clone of them) and the glue's
netdev_vhost_rxq_recv and netdev_vhost_send on every poll, busy or idle.
A burst keeps its state on the stack, and a compiler may zero all of it
before use: GCC 12 did, for a transmit burst whose state (9 KB) was
aggregate-initialised from a constructed pass, with a call to memset on
every poll (docs/performance.md, "A memset on every transmit poll").
This check disassembles BINARY (objdump) and fails, naming the function,
if a burst calls memset, or clears more than MAX_REP_STOS_QWORDS with a
`rep stos` whose count it loads just before.

--self-test runs the parser on canned disassembly: one clean burst, one
with a call to memset and one with a large `rep stos`, and checks that
exactly the two bad ones are reported.
"""
import re
import subprocess
import sys

BURSTS = ("nvh::net_enqueue_burst", "nvh::net_dequeue_burst", "netdev_vhost_rxq_recv",
          "netdev_vhost_send")
# A burst's counters (Tally, 144 bytes) may be cleared with rep stos.
MAX_REP_STOS_QWORDS = 32
FUNC = re.compile(r"^[0-9a-f]+ <(.+)>:$")
# How close before a `rep stos` its count must be loaded to be taken as its
# count (a count from a register, or from further back, is not judged).
COUNT_WINDOW = 8
MEMSET = re.compile(r"\bcall\s+\S+\s+<(__)?memset(@plt)?")
COUNT = re.compile(r"\bmov\s+\$0x([0-9a-f]+),%e?r?cx\b")
REP_STOS = re.compile(r"\brep stos (%rax|%eax|%al)")


def check(disassembly):
    errors = []
    func, count, count_at = None, None, 0
    for n, line in enumerate(disassembly.splitlines()):
        m = FUNC.match(line)
        if m:
            func = m.group(1) if m.group(1).startswith(BURSTS) else None
            count = None
            continue
        if func is None:
            continue
        c = COUNT.search(line)
        if c:
            count, count_at = int(c.group(1), 16), n
        if MEMSET.search(line):
            errors.append(f"{func}: calls memset: {line.strip()}")
        s = REP_STOS.search(line)
        if s and count is not None and n - count_at <= COUNT_WINDOW:
            width = {"%rax": 8, "%eax": 4, "%al": 1}[s.group(1)]
            if count * width > MAX_REP_STOS_QWORDS * 8:
                errors.append(f"{func}: clears {count * width} bytes: {line.strip()}")
    return errors


def self_test():
    canned = """
0000000000001000 <nvh::net_enqueue_burst(nvh::Virtqueue&, nvh_packet const*, unsigned int) [clone .avx2]>:
    1000:	mov    $0x12,%ecx
    1005:	rep stos %rax,%es:(%rdi)
    1008:	call   2000 <memcpy@plt>
0000000000001100 <nvh::net_dequeue_burst(nvh::Virtqueue&, nvh_packet*, unsigned int, nvh::LargeBufferHook const&) [clone .avx2]>:
    1100:	mov    $0x23d8,%edx
    1105:	call   5350 <memset@plt>
0000000000001200 <nvh::net_dequeue_burst(nvh::Virtqueue&, nvh_packet*, unsigned int, nvh::LargeBufferHook const&) [clone .default]>:
    1200:	mov    $0x47b,%ecx
    1205:	rep stos %rax,%es:(%rdi)
0000000000001300 <nvh::Device::on_message()>:
    1300:	call   5350 <memset@plt>
"""
    errors = check(canned)
    ok = (len(errors) == 2 and "calls memset" in errors[0] and "[clone .avx2]" in errors[0]
          and "clears 9176 bytes" in errors[1])
    print("\n".join(errors))
    print("self-test", "passed" if ok else "FAILED")
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        sys.exit(__doc__)
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", argv[1]],
                         check=True, capture_output=True, text=True).stdout
    if not any(FUNC.match(l) and FUNC.match(l).group(1).startswith(BURSTS)
               for l in out.splitlines()):
        print(f"{argv[1]}: no burst function found")
        return 1
    errors = check(out)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
