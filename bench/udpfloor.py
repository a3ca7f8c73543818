#!/usr/bin/env python3
"""The floor under UDP fan-out: a bare Twisted process that only sends datagrams.

chatd's UDP channel sends each room message to every member as one datagram (one
``sendto`` each: nothing joins datagrams to different addresses). This is that and nothing
else: a Twisted UDP port sends one ``--size``-byte datagram to each of ``--members``
receivers per message, ``--rate`` messages a second (0: one message per reactor turn, as
fast as it goes), for ``--duration`` seconds; the receivers are ``--members`` sockets in a
child process (asyncio, one callback per datagram, like ``chatbench.py udpfanout``'s
members), so each datagram is read and the kernel's wake-ups count as they do for chatd. It
prints one JSON line: datagrams sent and received, and datagrams per CPU-second of the
sending process (user + system), the figure ``chatbench.py udpfanout`` gives for chatd.

    python bench/udpfloor.py --members 100 --duration 5              # Port.write
    python bench/udpfloor.py --members 100 --duration 5 --sendto     # the socket's sendto
    python bench/udpfloor.py --members 100 --rate 900                # chatd's message rate

``--sendto`` calls the port's socket directly, as chatd's members do; without it each
datagram goes through Twisted's ``Port.write`` (its address checks, then the ``sendto``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

RECEIVER = r"""
import asyncio, sys
class Count(asyncio.DatagramProtocol):
    n = 0
    def datagram_received(self, data, addr):
        Count.n += 1
async def main(members):
    loop = asyncio.get_running_loop()
    ports = []
    for _ in range(members):
        transport, _ = await loop.create_datagram_endpoint(Count, local_addr=("127.0.0.1", 0))
        ports.append(transport.get_extra_info("sockname")[1])
    print(" ".join(map(str, ports)), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # the sender is done
    await asyncio.sleep(0.5)  # what is still in flight
    print(Count.n, flush=True)
try:
    import uvloop
    uvloop.install()
except ImportError:
    pass
asyncio.run(main(int(sys.argv[1])))
"""


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    top.add_argument("--members", type=int, default=100)
    top.add_argument("--duration", type=float, default=5.0)
    top.add_argument("--rate", type=float, default=0.0, help="messages per second (0: max)")
    top.add_argument("--size", type=int, default=45, help="bytes per datagram")
    top.add_argument("--sendto", action="store_true", help="the socket's sendto, not Port.write")
    args = top.parse_args()

    from twisted.internet import reactor, task
    from twisted.internet.protocol import DatagramProtocol

    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(args.members)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert receiver.stdin is not None and receiver.stdout is not None
    addresses = [("127.0.0.1", int(p)) for p in receiver.stdout.readline().split()]
    port = reactor.listenUDP(0, DatagramProtocol(), interface="127.0.0.1")
    send = port.socket.sendto if args.sendto else port.write
    datagram = b"x" * args.size
    state = {"messages": 0, "lost": 0}

    def message() -> None:
        for address in addresses:
            try:
                send(datagram, address)
            except OSError:  # a full socket buffer: lost, as chatd counts it
                state["lost"] += 1
        state["messages"] += 1

    def turn() -> None:  # one message per reactor turn, as fast as the reactor turns
        message()
        if time.monotonic() < end:
            reactor.callLater(0, turn)
        else:
            reactor.stop()

    cpu0, t0 = cpu(), time.monotonic()
    end = t0 + args.duration
    if args.rate:
        task.LoopingCall(message).start(1 / args.rate)
        reactor.callLater(args.duration, reactor.stop)
    else:
        reactor.callLater(0, turn)
    reactor.run()
    wall, used = time.monotonic() - t0, cpu() - cpu0
    receiver.stdin.write("done\n")
    receiver.stdin.flush()
    received = int(receiver.stdout.readline())
    receiver.wait(10)
    sent = state["messages"] * len(addresses) - state["lost"]
    print(json.dumps({
        "scenario": f"udpfloor {args.members} receivers, "
                    f"{'socket.sendto' if args.sendto else 'Port.write'}",
        "messages": state["messages"], "datagrams_sent": sent, "datagrams_received": received,
        "lost_at_send": state["lost"], "wall_s": round(wall, 3), "cpu_s": round(used, 3),
        "datagrams_per_s": round(sent / wall),
        "datagrams_per_cpu_s": round(sent / used) if used else None,
    }), flush=True)


if __name__ == "__main__":
    main()
