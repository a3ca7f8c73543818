"""Server operators on every protocol (chatd.core.operators): becoming one, KILL, WALLOPS,
the global notice, closing a room and address bans, on the line protocol and on IRC over
StringTransports sharing one in-memory server; the ban store and its rules on their own."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from test_irc import IRCClient, commands, find
from twisted.trial.unittest import TestCase

from chatd.core.declarations import OperatorSettings
from chatd.frontends.admission import close_banned
from chatd.frontends.irc import IRCFactory, Options
from chatd.kernel.addresses import address_mask, ban_duration, mask_matches
from chatd.kernel.errors import BadSyntax
from chatd.kernel.records import AddressBan
from chatd.storage.bans import FileAddressBans

from fakes import Client, World, keyed_file

# FakeHasher's "hash" of the password "secret".
BOSS = ("boss", "fake$secret")


def codes(lines: list[str]) -> list[str]:
    return [line[:3] for line in lines]


class OperatorTestCase(TestCase):
    def setUp(self) -> None:
        self.path = Path(self.mktemp()).absolute()
        self.path.mkdir(parents=True)
        self.world = World(self.path)
        server = self.world.server
        server.operators.configure(OperatorSettings(accounts=("ann",), blocks=(BOSS,)))
        self.bans = FileAddressBans(keyed_file(self.path / "bans.journal"), self.world.clock)
        self.bans.load()
        server.operators.bans = self.world.admission.bans = self.bans
        self.irc = IRCFactory(self.world.portal, Options(), self.world.clock,
                              self.world.admission, server.stats)
        self.bans.watch(partial(close_banned, [self.world.factory, self.irc]))

    def line(self, name: str, room: str | None = None) -> Client:
        client = self.world.connect()
        self.assertEqual(codes(client.send(f"/nick {name}")), ["201"])
        if room:
            self.assertEqual(client.send(f"/join {room}")[-1][:3], "200")
        return client

    def operator(self, name: str = "boss", room: str | None = None) -> Client:
        client = self.line(name, room)
        self.assertEqual(client.send("/oper boss secret"), ["200 you are a server operator"])
        return client

    def irc_guest(self, nick: str, *channels: str) -> IRCClient:
        client = IRCClient(self.irc)
        lines = client.send(f"NICK {nick}", f"USER {nick} 0 * :Real Name")
        self.assertEqual(find(lines, "001")[0], nick)
        for name in channels:
            self.assertIn("JOIN", commands(client.send(f"JOIN {name}")))
        return client

    def acted(self) -> dict[str, int]:
        return dict(self.world.server.stats.operator_actions)


class BecomingAnOperator(OperatorTestCase):
    def test_an_oper_block_with_its_password(self) -> None:
        client = self.line("zed")
        self.assertEqual(codes(client.send("/oper boss wrong")), ["430"])
        self.assertEqual(codes(client.send("/oper nobody secret")), ["403"])
        self.assertEqual(client.send("/oper boss secret"), ["200 you are a server operator"])
        self.assertTrue(self.world.server.users["zed"].operator)
        self.assertEqual(self.acted(), {"oper": 1, "oper-refused": 2})

    def test_a_listed_account_opers_with_its_own_password_while_logged_in_to_it(self) -> None:
        ann = self.world.connect()
        self.assertEqual(codes(ann.send("/signup ann password1")), ["201"])
        bob = self.line("bob")
        self.assertEqual(codes(bob.send("/oper ann password1")), ["403"])
        self.assertEqual(codes(ann.send("/oper ann wrong-one")), ["430"])
        self.assertEqual(ann.send("/oper ann password1"), ["200 you are a server operator"])

    def test_a_reload_that_drops_the_declaration_ends_the_status(self) -> None:
        client = self.operator()
        self.world.server.operators.configure(OperatorSettings())
        self.assertEqual(codes(client.send("/announce hello")), ["403"])

    def test_the_metrics_count_operator_actions(self) -> None:
        from prometheus_client import CollectorRegistry, generate_latest

        from chatd.metrics import ChatCollector

        client = self.line("zed")
        client.send("/kill zed")
        client.send("/oper boss secret")
        registry = CollectorRegistry()
        registry.register(ChatCollector(self.world.server, {"line": self.world.factory}))
        text = generate_latest(registry).decode()
        self.assertIn('chatd_operator_actions_total{action="oper"} 1.0', text)
        self.assertIn('chatd_operator_actions_total{action="kill-refused"} 1.0', text)

    def test_every_operator_command_is_refused_to_others_and_counted(self) -> None:
        client = self.line("zed", "lobby")
        for line in ("/kill zed", "/wallops hi", "/announce hi", "/kline 10.0.0.1",
                     "/unkline 10.0.0.1", "/klines", "/close lobby"):
            self.assertEqual(codes(client.send(line)), ["403"], line)
        self.assertEqual(self.acted()["kill-refused"], 1)


class LineCommands(OperatorTestCase):
    def test_kill_ends_the_user_and_its_rooms_hear_who_and_why(self) -> None:
        boss = self.operator("boss", "lobby")
        victim = self.line("bob", "lobby")
        boss.read()
        self.assertEqual(boss.send("/kill bob spamming"),
                         ["104 [lobby] bob was killed by boss (spamming)", "200 killed bob"])
        self.assertEqual(victim.read(), ["104 [lobby] bob was killed by boss (spamming)",
                                         "109 Killed by boss: spamming"])
        self.assertTrue(victim.transport.disconnecting)
        self.assertNotIn("bob", self.world.server.users)
        self.assertEqual(codes(boss.send("/kill bob again")), ["405"])

    def test_wallops_reach_operators_and_users_who_asked(self) -> None:
        boss = self.operator()
        other = self.line("zed")
        irc_w = self.irc_guest("wanda")
        irc_w.send("MODE wanda +w")
        irc_plain = self.irc_guest("plain")
        self.assertEqual(boss.send("/wallops server restart at noon"),
                         ["131 boss: server restart at noon", "200 wallops sent"])
        self.assertEqual(other.read(), [])
        self.assertEqual(irc_w.read(), [("boss!boss@chatd", "WALLOPS",
                                         ["server restart at noon"])])
        self.assertEqual(irc_plain.read(), [])

    def test_announce_reaches_everyone_on_every_protocol(self) -> None:
        boss = self.operator()
        other = self.line("zed")
        irc = self.irc_guest("ivy")
        self.assertEqual(boss.send("/announce maintenance in 5 minutes"),
                         ["130 boss: maintenance in 5 minutes", "200 announced to everyone"])
        self.assertEqual(other.read(), ["130 boss: maintenance in 5 minutes"])
        self.assertEqual(irc.read(), [("boss!boss@chatd", "NOTICE",
                                       ["$$*", "maintenance in 5 minutes"])])
        self.assertEqual(self.acted()["announce"], 1)

    def test_close_puts_members_out_and_deletes_a_persistent_room(self) -> None:
        owner = self.world.connect()
        self.assertEqual(codes(owner.send("/signup ann password1")), ["201"])
        self.assertEqual(owner.send("/create den")[-1][:3], "200")
        boss = self.operator()
        self.assertEqual(boss.send("/close den off-topic"), ["200 closed den"])
        self.assertEqual(owner.read(), ["104 [den] ann was removed: the room was closed by "
                                        "boss: off-topic"])
        self.assertNotIn("den", self.world.store.rooms)
        self.assertNotIn("den", self.world.server.rooms)
        self.assertEqual(codes(boss.send("/close den")), ["404"])

    def test_close_ends_a_temporary_room(self) -> None:
        member = self.line("zed", "lobby")
        boss = self.operator()
        self.assertEqual(boss.send("/close lobby"), ["200 closed lobby"])
        self.assertEqual(member.read(), ["104 [lobby] zed was removed: the room was closed by "
                                         "boss"])
        self.assertNotIn("lobby", self.world.server.rooms)


class AddressBans(OperatorTestCase):
    def test_kline_closes_matching_connections_and_refuses_new_ones(self) -> None:
        boss = self.operator()
        bystander = self.line("zed")
        irc = self.irc_guest("ivy")
        # Every fake connection is 192.168.1.1: the operator's own goes too.
        lines = boss.send("/kline 30m 192.168.1.0/24 abuse")
        self.assertIn("109 you are banned from this server (boss): abuse", lines)
        self.assertTrue(bystander.transport.disconnecting)
        self.assertEqual(irc.read()[-1], ("", "ERROR", [
            "Closing link: you are banned from this server (boss): abuse"]))
        refused = self.world.connect()
        self.assertTrue(refused.transport.disconnecting)
        self.assertEqual(self.bans.active()[0].expires, 1800.0)
        self.assertEqual(self.acted()["kline"], 1)

    def test_klines_lists_and_unkline_lifts(self) -> None:
        boss = self.operator()
        self.assertEqual(boss.send("/kline 10.0.0.* flood"),
                         ["200 banned 10.0.0.* never boss: flood"])
        self.assertEqual(boss.send("/klines"),
                         ["260-10.0.0.* never boss: flood", "260 1 address ban"])
        self.assertEqual(boss.send("/unkline 10.0.0.*"), ["200 lifted the ban on 10.0.0.*"])
        self.assertEqual(codes(boss.send("/unkline 10.0.0.*")), ["400"])
        self.assertEqual(boss.send("/klines"), ["260 0 address bans"])
        self.assertEqual(codes(boss.send("/kline *")), ["400"])

    def test_a_ban_expires(self) -> None:
        boss = self.operator()
        boss.send("/kline 1m 10.0.0.1 later")
        self.assertIsNotNone(self.bans.match("10.0.0.1"))
        self.world.clock.advance(61)
        self.assertIsNone(self.bans.match("10.0.0.1"))
        self.assertEqual(boss.send("/klines"), ["260 0 address bans"])


class IRCCommands(OperatorTestCase):
    def test_oper_replies_and_user_modes(self) -> None:
        client = self.irc_guest("ivy")
        self.assertEqual(commands(client.send("OPER boss")), ["461"])
        self.assertEqual(commands(client.send("OPER boss wrong")), ["464"])
        self.assertEqual(commands(client.send("OPER nobody secret")), ["491"])
        lines = client.send("OPER boss secret")
        self.assertEqual(lines[0][1:], ("381", ["ivy", "You are now an IRC operator"]))
        self.assertEqual(lines[1], ("ivy!ivy@chatd", "MODE", ["ivy", "+o"]))
        self.assertEqual(find(client.send("MODE ivy"), "221"), ["ivy", "+io"])
        self.assertEqual(client.send("MODE ivy +w"), [("ivy!ivy@chatd", "MODE", ["ivy", "+w"])])
        self.assertEqual(find(client.send("MODE ivy"), "221"), ["ivy", "+iow"])
        self.assertEqual(client.send("MODE ivy -o"), [("ivy!ivy@chatd", "MODE", ["ivy", "-o"])])
        self.assertEqual(commands(client.send("WALLOPS :hi")), ["481"])

    def test_kill(self) -> None:
        alice = self.irc_guest("alice", "#room")
        bob = self.irc_guest("bob", "#room")
        alice.read()
        self.assertEqual(find(alice.send("KILL bob :no"), "481"),
                         ["alice", "Permission Denied- You're not an IRC operator"])
        alice.send("OPER boss secret")
        self.assertEqual(commands(alice.send("KILL nobody :x")), ["401"])
        self.assertEqual(alice.send("KILL bob :some reason"),
                         [("bob!bob@chatd", "QUIT", ["Killed (alice (some reason))"])])
        self.assertEqual(bob.read()[-1],
                         ("", "ERROR", ["Closing link: Killed by alice: some reason"]))
        self.assertTrue(bob.closed)

    def test_wallops_and_global_notice(self) -> None:
        op = self.irc_guest("op")
        op.send("OPER boss secret")
        line_user = self.line("zed")
        self.assertEqual(op.send("WALLOPS :hi everyone"),
                         [("op!op@chatd", "WALLOPS", ["hi everyone"])])
        self.assertEqual(op.send("NOTICE $$* :going down"),
                         [("op!op@chatd", "NOTICE", ["$$*", "going down"])])
        self.assertEqual(line_user.read(), ["130 op: going down"])
        other = self.irc_guest("plain")
        self.assertEqual(commands(other.send("PRIVMSG $$* :me too")), ["481"])

    def test_kline_list_unkline_and_close(self) -> None:
        op = self.irc_guest("op")
        op.send("OPER boss secret")
        member = self.irc_guest("mem", "#den")
        lines = op.send("KLINE 10 *@10.1.2.3 :go away")
        self.assertEqual(lines[0][1], "NOTICE")
        self.assertIn("K-line 10.1.2.3", lines[0][2][1])
        self.assertEqual(self.bans.active()[0].expires, 600.0)
        listed = op.send("KLINE LIST")
        self.assertEqual(len(listed), 2)
        self.assertEqual(op.send("UNKLINE 10.1.2.3")[0][2][1], "Removed K-line 10.1.2.3")
        op.send("CLOSE #den :done")
        self.assertEqual(member.read(), [("op!op@chatd", "KICK",
                                          ["#den", "mem", "channel closed: done"])])


class BanStore(TestCase):
    def test_bans_survive_a_restart_and_expired_ones_go(self) -> None:
        path = Path(self.mktemp()).absolute()
        path.mkdir()
        from twisted.internet.task import Clock

        clock = Clock()
        clock.advance(1000)
        bans = FileAddressBans(keyed_file(path / "bans.journal"), clock)
        bans.load()
        bans.add(AddressBan("10.0.0.0/8", "abuse", "boss", 1000.0))
        bans.add(AddressBan("192.0.2.*", "flood", "boss", 1001.0, expires=1100.0))
        again = FileAddressBans(keyed_file(path / "bans.journal"), clock)
        again.load()
        self.assertEqual([ban.mask for ban in again.active()], ["10.0.0.0/8", "192.0.2.*"])
        self.assertEqual(again.match("10.9.8.7").reason, "abuse")  # type: ignore[union-attr]
        self.assertEqual(again.match("192.0.2.44").reason, "flood")  # type: ignore[union-attr]
        self.assertIsNone(again.match("192.0.3.1"))
        clock.advance(200)
        self.assertIsNone(again.match("192.0.2.44"))
        third = FileAddressBans(keyed_file(path / "bans.journal"), clock)
        third.load()
        self.assertEqual([ban.mask for ban in third.active()], ["10.0.0.0/8"])

    def test_masks(self) -> None:
        self.assertEqual(address_mask("*@192.0.2.7"), "192.0.2.7")
        self.assertEqual(address_mask("2001:DB8::1/64"), "2001:db8::/64")
        for bad in ("", "*", "*.*", "host.example.com", "1.2.3.4/99"):
            self.assertRaises(BadSyntax, address_mask, bad)
        self.assertTrue(mask_matches("192.0.2.*", "192.0.2.9"))
        self.assertFalse(mask_matches("10.0.0.0/8", "/run/chatd.sock"))

    def test_durations(self) -> None:
        self.assertEqual(ban_duration("30"), 1800.0)
        self.assertEqual(ban_duration("45s"), 45.0)
        self.assertEqual(ban_duration("2h"), 7200.0)
        self.assertEqual(ban_duration("0"), 0.0)
        self.assertIsNone(ban_duration("10.0.0.1"))
        self.assertIsNone(ban_duration("3x"))


class Settings(TestCase):
    def test_oper_blocks_from_toml_and_the_command_line(self) -> None:
        from chatd.config import KEYS, load
        from chatd.kernel.settings import ConfigError

        hashed = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$ZGlnZXN0"
        config = Path(self.mktemp())
        config.write_text(f'operators = ["ann"]\n[[oper]]\nname = "boss"\nhash = "{hashed}"\n')
        settings = load(KEYS, {"oper": [f"root2:{hashed}"]}, config)
        self.assertEqual(settings.oper, (("root2", hashed),))
        self.assertEqual(load(KEYS, {}, config).oper, (("boss", hashed),))
        self.assertEqual(load(KEYS, {}, config).operators, ("ann",))
        self.assertRaises(ConfigError, load, KEYS, {"oper": ["boss:plainpassword"]}, None)
        self.assertRaises(ConfigError, load, KEYS, {"oper": [f"a:{hashed}", f"a:{hashed}"]},
                          None)

    def test_chatd_admin_oper_hash_makes_a_hash_that_verifies(self) -> None:
        from argon2 import PasswordHasher

        from chatd.members.admin import oper_hash
        from chatd.members.passwords import HashParameters

        hashed = oper_hash("operpassword", HashParameters(1, 8, 1))
        self.assertTrue(hashed.startswith("$argon2id$"))
        self.assertTrue(PasswordHasher().verify(hashed, "operpassword"))
