"""Room traffic with its checks: closed-loop senders (W messages in flight, the next sent on
each acknowledgement), paced senders with a timestamp in each message, and the checker that
verifies each sender's order and acknowledges from one member's stream, since IRC does not
echo to the sender."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from .conn import Conn, bounded_gather, guest_in_room, settle
from .target import Target
from .wires import WIRES, Wire


class Checker:
    """Parses every line of one room: per-sender order, and acknowledgements for the senders."""

    def __init__(self, wire: Wire, senders: dict[bytes, Sender]) -> None:
        self.wire = wire
        self.senders = senders
        self.next: dict[bytes, int] = {}
        self.disorder = 0
        self.said = 0
        self.stamps: list[int] | None = None

    def line(self, line: bytes) -> None:
        text = self.wire.said(line)
        if text is None:
            return
        self.said += 1
        parts = text.split()
        tag, seq = parts[0], int(parts[1])
        if self.stamps is not None:
            self.stamps.append(time.monotonic_ns() - int(parts[2]))
        expected = self.next.get(tag, 0)
        if seq != expected:
            self.disorder += 1
        self.next[tag] = seq + 1
        sender = self.senders.get(tag)
        if sender is not None:
            sender.acked()


class Sender:
    """A closed-loop sender: ``window`` messages in flight, the next sent on each arrival."""

    PAD = "x" * 24

    def __init__(self, conn: Conn, tag: str, room: str, window: int) -> None:
        self.conn = conn
        self.tag = tag
        self.room = room
        self.window = window
        self.seq = 0
        self.inflight = 0
        self.running = False
        self.idle: asyncio.Future[None] | None = None

    def send(self) -> None:
        self.conn.write(self.conn.wire.say(self.room, f"{self.tag} {self.seq} {self.PAD}"))
        self.seq += 1
        self.inflight += 1

    def start(self) -> None:
        self.running = True
        while self.inflight < self.window:
            self.send()

    def acked(self) -> None:
        self.inflight -= 1
        if self.running:
            self.send()
        elif self.inflight == 0 and self.idle is not None and not self.idle.done():
            self.idle.set_result(None)

    async def stop(self, timeout: float) -> None:
        self.running = False
        if self.inflight:
            self.idle = asyncio.get_running_loop().create_future()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.idle, timeout)


class PacedRoom:
    """One room: ``senders`` members sending ``rate`` messages/s in total, a timestamp in each;
    ``samplers`` members parse and record latencies; the rest count."""

    def __init__(self, wire: Wire, conns: list[Conn], room: str, senders: int, samplers: int):
        self.wire = wire
        self.room = room
        self.conns = conns
        self.senders = conns[1:1 + senders]
        self.sampler_conns = conns[1 + senders:1 + senders + samplers]
        self.checkers = []
        for conn in self.sampler_conns:
            checker = Checker(wire, {})
            checker.stamps = []
            conn.to_parse(checker.line)
            self.checkers.append(checker)
        for conn in conns:
            if conn.mode != "parse":
                conn.to_count()
        self.sent = 0
        self.seqs = [0] * len(self.senders)

    def take_samples(self) -> list[int]:
        samples: list[int] = []
        for checker in self.checkers:
            assert checker.stamps is not None
            samples.extend(checker.stamps)
            checker.stamps = []
        return samples

    async def run(self, rate: float, seconds: float, until: asyncio.Future | None = None) -> None:
        """Send at ``rate`` for ``seconds`` (or until ``until`` is done, at most ``seconds``)."""
        start = time.monotonic()
        base = self.sent
        while True:
            now = time.monotonic()
            if now - start >= seconds or (until is not None and until.done()):
                return
            due = base + int((now - start) * rate)
            stamp = time.monotonic_ns()
            while self.sent < due:
                k = self.sent % len(self.senders)
                text = f"p{k} {self.seqs[k]} {stamp}"
                self.seqs[k] += 1
                self.senders[k].write(self.wire.say(self.room, text))
                self.sent += 1
            await asyncio.sleep(0.001)

    def expected(self) -> int:
        receivers = len(self.conns) if self.wire.echo else len(self.conns) - 1
        return self.sent * receivers

    def delivered(self) -> int:
        return sum(c.count for c in self.conns if c.mode == "count") + sum(
            k.said for k in self.checkers)

    async def drain(self, timeout: float = 15) -> float:
        deadline = time.monotonic() + timeout
        while self.delivered() < self.expected() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.delivered() / self.expected() if self.expected() else float("nan")


async def paced_room(args: argparse.Namespace, target: Target, name: str) -> PacedRoom:
    """``--members`` guests in room ``name``, settled, ready to pace (latency, loginstorm)."""
    wire = WIRES[args.protocol]
    port = target.port(args.protocol)
    conns = await bounded_gather(
        args.members, lambda i: guest_in_room(wire, port, f"{name}{i}", name), args.concurrency)
    await settle(conns)
    return PacedRoom(wire, conns, name, args.senders, args.samplers)
