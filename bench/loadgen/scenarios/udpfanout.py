"""``udpfanout``: one room of M members who chat over the UDP channel (each a line guest with
a /token, validated by the cookie round trip), S closed-loop line senders: datagrams
delivered per second and per server CPU-second, delivery ratio (UDP may drop; loopback
rarely does)."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import cast

from ..conn import Conn, bounded_gather, guest_in_room, settle
from ..daemon import Daemon
from ..loopback import HOST, free_udp_port
from ..scenario import Scenario, one_server, start_daemon
from ..target import Target
from ..traffic import Checker, Sender
from ..wires import WIRES, Wire


def arguments(p: argparse.ArgumentParser) -> None:
    """The room, the senders, and the UDP port of a daemon already running."""
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--senders", type=int, default=1)
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--udp-port", type=int, help="target a running daemon: its UDP port")


def spawn(args: argparse.Namespace, extra: list[str]) -> Daemon:
    """A chatd with a UDP listener on a free port (kept in ``args.udp_port``), no idle
    timeout and no per-address member limit."""
    args.udp_port = free_udp_port()
    return start_daemon(args, [*extra, "--udp", f"udp:{args.udp_port}:interface={HOST}",
                               "--udp-idle-timeout", "0", "--udp-members-per-address", "100000"])


class UdpMember(asyncio.DatagramProtocol):
    """One UDP member: validates its token, then counts the room's datagrams (the first
    member also parses them, to acknowledge the senders)."""

    def __init__(self, room: str, token: str, port: int) -> None:
        self.room, self.token, self.port = room.encode(), token.encode(), port
        self.transport: asyncio.DatagramTransport | None = None
        self.validated: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.count = 0
        self.checker: Checker | None = None

    def frame(self, message: bytes) -> bytes:
        return bytes((len(self.room), len(self.token))) + self.room + self.token + message

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.transport.sendto(self.frame(b""), (HOST, self.port))

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.validated.done():
            start = 2 + data[0] + data[1]
            if data[1] == 0 and data[start:start + 1] == b"\0":
                assert self.transport is not None
                self.transport.sendto(self.frame(data[start:]), (HOST, self.port))
            elif data[1] == 0 and data[start:].startswith(b"you are in"):
                self.validated.set_result(None)
            return
        self.count += 1
        if self.checker is not None:
            start = 2 + data[0]
            name_end = start + data[1]
            self.checker.line(b"101 [x] <" + data[start:name_end] + b"> " + data[name_end:])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def udp_member(wire: Wire, port: int, udp_port: int,
                     nick: str) -> tuple[Conn, UdpMember]:
    """A line guest in the room, its UDP member validated with the /token it got."""
    conn = await guest_in_room(wire, port, nick, "bench")
    # The reply's code and room: a bare "230 " is also in "u230 joined", another member.
    reply = await conn.request((b"/token bench\r\n", b"230 bench "))
    _, room, token, _port, _ = reply.decode().split(" ")
    loop = asyncio.get_running_loop()
    _, member = await loop.create_datagram_endpoint(
        lambda: UdpMember(room, token, udp_port), local_addr=(HOST, 0))
    await asyncio.wait_for(member.validated, 30)
    return conn, member


async def measure(args: argparse.Namespace, target: Target) -> dict:
    """One run: UDP members validated, then closed-loop line senders for ``--duration``."""
    wire = WIRES["line"]
    port = target.port("line")
    pairs = await bounded_gather(
        args.members, lambda i: udp_member(wire, port, args.udp_port, f"u{i}"), args.concurrency)
    members = [member for _, member in pairs]
    tcp = [conn for conn, _ in pairs]
    senders_conns = [await guest_in_room(wire, port, f"s{i}", "bench")
                     for i in range(args.senders)]
    await settle(tcp + senders_conns)
    senders = {f"s{i}".encode(): Sender(conn, f"s{i}", "bench", args.window)
               for i, conn in enumerate(senders_conns)}
    checker = Checker(wire, senders)
    members[0].checker = checker
    for conn in tcp + senders_conns:
        conn.to_count()  # the members' TCP sessions: other events only
    for member in members:
        member.count = 0
    cpu0, t0 = target.cpu(), time.monotonic()
    for sender in senders.values():
        sender.start()
    await asyncio.sleep(args.duration)
    await asyncio.gather(*(s.stop(30) for s in senders.values()))
    expected = sum(s.seq for s in senders.values()) * len(members)
    deadline = time.monotonic() + 10
    while sum(m.count for m in members) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    t1, cpu1 = time.monotonic(), target.cpu()
    got = sum(m.count for m in members)
    for conn in tcp + senders_conns:
        conn.close()
    for member in members:
        member.close()
    wall, cpu = t1 - t0, cpu1 - cpu0
    return {
        "scenario": f"udpfanout 1x{args.members} UDP members, {args.senders} line senders",
        "messages": sum(s.seq for s in senders.values()),
        "datagrams": got,
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu, 3),
        "datagrams_per_s": round(got / wall),
        "datagrams_per_cpu_s": round(got / cpu) if cpu else None,
        "delivery_ratio": round(got / expected, 6) if expected else None,
        "order_violations": checker.disorder,
    }


SCENARIO = Scenario("udpfanout", "datagrams per server CPU-second", arguments,
                    one_server(measure, spawn=spawn))
