"""Room moderation on both protocols: operators, voice, kick, bans, invite-only, topic lock,
moderated rooms, and a guest's change of name; bans and flags kept with a persistent room."""

from __future__ import annotations

from pathlib import Path

from twisted.trial.unittest import TestCase

from chatd.config import KEYS, load
from chatd.core.service import Limits
from chatd.frontends.irc import IRCFactory, Options
from chatd.frontends.irc.options import default_server_name
from chatd.kernel.errors import Banned
from chatd.kernel.records import RoomRecord
from chatd.kernel.settings import ConfigError
from chatd.storage.rooms import FileRoomStore, room_problem

from fakes import World, keyed_file
from tests.test_irc import IRCTestCase, commands, find
from tests.test_line import LineTestCase, codes


class LineModeration(LineTestCase):
    def test_the_first_member_of_a_temporary_room_is_its_operator_and_can_op_others(self) -> None:
        ann, bob = self.guest("ann", "lobby"), self.guest("bob", "lobby")
        ann.read()
        self.assertEqual(codes(bob.send("/op bob")), ["403"])
        self.assertEqual(ann.send("/op bob"),
                         ["106 [lobby] ann: made bob an operator", "200 bob is an operator"])
        self.assertEqual(bob.read(), ["106 [lobby] ann: made bob an operator"])
        self.assertEqual(bob.send("/who"), ["211-@ann @bob", "211 2 members in lobby"])
        self.assertEqual(codes(bob.send("/deop ann")), ["106", "200"])
        ann.read()
        self.assertEqual(codes(ann.send("/op ann")), ["403"])

    def test_an_operator_status_ends_when_its_member_leaves(self) -> None:
        ann = self.guest("ann", "lobby")
        self.guest("bob", "lobby")
        ann.send("/leave", "/join lobby")
        self.assertEqual(codes(ann.send("/op bob")), ["403"])

    def test_kick_tells_the_room_the_reason(self) -> None:
        ann, bob = self.guest("ann", "lobby"), self.guest("bob", "lobby")
        cy = self.guest("cy", "lobby")
        ann.read(), bob.read()
        self.assertEqual(ann.send("/kick bob spamming links"), [
            "104 [lobby] bob was kicked by ann: spamming links", "200 kicked bob"])
        self.assertEqual(bob.read(), ["104 [lobby] bob was kicked by ann: spamming links"])
        self.assertEqual(cy.read()[-1], "104 [lobby] bob was kicked by ann: spamming links")
        self.assertNotIn("bob", self.world.server.rooms["lobby"].members)
        self.assertEqual(codes(cy.send("/kick ann")), ["403"])
        self.assertEqual(codes(ann.send("/kick nobody")), ["405"])

    def test_a_banned_name_or_mask_can_not_join(self) -> None:
        ann = self.guest("ann", "lobby")
        self.assertEqual(codes(ann.send("/ban bob")), ["106", "200"])
        self.assertEqual(codes(ann.send("/ban sp*m?")), ["106", "200"])
        self.assertEqual(ann.send("/bans"), ["213-bob", "213-sp*m?", "213 2 bans in lobby"])
        self.assertEqual(codes(self.guest("BOB").send("/join lobby")), ["436"])
        self.assertEqual(codes(self.guest("spammy").send("/join lobby")), ["436"])
        self.assertEqual(codes(self.guest("spa").send("/join lobby"))[-1], "200")
        ann.read()
        self.assertEqual(codes(ann.send("/unban bob")), ["106", "200"])
        self.assertEqual(ann.send("/bans"), ["213-sp*m?", "213 1 ban in lobby"])

    def test_invite_only_lets_in_the_invited_once(self) -> None:
        ann = self.guest("ann", "lobby")
        bob = self.guest("bob")
        self.assertEqual(ann.send("/mode +i"),
                         ["106 [lobby] ann: made the room invite-only", "200 lobby modes: +in"])
        self.assertEqual(codes(bob.send("/join lobby")), ["437"])
        self.assertEqual(ann.send("/invite bob"), ["200 invited bob"])
        self.assertEqual(bob.read(), ["113 [lobby] ann invites you; /join lobby"])
        self.assertEqual(codes(bob.send("/join lobby"))[-1], "200")
        ann.read()
        self.assertEqual(codes(ann.send("/invite bob")), ["438"])
        self.assertEqual(codes(bob.send("/invite ann")), ["403"])  # +i: operators invite

    def test_topic_lock_and_moderation(self) -> None:
        ann, bob = self.guest("ann", "lobby"), self.guest("bob", "lobby")
        self.assertEqual(codes(bob.send("/topic lobby mine")), ["105", "200"])
        ann.send("/mode +tm")
        bob.read()
        self.assertEqual(codes(bob.send("/topic lobby mine again")), ["403"])
        self.assertEqual(codes(bob.send("hello")), ["403"])
        ann.send("/voice bob")
        bob.read()
        self.assertEqual(bob.send("hello"), ["101 [lobby] <bob> hello"])
        ann.read()
        self.assertEqual(codes(bob.send("/mode -m")), ["403"])
        self.assertEqual(ann.send("/mode"), ["200 lobby modes: +mnt"])
        self.assertEqual(codes(ann.send("/mode +x")), ["400"])

    def test_moderation_acts_on_the_current_room(self) -> None:
        self.assertEqual(codes(self.guest("ann").send("/kick bob")), ["406"])

    def test_a_persistent_rooms_bans_and_flags_are_stored_and_its_owner_never_shut_out(
            self) -> None:
        owner = self.account("owner")
        owner.send("/create club 10")
        self.assertEqual(codes(owner.send("/ban own*")), ["106", "200"])
        owner.send("/mode +i")
        record = self.world.store.rooms["club"]
        self.assertEqual((record.bans, record.modes), (("own*",), "int"))
        owner.send("/leave club")
        self.assertEqual(codes(owner.send("/join club"))[-1], "200")

    def test_accounts_keep_their_name(self) -> None:
        self.assertEqual(codes(self.account("acct").send("/nick other")), ["403"])


