#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/):
well-formed inputs the fuzzer mutates from, in each target's input format
(see the comment at the top of each fuzz_*.cpp), and the inputs that hung
older cores, kept as seeds so that they stay fixed.

    tests/fuzz/make_corpus.py [corpus-dir]

Deterministic: running it again writes the same files.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
PAGE = 4096
UVA_OFFSET = 0x7F0000000000   # GuestMemoryFixture::kUvaOffset

# virtio 1.2 feature bits and flags.
F_CSUM, F_GUEST_CSUM, F_GUEST_TSO4, F_HOST_TSO4, F_HOST_TSO6 = 0, 1, 7, 11, 12
F_MRG_RXBUF, F_MQ, F_LOG_ALL, F_INDIRECT, F_EVENT_IDX = 15, 22, 26, 28, 29
F_PROTOCOL, F_VERSION_1, F_PACKED, F_IN_ORDER = 30, 32, 34, 35
DESC_NEXT, DESC_WRITE, DESC_INDIRECT = 1, 2, 4
PACKED_AVAIL, PACKED_USED = 1 << 7, 1 << 15


def bits(*ns):
    return sum(1 << n for n in ns)


def write(target, name, data, out=OUT):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(n, seed):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


# ---- Rings: a memory image with the ring at fixed offsets -----------------
# Region 0 is 16 pages at guest-physical SHIFT0: descriptors at 0, driver
# area at 0x200, device area at 0x400, indirect tables at 0x600, buffers
# from 0x800 (512 bytes each).  Images end at their last non-zero byte (the
# targets leave the rest of memory zero).
GPA = 0x100000
DESC, DRIVER, DEVICE, INDIRECT, BUFS = 0, 0x200, 0x400, 0x600, 0x800
SHIFT = 0x4000   # vring 1's parts in the message stream seeds


