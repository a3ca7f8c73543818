"""A room's key (IRC ``+k``, the line protocol's ``/lock``): never shown to anyone, and in
force from the moment the command is accepted, while it is still being hashed and saved.

The password is looked for everywhere it could leak: the IRC lines of members and of the
setter, the event itself as it goes onto the bus, and a cluster's Redis payloads.
"""

from __future__ import annotations

from pathlib import Path

from test_cluster_bus import Broker, Node
from test_irc import IRCTestCase, commands, find
from twisted.trial.unittest import SynchronousTestCase

from chatd.frontends.irc import codec
from chatd.kernel.errors import WrongRoomPassword
from chatd.kernel.events import ModeChanged, to_dict


class KeyNeverShownTests(IRCTestCase):
    def test_every_member_and_the_setter_see_the_key_as_a_star(self) -> None:
        ann = self.guest("ann", "#lobby")
        bob = self.guest("bob", "#lobby")
        ann.read()
        bob.read()
        set_by_ann = ann.send("MODE #lobby +k sesame")
        self.assertEqual(set_by_ann, [("ann!ann@chatd", "MODE", ["#lobby", "+k", "*"])])
        self.assertEqual(bob.read(), set_by_ann)
        self.assertEqual(find(bob.send("MODE #lobby"), "324")[2:], ["+nk", "*"])

    def test_a_key_set_with_the_line_protocol_s_lock_is_a_star_on_irc(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create club 10")
        member = self.guest("ann", "#club")
        member.read()
        self.assertEqual(owner.send("/lock club sesame")[-1], "200 room locked")
        self.assertEqual(member.read(), [("owner!owner@chatd", "MODE", ["#club", "+k", "*"])])

    def test_a_changed_key_is_a_star_too_and_the_new_key_opens_the_room(self) -> None:
        ann = self.guest("ann", "#lobby")
        ann.send("MODE #lobby +k first")
        self.assertEqual(ann.send("MODE #lobby +k second"),
                         [("ann!ann@chatd", "MODE", ["#lobby", "+k", "*"])])
        bob = self.guest("bob")
        self.assertEqual(commands(bob.send("JOIN #lobby first")), ["475"])
        self.assertIn("JOIN", commands(bob.send("JOIN #lobby second")))

    def test_a_mode_event_that_carries_a_password_is_still_shown_as_a_star(self) -> None:
        # An event from a node that still puts the password in (a rolling upgrade).
        self.assertEqual(codec.render_event("chatd", ModeChanged("lobby", "ann", "+k", "sesame")),
                         b":ann!ann@chatd MODE #lobby +k *\r\n")

    def test_the_event_on_the_bus_has_no_password(self) -> None:
        session, mind = self.world.spy("ann")
        self.successResultOf(session.join("lobby"))
        self.successResultOf(session.lock("lobby", "sesame"))
        [mode] = [event for event in mind.events if isinstance(event, ModeChanged)]
        self.assertEqual((mode.mode, mode.arg), ("+k", ""))
        self.assertNotIn("sesame", repr(to_dict(mode)))


class KeyAcrossNodesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = Broker()
        self.data: list[str] = []
        publish = self.broker.publish

        def keep(node: Node, channel: str, data: str) -> None:
            self.data.append(data)
            publish(node, channel, data)

        self.broker.publish = keep  # type: ignore[method-assign]
        self.a = Node("a", self.directory(), self.broker)
        self.b = Node("b", self.directory(), self.broker)

    def directory(self) -> Path:
        path = Path(self.mktemp()).absolute()
        path.mkdir(parents=True)
        return path

    def test_the_password_never_goes_onto_the_bus_yet_the_other_node_is_locked(self) -> None:
        ann, _ = self.a.guest("ann")
        bob, bob_sees = self.b.guest("bob")
        self.broker.pump()
        self.successResultOf(ann.join("lobby"))
        self.broker.pump()
        self.successResultOf(bob.join("lobby"))
        self.broker.pump()
        self.successResultOf(ann.lock("lobby", "sesame"))
        self.broker.pump()
        # The fake hasher's "hash" spells the password out; the hash itself may cross.
        self.assertFalse([data for data in self.data
                          if "sesame" in data.replace('"password_hash":"fake$sesame"', "")])
        self.assertEqual(self.b.server.rooms["lobby"].password_hash, "fake$sesame")
        modes = [(e.mode, e.arg) for e in bob_sees.events if isinstance(e, ModeChanged)]
        self.assertEqual(modes, [("+k", "")])


class KeyRaceTests(IRCTestCase):
    """The hash of a new key is held (FakeHasher.hold) to open the window a thread opens."""

    def test_a_join_right_behind_mode_k_waits_for_the_key_and_is_refused(self) -> None:
        ann = self.guest("ann", "#lobby")
        self.world.hasher.hold = True
        ann.send("MODE #lobby +k sesame")
        self.assertIsNone(self.world.server.rooms["lobby"].password_hash)  # still hashing
        bob = self.guest("bob")
        self.assertEqual(bob.send("JOIN #lobby"), [])  # waits for the key
        self.world.hasher.release()
        self.assertEqual(commands(bob.read()), ["475"])
        self.assertNotIn("bob", self.world.server.rooms["lobby"].members)
        self.world.hasher.hold = False
        self.assertIn("JOIN", commands(bob.send("JOIN #lobby sesame")))

    def test_a_join_with_the_right_key_behind_mode_k_gets_in(self) -> None:
        ann = self.guest("ann", "#lobby")
        self.world.hasher.hold = True
        ann.send("MODE #lobby +k sesame")
        bob = self.guest("bob")
        bob.send("JOIN #lobby sesame")
        for _ in range(3):  # the key's hash, then bob's verify
            self.world.hasher.release()
        self.assertIn("JOIN", commands(bob.read()))

    def test_a_join_right_behind_the_line_lock_is_refused(self) -> None:
        spy, _ = self.world.spy("ann")
        self.successResultOf(spy.join("lobby"))
        self.world.hasher.hold = True
        locked = spy.lock("lobby", "sesame")
        bob, _ = self.world.spy("bob")
        joining = bob.join("lobby")
        self.assertNoResult(joining)
        self.world.hasher.release()
        self.successResultOf(locked)
        self.failureResultOf(joining, WrongRoomPassword)
        self.assertNotIn("bob", self.world.server.rooms["lobby"].members)

    def test_the_old_key_does_not_open_a_room_whose_key_is_being_changed(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create club 10 first")
        self.world.hasher.hold = True
        owner.send("/lock club second")
        bob = self.guest("bob")
        self.assertEqual(bob.send("JOIN #club first"), [])
        for _ in range(3):  # the new key's hash, then bob's verify
            self.world.hasher.release()
        self.assertEqual(commands(bob.read()), ["475"])
        self.assertEqual(self.world.server.rooms["club"].password_hash, "fake$second")

    def test_a_join_checked_against_the_old_key_is_checked_again_against_the_new(
            self) -> None:
        owner = self.line_account("owner")
        owner.send("/create club 10 first")
        self.world.hasher.hold = True
        bob = self.guest("bob")
        bob.send("JOIN #club first")  # its verify against the old key is held
        owner.send("/lock club second")
        for _ in range(3):  # bob's verify, the new key's hash, bob's verify again
            self.world.hasher.release()
        self.assertEqual(commands(bob.read()), ["475"])
        self.assertNotIn("bob", self.world.server.rooms["club"].members)

    def test_a_lock_that_fails_lets_the_waiting_join_through_as_before(self) -> None:
        spy, _ = self.world.spy("ann")
        self.successResultOf(spy.join("lobby"))
        self.world.hasher.hold = True
        locked = spy.lock("lobby", "sesame")
        bob, _ = self.world.spy("bob")
        joining = bob.join("lobby")
        [held] = self.world.hasher.held
        self.world.hasher.held = []
        held.errback(RuntimeError("the hashing pool is gone"))
        self.failureResultOf(locked, RuntimeError)
        self.assertEqual(self.successResultOf(joining).name, "lobby")
