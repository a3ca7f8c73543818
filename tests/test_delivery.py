"""Delivery's write groups: what a room message reaches, as members come and go."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from chatd.delivery import Delivery
from chatd.kernel.events import Event, Joined, LeaveReason, Left, Said
from chatd.kernel.interfaces import IChatMind


def render(event: Event) -> bytes:
    return repr(event).encode()


@implementer(IChatMind)
class WireMind:
    """A session with a wire format: room messages arrive as bytes through ``write``."""

    render = staticmethod(render)
    seat = None
    attached = None

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.written: list[bytes] = []
        self.events: list[Event] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def deliver(self, event: Event) -> None:
        self.events.append(event)


class CountingDelivery(Delivery):
    """Counts how often a room's groups are built from scratch."""

    builds = 0

    def _build(self, *args: object) -> object:  # type: ignore[override]
        self.builds += 1
        return super()._build(*args)  # type: ignore[arg-type]


class JoinsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.delivery = CountingDelivery()

    def member(self, name: str, echo: bool = False) -> WireMind:
        mind = WireMind(echo)
        self.delivery.attach(name, f"s-{name}", mind)
        self.delivery.room_event("lobby", Joined("lobby", name))
        return mind

    def test_filling_a_room_builds_its_groups_once(self) -> None:
        minds = [self.member(f"u{i}", echo=i % 2 == 0) for i in range(50)]
        self.assertEqual(self.delivery.builds, 1)
        self.delivery.room_event("lobby", Said("lobby", "u1", "hi", origin="s-u1"))
        # Every member but the sender, whose protocol does not echo, has it, once.
        for index, mind in enumerate(minds):
            self.assertEqual(len(mind.written), 0 if index == 1 else 1, index)
        # Each member heard the joins after its own.
        self.assertEqual([len(mind.events) for mind in minds], list(range(50, 0, -1)))

    def test_a_leaver_gets_no_more_and_a_newcomer_does(self) -> None:
        ann, bob = self.member("ann"), self.member("bob")
        self.delivery.room_event("lobby", Left("lobby", "bob", LeaveReason.LEFT))
        cid = self.member("cid", echo=True)
        self.delivery.room_event("lobby", Said("lobby", "cid", "x", origin="s-cid"))
        self.assertEqual((len(ann.written), len(bob.written), len(cid.written)), (1, 0, 1))