def ring_header(config, log2num, base, ops, regions=((15, 0),)):
    h = struct.pack("<BBH", config | ((len(regions) - 1) << 6), log2num, GPA // PAGE)
    for pages_minus_one, gap in regions:
        h += struct.pack("<BB", pages_minus_one, gap)
    h += struct.pack("<IIII", DESC, DRIVER, DEVICE, base)
    return h + struct.pack("<B", len(ops)) + bytes(ops)


# ops: 0 dequeue (capacity byte follows), 1 dequeue full capacity,
# 2 enqueue (7 bytes per packet follow), 4 rewrite, 5 restart, 6 toggle
# enable, 7 publish.  Burst size n is 1 + (op >> 3).
def op_dequeue(n):
    return [((n - 1) << 3) | 1]


def op_enqueue(lens):
    out = [((len(lens) - 1) << 3) | 2]
    for length in lens:
        out += [length, 0, 0, 0, 0, 0, 0]
    return out


def split_image(chains, num, writable):
    """chains: list of lists of (length) per descriptor; indirect if the
    list is a tuple."""
    mem = bytearray(16 * PAGE)
    d = 0
    buf = BUFS
    ind = INDIRECT
    heads = []
    for chain in chains:
        flags_w = DESC_WRITE if writable else 0
        if isinstance(chain, tuple):
            table = bytearray()
            for i, length in enumerate(chain):
                nxt = i + 1 if i + 1 < len(chain) else 0
                fl = flags_w | (DESC_NEXT if i + 1 < len(chain) else 0)
                table += struct.pack("<QIHH", GPA + buf, length, fl, nxt)
                buf += 512
            mem[ind:ind + len(table)] = table
            struct.pack_into("<QIHH", mem, DESC + 16 * d, GPA + ind, len(table),
                             DESC_INDIRECT, 0)
            ind += len(table)
            heads.append(d)
            d += 1
            continue
        heads.append(d)
        for i, length in enumerate(chain):
            fl = flags_w | (DESC_NEXT if i + 1 < len(chain) else 0)
            struct.pack_into("<QIHH", mem, DESC + 16 * d, GPA + buf, length, fl,
                             (d + 1) % num)
            if not writable:
                mem[buf:buf + length] = frame(length, d)
            buf += 512
            d += 1
    struct.pack_into("<HH", mem, DRIVER, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, DRIVER + 4 + 2 * i, h)
    return bytes(mem).rstrip(b"\0")


def packed_image(chains, writable):
    mem = bytearray(16 * PAGE)
    slot = 0
    buf = BUFS
    ind = INDIRECT
    for bid, chain in enumerate(chains):
        wr = DESC_WRITE if writable else 0
        if isinstance(chain, tuple):
            table = bytearray()
            for length in chain:
                table += struct.pack("<QIHH", GPA + buf, length, bid, wr)
                buf += 512
            mem[ind:ind + len(table)] = table
            struct.pack_into("<QIHH", mem, DESC + 16 * slot, GPA + ind, len(table),
                             bid, DESC_INDIRECT | PACKED_AVAIL)
            ind += len(table)
            slot += 1
            continue
        for i, length in enumerate(chain):
            fl = wr | PACKED_AVAIL | (DESC_NEXT if i + 1 < len(chain) else 0)
            struct.pack_into("<QIHH", mem, DESC + 16 * slot, GPA + buf, length, bid, fl)
            if not writable:
                mem[buf:buf + length] = frame(length, slot)
            buf += 512
            slot += 1
    return bytes(mem).rstrip(b"\0")


def rings():
    V1, MRG, IND, EVT, OFF, INO = 0x08, 0x01, 0x02, 0x04, 0x10, 0x20
    tx = [[72], [12, 60], [4, 8, 100], (12, 200)]
    rx = [[512], [512], [256, 256], (512, 512), [512], [512]]
    deq = op_dequeue(8) + [7] + op_dequeue(4)
    enq = op_enqueue([60, 200, 0x82]) + [7] + op_enqueue([14])
    base_packed = 0x8000   # avail index 0, wrap counter 1, as virtio_user
    for cfg, name in ((V1, "v1"), (V1 | MRG | IND | EVT, "all"),
                      (V1 | MRG | IND | OFF | INO, "offload"), (0, "legacy")):
        write("fuzz_split_ring", f"tx-{name}",
              ring_header(cfg, 4, 0, deq) + split_image(tx, 16, False))
        write("fuzz_split_ring", f"rx-{name}",
              ring_header(cfg, 4, 0, enq) + split_image(rx, 16, True))
        write("fuzz_packed_ring", f"tx-{name}",
              ring_header(cfg, 4, base_packed, deq) + packed_image(tx, False))
        write("fuzz_packed_ring", f"rx-{name}",
              ring_header(cfg, 4, base_packed, enq) + packed_image(rx, True))
    # Two adjacent regions: region 0 is one page more than the image.
    write("fuzz_split_ring", "tx-two-regions",
          ring_header(V1 | IND, 4, 0, deq + [5] + deq, ((15, 0), (3, 0)))
          + split_image(tx, 16, False))
    write("fuzz_packed_ring", "rx-restart",
          ring_header(V1 | MRG, 4, base_packed, enq + [5, 6, 6] + enq)
          + packed_image(rx, True))


# ---- The vhost-user message stream ----------------------------------------
REQ = dict(GET_FEATURES=1, SET_FEATURES=2, SET_OWNER=3, SET_MEM_TABLE=5,
           SET_LOG_BASE=6, SET_LOG_FD=7, SET_VRING_NUM=8, SET_VRING_ADDR=9,
           SET_VRING_BASE=10, GET_VRING_BASE=11, SET_VRING_KICK=12,
           SET_VRING_CALL=13, GET_PROTOCOL_FEATURES=15,
           SET_PROTOCOL_FEATURES=16, GET_QUEUE_NUM=17, SET_VRING_ENABLE=18,
           SEND_RARP=19, NET_SET_MTU=20, SET_STATUS=39, GET_STATUS=40)
NEED_REPLY = 1 << 3
MEM_PAGES = 32          # the memfd of SET_MEM_TABLE: the fuzzer's maximum


def msg(name, payload=b"", fds=(), flags=0):
    """One message, as a list so streams are built with +; fds are
    (kind, parameters) pairs, encoded by each target's format."""
    return [(REQ[name], 1 | flags, payload, tuple(fds))]


def eventfd():
    return ("eventfd", b"")


def memfd(pages, content=b""):
    return ("memfd", struct.pack("<BH", pages - 1, len(content)) + content)


def stream(msgs):
    """fuzz_vhost_user's format: fds synthesised after each payload."""
    old_fd = {"eventfd": b"\x01", "memfd": b"\x00"}
    out = b""
    for request, flags, payload, fds in msgs:
        out += struct.pack("<BIII", len(fds), request, flags, len(payload)) + payload
        for kind, params in fds:
            out += old_fd[kind] + params
    return out


def u64(v):
    return struct.pack("<Q", v)


def state(index, num):
    return struct.pack("<II", index, num)


def vhost_user():
    # One region of MEM_PAGES pages at GPA holding a split ring for vring 0
    # (rx, empty buffers) and vring 1 (tx, one chain each), 16 entries.
    rx = bytearray(split_image([[512], [512], (512, 512)], 16, True))
    tx = bytearray(split_image([[12, 60], [72], (12, 100)], 16, False))
    # vring 1's parts live SHIFT further: shift its addresses.
    for d in range(16):
        addr, length, fl, nxt = struct.unpack_from("<QIHH", tx, 16 * d)
        if length:
            struct.pack_into("<QIHH", tx, 16 * d, addr + SHIFT, length, fl, nxt)
    for off in range(INDIRECT, INDIRECT + 64, 16):
        if off + 16 > len(tx):
            break
        addr, length, fl, nxt = struct.unpack_from("<QIHH", tx, off)
        if length:
            struct.pack_into("<QIHH", tx, off, addr + SHIFT, length, fl, nxt)
    image = bytes(rx).ljust(SHIFT, b"\0") + bytes(tx)
    size = MEM_PAGES * PAGE
    uva = GPA + UVA_OFFSET
    table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", GPA, size, uva, 0)
    features = bits(F_VERSION_1, F_MRG_RXBUF, F_INDIRECT, F_EVENT_IDX, F_PROTOCOL,
                    F_MQ, F_LOG_ALL, F_CSUM, F_GUEST_CSUM, F_HOST_TSO4)
    protocol = bits(0, 1, 2, 3, 4, 16)

    def ring(index, base_off, call=eventfd(), kick=eventfd()):
        addr = struct.pack("<IIQQQQ", index, 0, uva + base_off + DESC,
                           uva + base_off + DEVICE, uva + base_off + DRIVER, 0)
        return (msg("SET_VRING_NUM", state(index, 16))
                + msg("SET_VRING_ADDR", addr)
                + msg("SET_VRING_BASE", state(index, 0))
                + msg("SET_VRING_CALL", u64(index), [call])
                + msg("SET_VRING_KICK", u64(index), [kick])
                + msg("SET_VRING_ENABLE", state(index, 1)))

    def qemu_start(memory=memfd(MEM_PAGES, image), call=eventfd(), kick=eventfd()):
        return (msg("GET_FEATURES") + msg("SET_OWNER")
                + msg("GET_PROTOCOL_FEATURES")
                + msg("SET_PROTOCOL_FEATURES", u64(protocol))
                + msg("GET_QUEUE_NUM")
                + msg("SET_FEATURES", u64(features))
                + msg("SET_MEM_TABLE", table, [memory], NEED_REPLY)
                + ring(0, 0, call, kick) + ring(1, SHIFT, call, kick)
                + msg("SET_STATUS", u64(0xF)))

    start = qemu_start()
    write("fuzz_vhost_user", "qemu-start", stream(start))
    migration = (start
                 + msg("SET_FEATURES", u64(features))
                 + msg("SET_LOG_BASE", struct.pack("<QQ", PAGE, 0), [memfd(1)])
                 + msg("SET_VRING_ADDR", struct.pack("<IIQQQQ", 1, 1, uva + SHIFT,
                                                     uva + SHIFT + DEVICE,
                                                     uva + SHIFT + DRIVER,
                                                     GPA + SHIFT + DEVICE))
                 + msg("SEND_RARP", u64(0x5254001234560000 >> 16))
                 + msg("GET_VRING_BASE", state(0, 0))
                 + msg("GET_VRING_BASE", state(1, 0)))
    write("fuzz_vhost_user", "migration", stream(migration))
    write("fuzz_vhost_user", "mem-table-replaced", stream(
          start + msg("SET_MEM_TABLE", table, [memfd(MEM_PAGES, image)], NEED_REPLY)
          + msg("NET_SET_MTU", u64(1500)) + msg("GET_STATUS")))
    packed = bits(F_VERSION_1, F_PACKED, F_PROTOCOL, F_IN_ORDER)
    pimage = packed_image([[12, 60], [72]], False)
    pring = struct.pack("<IIQQQQ", 1, 0, uva + DESC, uva + DEVICE, uva + DRIVER, 0)
    packed_start = (msg("GET_FEATURES") + msg("SET_FEATURES", u64(packed))
                    + msg("SET_MEM_TABLE", table, [memfd(MEM_PAGES, pimage)])
                    + msg("SET_VRING_NUM", state(1, 16)) + msg("SET_VRING_ADDR", pring)
                    + msg("SET_VRING_BASE", state(1, 0x8000))
                    + msg("SET_VRING_KICK", u64(1), [eventfd()])
                    + msg("SET_VRING_ENABLE", state(1, 1)))
    write("fuzz_vhost_user", "packed", stream(packed_start))
    vhost_user_socket(qemu_start, migration, packed_start, image)


# ---- A hostile frontend at the socket ---------------------------------------
# fuzz_vhost_user_socket's fd kinds (hostile_fds.h).
KIND = dict(eventfd=0, blocking_eventfd=1, full_eventfd=2, pipe_read_end=3,
            pipe_write_end=4, socket=5, memfd=6, tmp_file=7, sparse_file=8,
            dev_null=9)
DEVICE_WAITS, NO_REPLY_READ = 0x10, 0x20   # write op bits


def hostile(kind, params=b""):
    return (kind, params)


def file_fd(kind, size_unit_minus_one, content=b""):
    return hostile(kind, struct.pack("<BH", size_unit_minus_one, len(content)) + content)


def wire(request, flags, payload):
    """A message as the socket carries it (vhost-user.rst)."""
    return struct.pack("<III", request, flags, len(payload)) + payload


def socket_write(chunk, fds=(), op=0):
    out = struct.pack("<BH", len(fds) | op, len(chunk)) + chunk
    for kind, params in fds:
        out += struct.pack("<B", KIND[kind]) + params
    return out


def socket_stream(msgs, pieces=1, op=0):
    """One write per message, or each message cut into `pieces` writes
    (the first cut mid-header), the fds with its first byte."""
    out = b""
    for request, flags, payload, fds in msgs:
        data = wire(request, flags, payload)
        cuts = sorted({0, len(data)} | {min(len(data), 5 + 9 * i) for i in range(pieces - 1)})
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            last = b == len(data)
            out += socket_write(data[a:b], fds if i == 0 else (), 0 if last else op)
    return out


def socket_coalesced(msgs):
    """Runs of messages without fds in one write each."""
    out, run = b"", b""
    for request, flags, payload, fds in msgs:
        if fds:
            out += socket_write(run) if run else b""
            out += socket_write(wire(request, flags, payload), fds)
            run = b""
        else:
            run += wire(request, flags, payload)
    return out + (socket_write(run) if run else b"")


def vhost_user_socket(qemu_start, migration, packed_start, image):
    t = "fuzz_vhost_user_socket"
    start = qemu_start()
    write(t, "qemu-start", socket_stream(start))
    write(t, "qemu-start-split", socket_stream(start, 3, DEVICE_WAITS))
    write(t, "qemu-start-coalesced", socket_coalesced(start))
    write(t, "migration", socket_stream(migration, 2, NO_REPLY_READ))
    write(t, "packed", socket_stream(packed_start))
    # Notification fds of every kind.
    for name, fd in (("blocking-eventfd", hostile("blocking_eventfd")),
                     ("full-eventfd", hostile("full_eventfd")),
                     ("pipe-read-end", hostile("pipe_read_end", b"\x03")),
                     ("pipe-write-end", hostile("pipe_write_end", b"\x03")),
                     ("pipe-write-end-no-reader", hostile("pipe_write_end", b"\x00")),
                     ("socket", hostile("socket")), ("dev-null", hostile("dev_null"))):
        write(t, f"call-{name}", socket_stream(qemu_start(call=fd)))
        write(t, f"kick-{name}", socket_stream(qemu_start(kick=fd)))
    # Guest memory in files other than a memfd.
    for name, fd in (("tmp-file", file_fd("tmp_file", MEM_PAGES - 1, image)),
                     ("sparse-file", file_fd("sparse_file", 3, image)),
                     ("short-memfd", file_fd("memfd", 0, image[:PAGE])),
                     ("dev-null", hostile("dev_null")),
                     ("socket", hostile("socket"))):
        write(t, f"memory-{name}", socket_stream(qemu_start(memory=fd)))
    # Inputs that hung older cores (the kick monitor's blocking read of a
    # socket kick fd; the data path's blocking write of a full call fd):
    # regression seeds now.
    for name, seed in (
            ("hang-kick-socket-rcvlowat", qemu_start(kick=hostile("socket"))),
            ("hang-call-full-eventfd", qemu_start(call=hostile("full_eventfd"))),
            ("hang-call-full-pipe", qemu_start(call=hostile("pipe_write_end", b"\x03")))):
        write(t, name, socket_stream(seed))

def net_header():
    def seed(name, features, frame_len, hdr, mac=0x563412005452):
        write("fuzz_net_header", name,
              struct.pack("<QI", features, frame_len) + hdr + u64(mac))

    plain = struct.pack("<BBHHHH", 0, 0, 0, 0, 0, 0)
    seed("plain", bits(F_VERSION_1), 60, plain)
    seed("csum", bits(F_CSUM, F_GUEST_CSUM), 74,
         struct.pack("<BBHHHH", 1, 0, 0, 0, 34, 16))
    seed("tso4", bits(F_CSUM, F_HOST_TSO4, F_GUEST_CSUM, F_GUEST_TSO4), 9000,
         struct.pack("<BBHHHH", 1, 1, 54, 1448, 34, 16))
    seed("tso6", bits(F_CSUM, F_HOST_TSO6), 9000,
         struct.pack("<BBHHHH", 1, 4, 74, 1440, 54, 16))


rings()
vhost_user()
net_header()
