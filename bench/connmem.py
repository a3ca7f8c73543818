#!/usr/bin/env python3
"""Where an idle logged-in connection's memory goes, by allocation site.

Runs chatd's service (``makeService`` of the tree on ``PYTHONPATH``, embedded defaults, a
temporary data directory, loopback ports) in this process on the real reactor with
``tracemalloc`` on; a client subprocess logs in ``--connections`` guests over real sockets
(``/nick`` or ``NICK``/``USER``) and keeps them open. Prints the Python heap's growth per
connection and the allocation sites that hold the most of it:

    PYTHONPATH=. python bench/connmem.py --protocol irc --connections 2000

The figures are bytes of Python heap (RSS per connection, what ``chatbench.py capacity``
reports, is some 5-10 % more). tracemalloc makes everything slow: never read CPU here.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc

from twisted.internet import reactor

CLIENT = r'''
import socket, sys
protocol, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    data = b""
    if protocol == "line":
        while b"220 " not in data:
            data += s.recv(65536)
        s.sendall(b"/nick idle%d\r\n" % i)
        want = b"201 "
    else:
        s.sendall(b"NICK idle%d\r\nUSER u 0 * :u\r\n" % i)
        want = b" 001 "
    data = b""
    while want not in data:
        data += s.recv(65536)
    socks.append(s)
print("done", flush=True)
sys.stdin.readline()
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("line", "irc"), default="line")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    from chatd.tap import Options, makeService

    port = 17000 + os.getpid() % 1000
    options = Options()
    options.parseOptions([
        "--data", tempfile.mkdtemp(), "--exempt", "127.0.0.0/8",
        "--line", f"tcp:{port}:interface=127.0.0.1:backlog=1024",
        "--irc", f"tcp:{port + 1}:interface=127.0.0.1:backlog=1024",
    ])
    service = makeService(options)
    service.privilegedStartService()
    service.startService()
    n = args.connections

    def measure() -> None:
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, args.protocol,
             str(port if args.protocol == "line" else port + 1), str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def wait() -> None:
            import select

            if not select.select([client.stdout], [], [], 0)[0]:
                reactor.callLater(0.05, wait)  # type: ignore[attr-defined]
                return
            gc.collect()
            stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
            print(f"{args.protocol}: heap growth per connection "
                  f"{sum(s.size_diff for s in stats) / n:.0f} B")
            for stat in stats[:args.top]:
                if stat.size_diff / n >= 8:
                    frame = stat.traceback[0]
                    print(f"{stat.size_diff / n:7.0f} B {stat.count_diff / n:5.2f} objects  "
                          f"{frame.filename}:{frame.lineno}")
            assert client.stdin is not None
            client.stdin.write(b"\n")
            client.stdin.flush()
            client.wait()
            os._exit(0)  # the service's thread pools would keep the process alive

        reactor.callLater(0.05, wait)  # type: ignore[attr-defined]

    reactor.callWhenRunning(lambda: reactor.callLater(0.5, measure))  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
