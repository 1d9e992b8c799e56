# SPDX-License-Identifier: Apache-2.0
"""Minimal QMP client for the integration tests (standard library only).

Usage: python3 qmp.py SOCKET COMMAND [ARGUMENTS-JSON] [--field KEY[.KEY...]]

Connects to a QEMU monitor socket (-qmp unix:SOCKET,server=on,wait=off),
negotiates capabilities, runs one command and prints its "return" value as
JSON, or with --field only that member of it (a string unquoted, "" when
absent).  Asynchronous events are skipped.  Exits 1 if QEMU answers with an
error (printed on stderr), 2 if the monitor cannot be reached.
"""

import json
import socket
import sys


class Monitor:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.receive()  # greeting
        self.execute("qmp_capabilities")

    def receive(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("monitor closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None):
        request = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self.receive()
            if "event" in reply:
                continue
            return reply


def main(argv):
    field = None
    if "--field" in argv:
        i = argv.index("--field")
        field = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    arguments = json.loads(argv[3]) if len(argv) == 4 else None
    try:
        monitor = Monitor(argv[1])
        reply = monitor.execute(argv[2], arguments)
    except (OSError, ConnectionError, ValueError) as e:
        print("qmp: %s: %s" % (argv[1], e), file=sys.stderr)
        return 2
    if "error" in reply:
        print("qmp: %s: %s" % (argv[2], reply["error"].get("desc", reply["error"])),
              file=sys.stderr)
        return 1
    value = reply.get("return")
    if field is not None:
        for key in field.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            value = ""
        print(value if isinstance(value, str) else json.dumps(value))
    else:
        print(json.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
