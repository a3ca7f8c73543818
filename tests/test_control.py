"""The chat daemon's control socket (chatd.control): chatd-admin's seats and end-seat, both
ends of AMP in memory (twisted.test.iosim) against a real core's seats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.test import iosim
from twisted.trial.unittest import TestCase

from chatd import control
from chatd.core.service import Limits
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.errors import BadText, NoSuchUser
from chatd.members.admin import parse

from fakes import Client, World


class ControlSocket(TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_000)
        self.world = World(Path(self.mktemp()).absolute().parent,
                           Limits(seat_grace=60.0, messages_burst=1_000),
                           history=MemoryHistory(self.clock, Retention()), clock=self.clock)
        self.server_end = control.Control(self.world.server.seats)
        self.client_end = amp.AMP()
        self.pump = iosim.connect(self.server_end, iosim.makeFakeServer(self.server_end),
                                  self.client_end, iosim.makeFakeClient(self.client_end))

    def ask(self, coroutine: Any) -> Any:
        asked = ensureDeferred(coroutine)
        self.pump.flush()
        return asked

    def seated(self, name: str) -> Client:
        client = self.world.connect()
        client.send(f"/signup {name} password1", "/join lobby")
        client.drop()
        return client

    def test_seats_lists_each_held_seat_with_its_end(self) -> None:
        self.assertEqual(self.successResultOf(self.ask(control.held_seats(self.client_end))),
                         [])
        self.seated("alice")
        self.assertEqual(self.successResultOf(self.ask(control.held_seats(self.client_end))),
                         [control.HeldSeat("alice", "lost connection", 1_000.0, 1_060.0)])

    def test_end_seat_ends_it_and_its_rooms_hear_why(self) -> None:
        self.seated("alice")
        bob = self.world.connect()
        bob.send("/nick bob", "/join lobby")
        bob.read()
        self.assertEqual(self.successResultOf(self.ask(
            control.end_seat(self.client_end, "Alice", "cleaning up"))), 1)
        self.assertEqual(bob.read(), ["104 [lobby] alice quit: cleaning up"])
        self.assertEqual(len(self.world.server.seats), 0)

    def test_end_seat_without_a_reason_says_an_administrator_did_it(self) -> None:
        self.seated("alice")
        self.successResultOf(self.ask(control.end_seat(self.client_end, "alice")))
        self.assertNotIn("alice", self.world.server.users)

    def test_a_reason_follows_the_rules_of_a_message(self) -> None:
        self.seated("alice")
        self.failureResultOf(self.ask(control.end_seat(self.client_end, "alice", "bad\x1b[2J")),
                             BadText)
        self.assertEqual(len(self.world.server.seats), 1)

    def test_a_user_without_a_held_seat_is_no_such_user_and_keeps_its_session(self) -> None:
        alice = self.world.connect()
        alice.send("/signup alice password1", "/join lobby")
        failure = self.failureResultOf(self.ask(control.end_seat(self.client_end, "alice")),
                                       NoSuchUser)
        self.assertEqual(failure.getErrorMessage(), "alice holds no seat here")
        self.assertIn("alice", self.world.server.users)

    def test_the_default_endpoint_is_a_private_unix_socket_in_the_data_directory(self) -> None:
        self.assertEqual(control.default_control(Path("/var/lib/chatd")),
                         "unix:/var/lib/chatd/control.sock:mode=600:lockfile=1")
        args = parse(["--data", "/var/lib/chatd", "end-seat", "alice", "--reason", "gone"])
        self.assertEqual((args.command, args.name, args.reason), ("end-seat", "alice", "gone"))
