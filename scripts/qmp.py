#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run one QMP command on a QEMU's QMP unix socket; print its return as JSON.

Usage: qmp.py SOCKET COMMAND [JSON-ARGUMENTS]
Exit status 1 (and the error on stderr) if QEMU answers with an error or
cannot be reached within 5 s.
"""
import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        sys.exit(f"qmp: cannot connect to {sys.argv[1]}: {e}")
    f = s.makefile("rw")

    def call(cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        f.write(json.dumps(msg) + "\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                sys.exit("qmp: QEMU closed the connection")
            r = json.loads(line)
            if "error" in r:
                sys.exit(f"qmp: {cmd}: {r['error'].get('desc', r['error'])}")
            if "return" in r:
                return r["return"]

    f.readline()                                    # greeting
    call("qmp_capabilities")
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(call(sys.argv[2], args)))


if __name__ == "__main__":
    main()
