#!/usr/bin/env python3
"""What a held seat costs in memory (chatd.core.seats), by allocation site.

Builds the core in this process (in-memory history and rooms, delivery, a fake clock: no
sockets), logs ``--users`` accounts in, each into ``--rooms`` rooms of a shared set, then
measures, with ``tracemalloc``, the Python heap's growth while every one of their sessions
drops and keeps its seat (the seat's record, its marks, its timer; the user and its
memberships were there before and stay). Prints bytes per seat and the sites that hold them:

    PYTHONPATH=. python bench/seatmem.py --users 5000 --rooms 3

tracemalloc makes everything slow: never read CPU here.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from twisted.internet.defer import succeed
from twisted.internet.task import Clock

from chatd.bus.local import LocalBus
from chatd.core.service import ChatServer, Limits
from chatd.delivery import Delivery
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import LeaveReason


class _Directory:
    """The accounts are not looked at: the sessions are made as if logged in."""

    def watch(self, ended: object) -> None:
        pass


class _Rooms:
    """No persistent rooms: the bench opens temporary ones."""

    def load(self) -> list[object]:
        return []

    def create(self, record: object) -> object:
        return succeed(None)

    save = create

    def delete(self, key: str) -> object:
        return succeed(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--rooms", type=int, default=3, help="rooms each user is in")
    args = parser.parse_args()
    clock = Clock()
    clock.advance(1_765_000_000)
    bus, delivery = LocalBus(), Delivery()
    history = MemoryHistory(clock, Retention(count=100))
    bus.listen(delivery)
    bus.listen(history)
    directory = _Directory()
    limits = Limits(max_users=10**7, max_rooms_per_user=100, default_room_limit=10**7,
                    messages_burst=10**9, seat_grace=900)
    server = ChatServer(_Rooms(), None, directory, limits, clock, bus,  # type: ignore[arg-type]
                        history=history)
    rooms = [f"room{n}" for n in range(max(10, args.rooms))]
    sessions = []
    for n in range(args.users):
        session = server.connect(f"user{n}", False, account_id=f"{n:016x}")
        for k in range(args.rooms):
            session.join(rooms[(n + k) % len(rooms)])
        sessions.append(session)
    for room in rooms[:args.rooms]:  # something kept in each room, so each mark is an id
        sessions[0].say("hello", room)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    for session in sessions:
        session.quit(LeaveReason.LOST)
        delivery.detach(session.key, session.id)
    del session
    sessions.clear()  # the sessions themselves go: what stays is the seat
    gc.collect()
    after = tracemalloc.take_snapshot()
    assert len(server.seats) == args.users
    stats = after.compare_to(before, "lineno")
    # What the seats hold, not counting the log lines buffered for want of an observer (a
    # daemon writes them out). What the ended sessions give back was allocated before
    # tracing began, so it does not show here.
    held = [stat for stat in stats if stat.size_diff > 0
            and "twisted/logger" not in str(stat.traceback)]
    grown = sum(stat.size_diff for stat in held)
    print(f"{args.users} seats, {args.rooms} rooms each: {grown / args.users:,.0f} bytes "
          "per seat held")
    stats = held
    for stat in stats[:8]:
        if stat.size_diff > 0:
            print(f"  {stat.size_diff / args.users:8,.0f} B/seat  {stat.traceback}")


if __name__ == "__main__":
    main()