class StoredModeration(TestCase):
    def test_bans_and_modes_round_trip_and_old_records_are_topic_locked(self) -> None:
        path = Path(self.mktemp())
        path.mkdir()
        store = FileRoomStore(keyed_file(path / "rooms.journal"))
        store.load()
        record = RoomRecord("club", "club", "ann", 10, None, "", "id1", ("b*",), "imt")
        self.successResultOf(store.create(record))
        self.assertEqual(FileRoomStore(keyed_file(path / "rooms.journal")).load(), [record])
        old = {"name": "den", "owner": "ann", "limit": 5}
        self.assertIsNone(room_problem(old))
        self.assertIn("bans", room_problem({**old, "bans": [5]}) or "")

    def test_a_loaded_room_keeps_its_bans(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent, Limits(messages_burst=10**6))
        world.store.rooms["club"] = RoomRecord("club", "club", "ann", 10, None, "", "x",
                                               ("bob",), "t")
        world.server.load_rooms()
        bob, _ = world.spy("bob")
        self.assertRaises(Banned, bob.join, "club")


class IRCModeration(IRCTestCase):
    def test_mode_o_v_echoed_to_the_channel_with_prefixes_in_names(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob", "#a")
        ann.read()
        self.assertEqual(ann.send("MODE #a +o bob"),
                         [("ann!ann@chatd", "MODE", ["#a", "+o", "bob"])])
        self.assertEqual(bob.read(), [("ann!ann@chatd", "MODE", ["#a", "+o", "bob"])])
        ann.send("MODE #a +v bob")
        self.assertEqual(find(ann.send("NAMES #a"), "353")[3], "@ann @bob")
        ann.send("CAP REQ multi-prefix")
        self.assertEqual(find(ann.send("NAMES #a"), "353")[3], "@ann @+bob")
        self.assertEqual(find(ann.send("MODE #a +o nobody"), "401")[1], "nobody")
        self.guest("cy")
        self.assertEqual(find(ann.send("MODE #a +o cy"), "441")[1:3], ["cy", "#a"])

    def test_kick_with_a_reason_and_482_for_non_operators(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob", "#a")
        ann.read()
        self.assertEqual(find(bob.send("KICK #a ann :no"), "482")[1], "#a")
        self.assertEqual(ann.send("KICK #a bob :bye now"),
                         [("ann!ann@chatd", "KICK", ["#a", "bob", "bye now"])])
        self.assertEqual(bob.read(), [("ann!ann@chatd", "KICK", ["#a", "bob", "bye now"])])
        self.assertEqual(find(ann.send("KICK #a bob"), "441")[1:3], ["bob", "#a"])

    def test_bans_listed_with_367_368_and_474_on_join(self) -> None:
        ann = self.guest("ann", "#a")
        self.assertEqual(ann.send("MODE #a +b bob!*@*"),
                         [("ann!ann@chatd", "MODE", ["#a", "+b", "bob!*@*"])])
        lines = ann.send("MODE #a +b")
        self.assertEqual(commands(lines), ["367", "368"])
        self.assertEqual(lines[0][2][1:3], ["#a", "bob!*@*"])
        self.assertEqual(find(self.guest("bob").send("JOIN #a"), "474")[1:],
                         ["#a", "Cannot join channel (+b)"])
        self.assertEqual(find(ann.send("MODE #a +b *!*@1.2.3.4"), "696")[1:3], ["#a", "b"])
        ann.send("MODE #a -b bob!*@*")
        self.assertEqual(commands(ann.send("MODE #a b")), ["368"])

    def test_invite_only_and_invite(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob")
        ann.send("MODE #a +i")
        self.assertEqual(find(bob.send("JOIN #a"), "473")[1:],
                         ["#a", "Cannot join channel (+i)"])
        self.assertEqual(ann.send("INVITE bob #a"), [("chatd", "341", ["ann", "bob", "#a"])])
        self.assertEqual(bob.read(), [("ann!ann@chatd", "INVITE", ["bob", "#a"])])
        self.assertIn("JOIN", commands(bob.send("JOIN #a")))
        self.assertEqual(find(ann.send("INVITE bob #a"), "443")[1:3], ["bob", "#a"])
        self.assertEqual(find(ann.send("MODE #a"), "324")[2], "+in")

    def test_topic_lock_moderated_key_and_limit(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob", "#a")
        ann.send("MODE #a +tm")
        self.assertEqual(find(bob.send("TOPIC #a :x"), "482")[1], "#a")
        self.assertEqual(find(bob.send("PRIVMSG #a :hi"), "404")[1], "#a")
        ann.send("MODE #a +v bob")
        bob.read()
        self.assertEqual(bob.send("PRIVMSG #a :hi"), [])
        self.assertEqual(find(ann.send("MODE #a +l 0"), "696")[1:3], ["#a", "l"])
        self.assertEqual(find(ann.send("MODE #a +l"), "461")[1], "MODE")
        self.assertIn(("ann!ann@chatd", "MODE", ["#a", "+k", "*"]),
                      ann.send("MODE #a +k sesame"))
        self.assertEqual(find(self.guest("cy").send("JOIN #a"), "475")[1], "#a")


class IRCNicks(IRCTestCase):
    def test_a_guest_changes_nick_and_everyone_sharing_a_channel_sees_it(self) -> None:
        ann, bob = self.guest("ann", "#a"), self.guest("bob", "#a")
        line = self.line_guest("cy", "a")
        ann.read(), bob.read()
        self.assertEqual(ann.send("NICK anna"), [("ann!ann@chatd", "NICK", ["anna"])])
        self.assertEqual(bob.read(), [("ann!ann@chatd", "NICK", ["anna"])])
        self.assertEqual(line.read(), ["114 ann is now called anna"])
        self.assertEqual(find(ann.send("PING x"), "PONG")[1], "x")
        self.assertEqual(find(bob.send("NAMES #a"), "353")[3], "@anna bob cy")
        ann.send("PRIVMSG #a :still here")
        self.assertEqual(bob.read(), [("anna!anna@chatd", "PRIVMSG", ["#a", "still here"])])
        self.assertEqual(find(ann.send("NICK bob"), "433")[1], "bob")
        self.assertEqual(find(ann.send("NICK b:b"), "432")[1], "b:b")

    def test_an_account_keeps_its_nick(self) -> None:
        self.line_account("acct").drop()
        client = self.connect()
        client.send("PASS password1", "NICK acct", "USER x 0 * :x")
        self.assertEqual(commands(client.send("NICK other")), ["902"])

    def test_user_with_an_empty_real_name_is_461(self) -> None:
        client = self.connect()
        self.assertEqual(find(client.send("NICK ann", "USER ann 0 * :"), "461")[1], "USER")
        self.assertIn("001", commands(client.send("USER ann 0 * :Ann \xe9")))
        self.assertEqual(find(client.send("WHOIS ann"), "311")[5], "Ann \xe9")


class ServerNameAndPasswords(IRCTestCase):
    def test_the_server_name_prefixes_server_lines_welcome_and_pong(self) -> None:
        self.factory = IRCFactory(self.world.portal, Options(server_name="irc.example.org"),
                                  self.world.clock, self.world.admission,
                                  self.world.server.stats)
        client = self.connect()
        lines = client.send("NICK ann", "USER ann 0 * :Ann")
        self.assertEqual({prefix for prefix, cmd, _ in lines if cmd.isdigit()},
                         {"irc.example.org"})
        self.assertEqual(find(lines, "004")[1], "irc.example.org")
        self.assertIn("irc.example.org", find(lines, "001")[-1])
        self.assertEqual(client.send("PING t"),
                         [("irc.example.org", "PONG", ["irc.example.org", "t"])])

    def test_two_irc_frontends_each_keep_their_own_server_name(self) -> None:
        first = self.connect()
        self.factory = IRCFactory(self.world.portal, Options(server_name="irc.example.org"),
                                  self.world.clock, self.world.admission,
                                  self.world.server.stats)
        second = self.connect()
        self.assertEqual(first.send("PING t"), [("chatd", "PONG", ["chatd", "t"])])
        self.assertEqual(second.send("PING t"),
                         [("irc.example.org", "PONG", ["irc.example.org", "t"])])

    def test_the_setting_defaults_to_a_dotted_host_name_or_chatd_local(self) -> None:
        name = default_server_name()
        self.assertTrue(name == "chatd.local" or "." in name, name)
        self.assertEqual(load(KEYS, {"server-name": "irc.example.org"}, None).server_name,
                         "irc.example.org")
        self.assertRaises(ConfigError, load, KEYS, {"server-name": "bad name"}, None)

    def test_min_password_length_is_a_setting(self) -> None:
        self.assertEqual(load(KEYS, {"min-password-length": "4"}, None).min_password_length,
                         4)
        self.world.directory.min_password = 4
        self.assertEqual(self.world.connect().send("/signup shorty abcd")[0][:3], "201")
        self.world.directory.min_password = 8
        self.assertEqual(self.world.connect().send("/signup shorter abcdefg")[0][:3], "411")
