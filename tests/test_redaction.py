"""Redaction (IRCv3 draft/message-redaction; the line protocol's /redact): who may delete a
message, what each protocol shows, and that history never gives its text again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_history import T0, SyncPool, SyncReactor, said
from test_irc import IRCClient
from test_irc_caps import CapsTestCase, read, send, untagged
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from chatd.bus.wire import decode, encode_event
from chatd.cluster.history import UNKEEP, SharedHistory
from chatd.core.redaction import is_server_operator
from chatd.frontends.irc import IRCFactory
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import Options
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.web.codec import render_payload
from chatd.history.files import FileHistory, file_name
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import Private, Redacted, to_dict
from chatd.kernel.history import HistoryQuery, private_key

from fakes import Client, World

CAP = "draft/message-redaction"


def history_ids(client: Client, room: str = "lobby") -> dict[str, str]:
    """The text of each 110 line /history gives, by message id."""
    out = {}
    for line in client.send(f"/history {room}"):
        if line.startswith("110 "):
            _, _, message_id, text = line.split(" ", 3)
            out[text] = message_id
    return out


class LineRedactionTests(TestCase):
    def setUp(self) -> None:
        self.history = MemoryHistory(Clock(), Retention(private=True))
        self.world = World(Path(self.mktemp()).absolute().parent,
                           options=Options(ConnectionOptions(replay=5)), history=self.history)

    def account(self, name: str, room: str = "lobby") -> Client:
        client = self.world.connect()
        client.send(f"/signup {name} password-{name}", f"/join {room}")
        return client

    def test_a_sender_redacts_its_message_and_history_forgets_it(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")
        ann.send("oops, a secret", "fine")
        bob.read()
        message_id = history_ids(ann)["[lobby] <ann> oops, a secret"]
        self.assertEqual(ann.send(f"/redact lobby {message_id} wrong room")[-1],
                         f"200 redacted {message_id} in lobby")
        self.assertEqual(bob.read(), [f"116 [lobby] ann redacted {message_id}: wrong room"])
        self.assertNotIn("oops, a secret", " ".join(bob.send("/history lobby")))
        self.assertIn("fine", " ".join(bob.send("/history lobby")))
        # Nor the replay on a later join.
        cat = self.account("cat")
        self.assertEqual(self.world.server.history.find("lobby", message_id), None)  # type: ignore[union-attr]
        self.assertNotIn("oops", " ".join(cat.read()))

    def test_another_member_may_not_redact_but_the_rooms_operator_may(self) -> None:
        ann, bob = self.account("ann"), self.account("bob")  # ann opened lobby: its operator
        bob.send("spam")
        message_id = history_ids(bob)["[lobby] <bob> spam"]
        cat = self.account("cat")
        self.assertEqual(cat.send(f"/redact lobby {message_id}")[-1][:4], "403 ")
        self.assertEqual(ann.send(f"/redact lobby {message_id} cleanup")[-1][:4], "200 ")
        self.assertNotIn("<bob> spam", " ".join(bob.send("/history lobby")))

    def test_unknown_ids_and_rooms_one_is_not_in_are_refused(self) -> None:
        ann = self.account("ann")
        self.account("bob", "kitchen")
        self.assertEqual(ann.send("/redact lobby 01NOSUCHMESSAGE")[-1][:4], "419 ")
        self.assertEqual(ann.send("/redact kitchen 01NOSUCHMESSAGE")[-1][:4], "406 ")
        self.assertEqual(ann.send("/redact lobby")[-1][:4], "400 ")

    def test_a_guests_message_is_only_its_own_sessions_to_redact(self) -> None:
        # A later guest may take the same name: the name alone proves nothing.
        self.account("ann")  # keeps the room (and its history) while gus is away
        gus = self.world.connect()
        gus.send("/nick gus", "/join lobby", "mine")
        message_id = next(iter(history_ids(gus).values()))
        gus.send("/quit")
        gus.drop()
        again = self.world.connect()
        self.assertEqual(again.send("/nick gus")[0][:4], "201 ")
        again.send("/join lobby")
        self.assertEqual(again.send(f"/redact lobby {message_id}")[-1][:4], "403 ")

    def test_nobody_is_a_server_operator_until_operators_land(self) -> None:
        session, _ = self.world.spy("ann")
        self.assertFalse(is_server_operator(session))  # type: ignore[arg-type]

    def test_the_web_page_gets_the_event_with_its_fields(self) -> None:
        event = Redacted("01ID", "ann", room="lobby", why="oops", id="r1", at=T0)
        payload = render_payload(event).decode()
        self.assertIn('"code":116', payload)
        self.assertIn('"message_id":"01ID"', payload)
        self.assertNotIn("room_id", payload)


class StoreTests(TestCase):
    def test_a_redacted_message_leaves_the_file_too(self) -> None:
        directory = Path(self.mktemp())
        clock = Clock()
        clock.advance(T0 + 100)

        def store() -> FileHistory:
            return FileHistory(directory, clock, Retention(), SyncReactor(),  # type: ignore[arg-type]
                               SyncPool(), window=0.2)

        first = store()
        for n in range(3):
            first.room_event("lobby", said(n))
        clock.advance(0.2)
        first.room_event("lobby", Redacted("id1", "ann", room="lobby", id="r", at=T0 + 5))
        clock.advance(0.2)
        self.assertNotIn(b"m1", (directory / file_name("lobby")).read_bytes())
        again = store()
        again.load()
        self.assertEqual([event.id for event in again.query("lobby", HistoryQuery("latest", 9))],
                         ["id0", "id2"])

    def test_a_private_redaction_drops_both_parties_copies(self) -> None:
        store = MemoryHistory(Clock(), Retention(private=True))
        store.user_event("bob", Private("ann", "bob", "psst", "id-ann", "id-bob", id="p1", at=T0))
        store.user_event("bob", Redacted("p1", "ann", sender="ann", recipient="bob",
                                         sender_id="id-ann", recipient_id="id-bob"))
        self.assertIsNone(store.find(private_key("id-ann", "bob"), "p1"))
        self.assertIsNone(store.find(private_key("id-bob", "ann"), "p1"))

    def test_the_event_crosses_the_cluster_bus(self) -> None:
        event = Redacted("01ID", "ann", room="lobby", room_id="r9", why="oops", id="x", at=T0)
        back = decode(encode_event("a", "r", "lobby", event)).event
        self.assertIsInstance(back, Redacted)
        self.assertEqual(to_dict(back), to_dict(event))

    def test_the_shared_history_deletes_the_stream_entry(self) -> None:
        calls: list[tuple[Any, ...]] = []

        class Commands:
            def eval(self, script: str, keys: list[str], args: list[str]) -> Any:
                calls.append((script, keys, args))
                return succeed(None)

        store = SharedHistory(Clock(), Retention())
        store.commands = lambda: Commands()
        store.room_event("lobby", said(0))
        store.room_event("lobby", Redacted("id0", "ann", room="lobby"))
        store.room_event("lobby", Redacted("id0", "ann", room="lobby"))  # nothing left
        self.assertEqual(calls, [(UNKEEP, ["chatd:history:lobby"], ["id0"])])
        self.assertIsNone(store.find("lobby", "id0"))


class IRCRedactionTests(CapsTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.world = World(Path(self.mktemp()).absolute().parent,
                           history=MemoryHistory(self.world.clock, Retention(private=True)))
        self.world.clock.advance(1_764_453_121.5)
        self.factory = IRCFactory(self.world.portal, IRCOptions(), self.world.clock,
                                  self.world.admission, self.world.server.stats)

    def said(self, client: IRCClient, line: str) -> str:
        [(tags, *_)] = send(client, line)
        return tags["msgid"]

    def test_redact_reaches_those_with_the_capability_and_the_sender(self) -> None:
        ann = self.irc("ann", f"echo-message message-tags {CAP}", "#lobby")
        bob = self.irc("bob", f"message-tags {CAP}", "#lobby")
        pat = self.irc("pat", "message-tags", "#lobby")
        read(ann), read(bob)
        msgid = self.said(ann, "PRIVMSG #lobby :Hello everyone")
        read(bob), read(pat)
        redact = [("ann!ann@chatd", "REDACT", ["#lobby", msgid])]
        self.assertEqual(untagged(send(ann, f"REDACT #lobby {msgid}")), redact)
        self.assertEqual(untagged(read(bob)), redact)
        self.assertEqual(read(pat), [])
        send(ann, "CAP REQ :draft/chathistory batch")
        history = untagged(send(ann, "CHATHISTORY LATEST #lobby * 10"))
        self.assertEqual([command for _, command, _ in history], ["BATCH", "BATCH"])

    def test_a_channel_operator_redacts_anyones_with_a_reason(self) -> None:
        ann = self.irc("ann", f"message-tags {CAP}", "#lobby")
        bob = self.irc("bob", f"echo-message message-tags {CAP}", "#lobby")
        read(ann)
        msgid = self.said(bob, "PRIVMSG #lobby :Hi Alice")
        read(ann)
        self.assertEqual(untagged(send(ann, f"REDACT #lobby {msgid} :spam")),
                         [("ann!ann@chatd", "REDACT", ["#lobby", msgid, "spam"])])

    def test_the_fail_codes_of_the_spec(self) -> None:
        ann = self.irc("ann", f"echo-message message-tags {CAP}", "#lobby")
        bob = self.irc("bob", f"message-tags {CAP}", "#lobby")
        read(ann)
        msgid = self.said(ann, "PRIVMSG #lobby :Another message")
        read(bob)
        self.assertEqual(untagged(send(bob, f"REDACT #lobby {msgid}"))[0][1:],
                         ("FAIL", ["REDACT", "REDACT_FORBIDDEN", "#lobby", msgid,
                                   "You are not authorised to delete this message"]))
        self.assertEqual(read(ann), [])
        self.assertEqual(untagged(send(ann, "REDACT #lobby nonexistent123"))[0][2][:4],
                         ["REDACT", "UNKNOWN_MSGID", "#lobby", "nonexistent123"])
        self.assertEqual(untagged(send(ann, "REDACT #elsewhere somemsgid"))[0][2][:3],
                         ["REDACT", "INVALID_TARGET", "#elsewhere"])

    def test_a_private_message_is_redacted_for_both_parties(self) -> None:
        ann = self.account("ann", f"echo-message message-tags {CAP}")
        bob = self.account("bob", f"message-tags {CAP}")
        read(ann)
        msgid = self.said(ann, "PRIVMSG bob :Private message")
        read(bob)
        redact = [("ann!ann@chatd", "REDACT", ["bob", msgid])]
        self.assertEqual(untagged(send(ann, f"REDACT bob {msgid}")), redact)
        self.assertEqual(untagged(read(bob)), redact)
        self.assertEqual(untagged(send(bob, f"REDACT ann {msgid}"))[0][2][:2],
                         ["REDACT", "UNKNOWN_MSGID"])

    def test_the_recipient_may_not_redact_a_private_message(self) -> None:
        ann = self.account("ann", f"echo-message message-tags {CAP}")
        bob = self.account("bob", f"message-tags {CAP}")
        read(ann)
        msgid = self.said(ann, "PRIVMSG bob :mine")
        read(bob)
        self.assertEqual(untagged(send(bob, f"REDACT ann {msgid}"))[0][2][:2],
                         ["REDACT", "REDACT_FORBIDDEN"])
