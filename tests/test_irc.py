"""The IRC frontend, sans-IO: the codec alone, then the protocol over a StringTransport with a
fake clock, sharing one in-memory chat server with line-protocol clients.

Server lines are parsed with Twisted's own ``irc.parsemsg``, not with our codec, so a codec
bug can't hide by agreeing with itself.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase
from twisted.words.protocols.irc import parsemsg

from chatd.core.service import Limits
from chatd.frontends.irc import IRCFactory, IRCProtocol, Options, codec, who
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.rendering import render_event as render_line
from chatd.kernel import errors
from chatd.kernel.events import (
    AwayChanged,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    Notice,
    Private,
    Said,
    TopicSet,
)
from chatd.kernel.views import MemberView

from fakes import Client, World

Line = tuple[str, str, list[str]]


def parse(raw: str) -> Line:
    prefix, command, params = parsemsg(raw)
    return prefix, command, params


def plain(account: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()


class ParseTests(TestCase):
    def test_command_and_trailing(self) -> None:
        self.assertEqual(codec.parse_message("privmsg #a :hello there"),
                         codec.Message("PRIVMSG", ("#a", "hello there")))

    def test_tags_are_kept_unescaped_and_the_prefix_read_past(self) -> None:
        self.assertEqual(codec.parse_message(r"@label=1;x;+r=a\:b\sc :ann!a@h JOIN #a,#b k1"),
                         codec.Message("JOIN", ("#a,#b", "k1"),
                                       {"label": "1", "x": "", "+r": "a;b c"}))

    def test_empty_trailing_and_extra_spaces(self) -> None:
        self.assertEqual(codec.parse_message("TOPIC  #a   :"),
                         codec.Message("TOPIC", ("#a", "")))

    def test_blank_is_nothing(self) -> None:
        self.assertIsNone(codec.parse_message("   "))
        self.assertIsNone(codec.parse_message(":prefix-only"))

    def test_utf8_only(self) -> None:
        self.assertEqual(codec.decode_line("é".encode()), "é")
        self.assertIsNone(codec.decode_line(b"caf\xe9"))

    def test_line_limits_count_body_and_tags_apart(self) -> None:
        self.assertFalse(codec.too_long(b"@" + b"t" * 600 + b" PING x"))
        self.assertTrue(codec.too_long(b"PING " + b"x" * 506))
        self.assertFalse(codec.too_long(b"PING " + b"x" * 505))
        # IRCv3 message-tags: 4096 bytes of tags at most, "@" and the space included.
        self.assertFalse(codec.too_long(b"@" + b"t" * 4094 + b" PING x"))
        self.assertTrue(codec.too_long(b"@" + b"t" * 4095 + b" PING x"))

    def test_sasl_plain(self) -> None:
        self.assertEqual(codec.sasl_plain(plain("ann", "pw")), ("ann", "pw"))
        self.assertEqual(codec.sasl_plain(plain("ann", "pw", "ann")), ("ann", "pw"))
        self.assertIsNone(codec.sasl_plain(plain("ann", "pw", "bob")))
        self.assertIsNone(codec.sasl_plain("not base64!"))

    def test_action_and_formatting(self) -> None:
        self.assertEqual(codec.incoming_text("\x01ACTION waves\x01"), ("waves", True))
        self.assertEqual(codec.incoming_text("\x02bold\x02 \x0304,05red\x03"),
                         ("bold red", False))

    def test_every_formatting_code_is_stripped(self) -> None:
        # Italics, strikethrough, monospace, hex colour, reverse, reset, underline.
        text = ("\x1ditalic\x1d \x1estrike\x1e \x11mono\x11 \x04FF0000,00ff00hex\x04 "
                "\x16rev\x0f \x1fund\x1f \x0312,4col\x03 \x04plain")
        self.assertEqual(codec.incoming_text(text),
                         ("italic strike mono hex rev und col plain", False))

    def test_parameters_split_on_ascii_spaces_only(self) -> None:
        self.assertEqual(codec.parse_message("JOIN #r\rx key\u00a0two"),
                         codec.Message("JOIN", ("#r\rx", "key\u00a0two")))


class FormatTests(TestCase):
    def test_trailing_colon_only_when_needed(self) -> None:
        self.assertEqual(codec.message("s", "JOIN", "#a"), b":s JOIN #a\r\n")
        self.assertEqual(codec.message("s", "TOPIC", "#a", ""), b":s TOPIC #a :\r\n")
        self.assertEqual(codec.message("s", "X", "a b"), b":s X :a b\r\n")
        self.assertEqual(codec.message("", "X", ":)"), b"X ::)\r\n")

    def test_lines_never_exceed_512_bytes_nor_split_characters(self) -> None:
        line = codec.message("s", "NOTICE", "*", "é" * 400)
        self.assertLessEqual(len(line), 512)
        line.decode("utf-8")

    def test_a_long_message_is_one_privmsg_cut_on_a_character_boundary(self) -> None:
        text = "ü" * 1000
        data = codec.render_event("chatd", Said("lobby", "ann", text, action=True))
        lines = data.split(b"\r\n")[:-1]
        self.assertEqual(len(lines), 1)
        self.assertLessEqual(len(lines[0]) + 2, 512)
        said = parse(lines[0].decode())[2][1]
        self.assertTrue(said.startswith("\x01ACTION ü") and said.endswith("ü\x01"), said)
        self.assertTrue(text.startswith(said.removeprefix("\x01ACTION ").removesuffix("\x01")))

    def test_events(self) -> None:
        render = codec.plain_renderer("chatd")
        self.assertEqual(render(Said("lobby", "ann", "hi")),
                         b":ann!ann@chatd PRIVMSG #lobby :hi\r\n")
        self.assertEqual(render(Said("lobby", "ann", "waves", True)),
                         b":ann!ann@chatd PRIVMSG #lobby :\x01ACTION waves\x01\r\n")
        self.assertEqual(render(Private("ann", "bob", "psst there")),
                         b":ann!ann@chatd PRIVMSG bob :psst there\r\n")
        self.assertEqual(render(Joined("lobby", "ann")), b":ann!ann@chatd JOIN #lobby\r\n")
        self.assertEqual(render(Left("lobby", "ann", LeaveReason.LEFT)),
                         b":ann!ann@chatd PART #lobby\r\n")
        self.assertEqual(render(Left("lobby", "ann", LeaveReason.QUIT, "bye now")),
                         b":ann!ann@chatd QUIT :Quit: bye now\r\n")
        self.assertEqual(render(Left("lobby", "ann", LeaveReason.TIMEOUT)),
                         b":ann!ann@chatd QUIT :Ping timeout\r\n")
        self.assertEqual(render(Left("lobby", "ann", LeaveReason.DELETED)),
                         b":chatd KICK #lobby ann :the room was deleted\r\n")
        self.assertEqual(render(TopicSet("lobby", "ann", "new topic")),
                         b":ann!ann@chatd TOPIC #lobby :new topic\r\n")
        self.assertEqual(render(ModeChanged("lobby", "ann", "-k")),
                         b":ann!ann@chatd MODE #lobby -k\r\n")
        self.assertEqual(render(AwayChanged("ann", "lunch")), b":ann!ann@chatd AWAY lunch\r\n")
        self.assertEqual(render(AwayChanged("ann")), b":ann!ann@chatd AWAY\r\n")
        self.assertEqual(render(Notice("restarting")), b":chatd NOTICE * restarting\r\n")
        for reason in LeaveReason:
            self.assertTrue(render(Left("lobby", "ann", reason)).endswith(b"\r\n"))

    def test_fixed_numerics_are_what_numeric_makes_for_any_client(self) -> None:
        short = (("002", ("Your host is s, running v",)),
                 ("004", ("s", ":v", "a b", "c\x01d\x03", "x" * 100, "last")),
                 ("372", ("- " + "é" * 200,)), ("372", (":lead",)), ("422", ("",)))
        cut = ("372", ("- " + "é" * 300,))  # too long for any name: cut to 512 bytes
        for fixed in (short[:1], short, (*short, cut)):
            for server in ("s", "irc.example.org", ""):
                lines = codec.Numerics(server, *fixed)
                for client in ("ann", "*", "Ünï", "a b", ":x", "y" * 80, "\x01c\x02", "",
                               "z" * 60):
                    self.assertEqual(lines.to(client),
                                     b"".join(codec.message(server, code, client, *params)
                                              for code, params in fixed), (server, client))

    def test_names_are_split_within_512_bytes(self) -> None:
        names = [f"user{i:04d}" for i in range(200)]
        data = codec.name_lines("chatd", "me", "#big", names)
        lines = [parse(line.decode()) for line in data.split(b"\r\n")[:-1]]
        self.assertGreater(len(lines), 2)
        self.assertTrue(all(len(line) + 2 <= 512 for line in data.split(b"\r\n")[:-1]))
        listed = [n for _, cmd, params in lines if cmd == "353" for n in params[3].split()]
        self.assertEqual(listed, names)
        self.assertEqual(lines[-1][1:], ("366", ["me", "#big", "End of /NAMES list"]))


class IRCClient:
    """One IRC connection over a StringTransport; lines parsed with Twisted's parsemsg."""

    def __init__(self, factory: IRCFactory) -> None:
        self.clock = factory.clock
        self.protocol: IRCProtocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def send(self, *lines: str) -> list[Line]:
        self.protocol.dataReceived("".join(f"{line}\r\n" for line in lines).encode())
        return self.read()

    def send_bytes(self, data: bytes) -> list[Line]:
        self.protocol.dataReceived(data)
        return self.read()

    def read(self) -> list[Line]:
        self.clock.advance(0)  # the outbox writes once per reactor turn
        data = self.transport.value()
        self.transport.clear()
        for raw in data.split(b"\r\n")[:-1]:
            assert len(raw) + 2 <= 512, raw
        return [parse(raw) for raw in data.decode().split("\r\n")[:-1]]

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def drop(self) -> None:
        self.protocol.connectionLost(None)  # type: ignore[arg-type]


def commands(lines: list[Line]) -> list[str]:
    return [command for _, command, _ in lines]


def find(lines: list[Line], command: str) -> list[str]:
    for _, cmd, params in lines:
        if cmd == command:
            return params
    raise AssertionError(f"no {command} in {lines}")


class IRCTestCase(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        self.factory = IRCFactory(self.world.portal, Options(), self.world.clock,
                                  self.world.admission, self.world.server.stats)

    def connect(self) -> IRCClient:
        return IRCClient(self.factory)

    def guest(self, nick: str, *channels: str) -> IRCClient:
        client = self.connect()
        lines = client.send(f"NICK {nick}", f"USER {nick} 0 * :Real Name")
        self.assertEqual(find(lines, "001")[0], nick)
        for name in channels:
            self.assertIn("JOIN", commands(client.send(f"JOIN {name}")))
        return client

    def line_account(self, name: str, password: str = "password1") -> Client:
        client = self.world.connect()
        self.assertEqual(client.send(f"/signup {name} {password}")[0][:3], "201")
        return client

    def line_guest(self, name: str, room: str | None = None) -> Client:
        client = self.world.connect()
        self.assertEqual(client.send(f"/nick {name}")[0][:3], "201")
        if room:
            self.assertEqual(client.send(f"/join {room}")[-1][:3], "200")
        return client


class RegistrationTests(IRCTestCase):
    def test_guest_welcome(self) -> None:
        client = self.connect()
        self.assertEqual(client.send("NICK ann"), [])
        lines = client.send("USER ann 0 * :Ann")
        self.assertEqual(commands(lines)[:5], ["001", "002", "003", "004", "005"])
        self.assertIn("376", commands(lines))
        self.assertEqual(find(lines, "001")[0], "ann")
        isupport = [token for _, command, params in lines if command == "005"
                    for token in params]
        # At most 15 parameters a line (modern.ircdocs.horse): the tokens take two 005s.
        self.assertTrue(all(len(params) <= 15 for _, command, params in lines
                            if command == "005"))
        self.assertGreater(commands(lines).count("005"), 1)
        for token in ("CHANTYPES=#", "CHANNELLEN=33", "NICKLEN=32", "TOPICLEN=300",
                      "CASEMAPPING=rfc8265", "LINELEN=512"):
            self.assertIn(token, isupport)
        self.assertIn("WHOX", isupport)
        self.assertTrue(self.world.server.is_online("ann"))

    def test_welcome_and_motd_follow_the_server_name_and_message_of_the_day(self) -> None:
        for server, motd in (("irc.example.org", ("first", "")), ("chatd", ())):
            self.factory = IRCFactory(self.world.portal, Options(server_name=server, motd=motd),
                                      self.world.clock, self.world.admission,
                                      self.world.server.stats)
            nick = f"n{len(motd)}"
            lines = self.connect().send(f"NICK {nick}", f"USER {nick} 0 * :Real Name")
            self.assertEqual({prefix for prefix, _, _ in lines}, {server})
            self.assertEqual(lines[1:4], [
                (server, "002", [nick, f"Your host is {server}, running {codec.VERSION}"]),
                (server, "003", [nick, "This server speaks IRC to chatd's rooms"]),
                (server, "004", [nick, server, codec.VERSION, "iowB", "biklmnostv", "bklov"])])
            last_005 = max(at for at, (_, command, _) in enumerate(lines) if command == "005")
            self.assertEqual(lines[last_005][2][-2:], [f"NETWORK={server}",
                                                       "are supported by this server"])
            said = [(command, params) for _, command, params in lines[last_005 + 6:]]
            if motd:
                self.assertEqual(said, [
                    ("375", [nick, f"- {server} Message of the day - "]),
                    ("372", [nick, "- first"]), ("372", [nick, "- "]),
                    ("376", [nick, "End of /MOTD command."])])
            else:
                self.assertEqual(said, [("422", [nick, "MOTD File is missing"])])

    def test_commands_before_registration_get_451(self) -> None:
        client = self.connect()
        self.assertEqual(client.send("JOIN #a"),
                         [("chatd", "451", ["*", "You have not registered"])])

    def test_nick_in_use_then_another(self) -> None:
        self.guest("ann")
        client = self.connect()
        lines = client.send("NICK ANN", "USER x 0 * :x")
        self.assertEqual(find(lines, "433")[:2], ["*", "ANN"])
        self.assertFalse(client.closed)
        self.assertEqual(find(client.send("NICK ann2"), "001")[0], "ann2")

    def test_the_servers_name_is_reserved(self) -> None:
        client = self.connect()
        lines = client.send("NICK chatd", "USER u 0 * :u")
        self.assertEqual(find(lines, "432")[1], "chatd")

    def test_bad_nick_gets_432(self) -> None:
        client = self.connect()
        lines = client.send("NICK [ann]", "USER x 0 * :x")
        self.assertEqual(find(lines, "432")[:2], ["*", "[ann]"])

    def test_registered_name_needs_its_password(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        lines = client.send("NICK owner", "USER x 0 * :x")
        self.assertEqual(commands(lines), ["433"])
        self.assertIn("registered", find(lines, "433")[2])

    def test_pass_logs_in_to_the_account(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        lines = client.send("PASS password1", "NICK owner", "USER x 0 * :x")
        self.assertEqual(commands(lines)[:2], ["900", "001"])
        self.assertFalse(self.world.server.users["owner"].guest)

    def test_wrong_pass_gets_464_and_closes(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        lines = client.send("PASS nope-nope", "NICK owner", "USER x 0 * :x")
        self.assertEqual(commands(lines), ["464", "ERROR"])
        self.assertTrue(client.closed)
        self.assertFalse(self.world.server.is_online("owner"))

    def test_sasl_plain(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        lines = client.send("CAP LS 302", "NICK owner", "USER x 0 * :x")
        [(_, _, (_, verb, offered))] = lines
        self.assertEqual(verb, "LS")
        self.assertLessEqual({
            "sasl=PLAIN", "draft/account-registration=before-connect", "multi-prefix",
            "userhost-in-names", "cap-notify", "server-time", "message-tags", "account-tag",
            "extended-join", "away-notify", "echo-message", "batch", "draft/chathistory",
            "labeled-response", "draft/message-redaction", "draft/read-marker",
            "invite-notify", "account-notify", "setname", "extended-monitor"}, set(offered.split()))
        self.assertEqual(client.send("CAP REQ :sasl"),
                         [("chatd", "CAP", ["*", "ACK", "sasl"])])
        self.assertEqual(client.send("AUTHENTICATE PLAIN"), [("", "AUTHENTICATE", ["+"])])
        lines = client.send(f"AUTHENTICATE {plain('owner', 'password1')}")
        self.assertEqual(commands(lines), ["900", "903"])
        self.assertEqual(find(lines, "900")[1:3], ["owner!owner@chatd", "owner"])
        self.assertEqual(find(client.send("CAP END"), "001")[0], "owner")

    def test_sasl_wrong_password_then_guest_nick(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        client.send("CAP LS", "NICK owner", "USER x 0 * :x", "CAP REQ :sasl",
                    "AUTHENTICATE PLAIN")
        self.assertEqual(commands(client.send(f"AUTHENTICATE {plain('owner', 'wrong')}")),
                         ["904"])
        self.assertEqual(commands(client.send("CAP END")), ["433"])
        self.assertEqual(find(client.send("NICK visitor"), "001")[0], "visitor")

    def test_sasl_other_mechanism_and_abort(self) -> None:
        client = self.connect()
        self.assertEqual(commands(client.send("AUTHENTICATE EXTERNAL")), ["908", "904"])
        client.send("AUTHENTICATE PLAIN")
        self.assertEqual(commands(client.send("AUTHENTICATE *")), ["906"])

    def test_commands_wait_while_the_password_hashes(self) -> None:
        self.line_account("owner").drop()
        self.world.hasher.hold = True
        client = self.connect()
        lines = client.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN",
                            f"AUTHENTICATE {plain('owner', 'password1')}", "CAP END",
                            "NICK owner", "USER x 0 * :x", "JOIN #after")
        self.assertNotIn("001", commands(lines))
        self.world.hasher.release()
        lines = client.read()
        self.assertEqual(commands(lines)[:3], ["900", "903", "001"])
        self.assertIn(("owner!owner@chatd", "JOIN", ["#after"]), lines)

    def test_register_draft_before_connect(self) -> None:
        client = self.connect()
        client.send("CAP LS 302", "NICK newbie")
        lines = client.send("REGISTER * * a-long-password")
        self.assertEqual(lines[0], ("chatd", "900", [
            "newbie", "newbie!newbie@chatd", "newbie", "You are now logged in as newbie"]))
        self.assertEqual(lines[1][1:3], ("REGISTER", ["SUCCESS", "newbie",
                                                      "your account is created and you "
                                                      "are logged in"]))
        self.assertEqual(find(client.send("USER x 0 * :x", "CAP END"), "001")[0], "newbie")
        line = self.world.connect()
        self.assertEqual(line.send("/login newbie a-long-password")[0][:3], "201")

    def test_a_guest_registers_its_nick_after_connecting_and_keeps_its_channels(self) -> None:
        ann = self.guest("ann", "#den")
        bob = self.guest("bob", "#den")
        ann.read()
        lines = ann.send("REGISTER * * a-long-password")
        self.assertEqual(commands(lines), ["900", "REGISTER"])
        self.assertEqual(lines[1][2][:2], ["SUCCESS", "ann"])
        session = self.world.server.users["ann"].sessions[0]
        self.assertFalse(session.guest)
        self.assertEqual(commands(ann.send("NICK other")), ["902"])  # an account's nick stays
        ann.send("PRIVMSG #den :hello")
        self.assertEqual(bob.read(), [("ann!ann@chatd", "PRIVMSG", ["#den", "hello"])])
        self.assertEqual(commands(ann.send("REGISTER * * a-long-password")), ["FAIL"])
        # The account's: a second session (line) finds it in the guest's channel.
        line = self.world.connect()
        self.assertEqual([reply[:3] for reply in line.send("/login ann a-long-password")],
                         ["108", "201"])

    def test_a_guest_logs_in_after_connecting_and_becomes_the_account_in_its_channels(
            self) -> None:
        self.line_account("owner").drop()
        ann = self.guest("ann", "#den")
        bob = self.guest("bob", "#den")
        cat = self.guest("cat", "#den")
        bob.send("CAP REQ :account-notify")
        for client in (ann, bob, cat):
            client.read()
        self.assertEqual(ann.send("AUTHENTICATE PLAIN"), [("", "AUTHENTICATE", ["+"])])
        lines = ann.send(f"AUTHENTICATE {plain('owner', 'password1')}")
        # 900 and 903, then the nick change to the account's name.
        self.assertEqual(commands(lines), ["900", "903", "NICK"])
        self.assertEqual(lines[2], ("ann!ann@chatd", "NICK", ["owner"]))
        # account-notify: ACCOUNT from the name held until then, then the NICK.
        self.assertEqual(bob.read(), [("ann!ann@chatd", "ACCOUNT", ["owner"]),
                                      ("ann!ann@chatd", "NICK", ["owner"])])
        self.assertEqual(cat.read(), [("ann!ann@chatd", "NICK", ["owner"])])
        [session] = self.world.server.users["owner"].sessions
        self.assertFalse(session.guest)
        self.assertNotIn("ann", self.world.server.users)
        ann.send("PRIVMSG #den :hello")
        self.assertEqual(cat.read(), [("owner!owner@chatd", "PRIVMSG", ["#den", "hello"])])
        # An account does not log in to another (907), nor to itself again.
        self.assertEqual(commands(ann.send("AUTHENTICATE PLAIN")), ["907"])
        # The account's: a second session (line) finds it in the guest's channel.
        line = self.world.connect()
        self.assertEqual([reply[:3] for reply in line.send("/login owner password1")],
                         ["108", "201"])

    def test_a_guest_cannot_log_in_to_an_account_online_elsewhere(self) -> None:
        owner = self.line_account("owner")
        ann = self.guest("ann", "#den")
        ann.send("AUTHENTICATE PLAIN")
        lines = ann.send(f"AUTHENTICATE {plain('owner', 'password1')}")
        self.assertEqual(commands(lines), ["904"])
        self.assertIn("logged in already", lines[0][2][-1])
        self.assertTrue(self.world.server.users["ann"].guest)
        owner.send("/quit")
        ann.send("AUTHENTICATE PLAIN")
        self.assertEqual(commands(ann.send(f"AUTHENTICATE {plain('owner', 'wrong')}")),
                         ["904"])
        self.assertTrue(self.world.server.users["ann"].guest)

    def test_a_guest_registering_its_nick_is_told_with_account_notify(self) -> None:
        ann = self.guest("ann", "#den")
        bob = self.guest("bob", "#den")
        bob.send("CAP REQ :account-notify")
        cat = self.line_guest("cat", "den")
        for client in (ann, bob, cat):
            client.read()
        self.assertEqual(commands(ann.send("REGISTER * * a-long-password")),
                         ["900", "REGISTER"])
        self.assertEqual(bob.read(), [("ann!ann@chatd", "ACCOUNT", ["ann"])])
        self.assertEqual(cat.read(), ["114 ann logged in to the account ann"])

    def test_only_the_guest_holding_a_name_can_claim_it(self) -> None:
        self.guest("ann")
        self.line_account("owner").drop()
        server = self.world.server
        [session] = server.users["ann"].sessions
        for name, claimant in (("ann", "another-session"), ("nobody", session.id),
                               ("owner", session.id)):
            self.assertRaises(errors.NameTaken, server.claim, name, "id-1", claimant)
        self.assertTrue(server.users["ann"].guest)

    def test_register_failures(self) -> None:
        self.line_account("owner").drop()
        client = self.connect()
        self.assertEqual(client.send("REGISTER * * a-long-password")[0][2][:2],
                         ["REGISTER", "NEED_NICK"])
        client.send("NICK owner")
        self.assertEqual(client.send("REGISTER owner * a-long-password")[0][2][:3],
                         ["REGISTER", "ACCOUNT_EXISTS", "owner"])
        client.send("NICK fresh")
        self.assertEqual(client.send("REGISTER * * short")[0][2][:2],
                         ["REGISTER", "WEAK_PASSWORD"])
        self.assertEqual(client.send("REGISTER other * a-long-password")[0][2][:2],
                         ["REGISTER", "ACCOUNT_NAME_MUST_BE_NICK"])

    def test_guests_disabled(self) -> None:
        world = World(Path(self.mktemp()).absolute().parent, guests=False)
        client = IRCClient(IRCFactory(world.portal, Options(), world.clock, world.admission,
                                      world.server.stats))
        self.assertEqual(commands(client.send("NICK ann", "USER x 0 * :x")), ["464", "ERROR"])
        self.assertTrue(client.closed)

    def test_reregistering_is_refused(self) -> None:
        client = self.guest("ann")
        self.assertEqual(commands(client.send("USER a 0 * :a")), ["462"])
        self.assertEqual(commands(client.send("PASS x")), ["462"])


class FramingTests(IRCTestCase):
    def test_lf_alone_and_split_reads(self) -> None:
        client = self.connect()
        client.send_bytes(b"NICK ann\nUSER ann 0 * ")
        self.assertIn("001", commands(client.send_bytes(b":Ann\n")))

    def test_over_long_line_gets_417_and_is_ignored(self) -> None:
        client = self.guest("ann", "#a")
        lines = client.send_bytes(b"PRIVMSG #a :" + b"x" * 600 + b"\r\nPING tok\r\n")
        self.assertEqual(commands(lines), ["417", "PONG"])

    def test_tags_do_not_count_toward_the_limit(self) -> None:
        client = self.guest("ann")
        lines = client.send_bytes(b"@" + b"a=b;" * 200 + b" PING tok\r\n")
        self.assertEqual(lines, [("chatd", "PONG", ["chatd", "tok"])])

    def test_a_line_that_is_not_utf8_is_refused_with_fail_invalid_utf8(self) -> None:
        client = self.guest("ann", "#a")
        line = self.line_guest("bob", "a")
        client.read(), line.read()
        self.assertEqual(client.send_bytes(b"PRIVMSG #a :caf\xe9\r\n"), [
            ("chatd", "FAIL", ["PRIVMSG", "INVALID_UTF8",
                               "Lines must be UTF-8; this one was not and was ignored"])])
        self.assertEqual(line.read(), [])
        early = self.connect()
        self.assertEqual(early.send_bytes(b"USER u 0 * :i\xe8rc\xe9\r\n")[0][1:],
                         ("FAIL", ["USER", "INVALID_UTF8",
                                   "Lines must be UTF-8; this one was not and was ignored"]))

    def test_unknown_command_and_missing_parameters(self) -> None:
        client = self.guest("ann")
        self.assertEqual(client.send("FROB x"),
                         [("chatd", "421", ["ann", "FROB", "Unknown command"])])
        self.assertEqual(find(client.send("JOIN"), "461")[1], "JOIN")
        self.assertEqual(commands(client.send("PRIVMSG")), ["411"])
        self.assertEqual(commands(client.send("PRIVMSG #a")), ["412"])
        self.assertEqual(commands(client.send("PRIVMSG a,b,c,d,e :hi")), ["407"])


class ChannelTests(IRCTestCase):
    def test_join_creates_a_temporary_room_and_lists_names(self) -> None:
        client = self.guest("ann")
        lines = client.send("JOIN #lobby")
        self.assertEqual(lines[0], ("ann!ann@chatd", "JOIN", ["#lobby"]))
        self.assertEqual(find(lines, "353"), ["ann", "=", "#lobby", "@ann"])
        self.assertEqual(find(lines, "366")[:2], ["ann", "#lobby"])
        self.assertIn("lobby", self.world.server.rooms)

    def test_join_several_at_once_with_keys(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create locked 10 sesame")
        client = self.guest("ann")
        lines = client.send("JOIN #locked,#open,#bad! wrong")
        self.assertEqual(find(lines, "475")[:2], ["ann", "#locked"])
        self.assertIn(("ann!ann@chatd", "JOIN", ["#open"]), lines)
        self.assertEqual(find(lines, "403")[:2], ["ann", "#bad!"])
        lines = client.send("JOIN #locked sesame")
        self.assertEqual(lines[0], ("ann!ann@chatd", "JOIN", ["#locked"]))
        self.assertEqual(find(lines, "353")[3], "ann @owner")

    def test_refusals_carry_irc_texts_not_line_protocol_advice(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create den 10 sesame")
        client = self.guest("ann")
        lines = client.send("JOIN #den", "PRIVMSG #nowhere :hi", "WHOIS nobody",
                            "MODE #den -k")
        self.assertEqual([(cmd, params[-1]) for _, cmd, params in lines], [
            ("475", "Cannot join channel (+k)"),
            ("401", "No such nick/channel"),
            ("401", "No such nick/channel"),
            ("318", "End of /WHOIS list"),
            ("482", "You're not channel operator"),
        ])

    def test_full_channel(self) -> None:
        owner = self.line_account("owner")
        owner.send("/create tiny 1")
        self.assertEqual(find(self.guest("ann").send("JOIN #tiny"), "471")[1], "#tiny")

    def test_part_and_not_on_channel(self) -> None:
        client = self.guest("ann", "#a")
        line = self.line_guest("bob", "a")
        client.read(), line.read()
        self.assertEqual(client.send("PART #a,#zzz :bye"), [
            ("ann!ann@chatd", "PART", ["#a", "bye"]),
            ("chatd", "403", ["ann", "#zzz", "No such channel"]),
        ])
        self.assertEqual(line.read(), ["104 [a] ann left: bye"])
        self.assertEqual(find(self.guest("cy").send("PART #a"), "442")[1], "#a")

    def test_topic(self) -> None:
        client = self.guest("ann", "#a")
        self.assertEqual(commands(client.send("TOPIC #a")), ["331"])
        self.assertEqual(client.send("TOPIC #a :hello world"),
                         [("ann!ann@chatd", "TOPIC", ["#a", "hello world"])])
        self.assertEqual(find(client.send("TOPIC #a"), "332"), ["ann", "#a", "hello world"])
        lines = self.guest("bob").send("JOIN #a")
        self.assertEqual(find(lines, "332"), ["bob", "#a", "hello world"])

    def test_list_and_names(self) -> None:
        client = self.guest("ann", "#a", "#b")
        self.line_guest("bob", "a")
        client.send("TOPIC #a :about a")
        lines = client.send("LIST")
        self.assertEqual(commands(lines), ["321", "322", "322", "323"])
        self.assertEqual(lines[1][2], ["ann", "#a", "2", "about a"])
        self.assertEqual(lines[2][2], ["ann", "#b", "1", ""])
        self.assertEqual(commands(client.send("LIST #b")), ["321", "322", "323"])
        self.assertEqual(find(client.send("NAMES #a"), "353")[3], "@ann bob")
        self.assertEqual(commands(client.send("NAMES #nope")), ["366"])

    def test_the_owner_joins_her_locked_channel_without_its_key(self) -> None:
        # Issue 27: JOIN without the key lets the owner in (an operator); others get 475.
        owner_line = self.line_account("owner")
        owner_line.send("/create club 10 sesame")
        owner_line.drop()
        owner = self.connect()
        lines = owner.send("PASS password1", "NICK owner", "USER x 0 * :x", "JOIN #club")
        self.assertIn("JOIN", commands(lines))
        self.assertEqual(commands(self.guest("ann").send("JOIN #club")), ["475"])

    def test_mode_query_and_owner_changes(self) -> None:
        owner_line = self.line_account("owner")
        owner_line.send("/create club 10")
        owner_line.drop()
        owner = self.connect()
        owner.send("PASS password1", "NICK owner", "USER x 0 * :x", "JOIN #club")
        self.assertEqual(find(owner.send("MODE #club"), "324"), ["owner", "#club", "+ntl", "10"])
        lines = owner.send("MODE #club +kl secret 5")
        self.assertIn(("owner!owner@chatd", "MODE", ["#club", "+k", "*"]), lines)
        self.assertIn(("owner!owner@chatd", "MODE", ["#club", "+l", "5"]), lines)
        self.assertEqual(find(owner.send("MODE #club"), "324")[2:], ["+ntkl", "*", "5"])
        guest = self.guest("ann")
        self.assertEqual(commands(guest.send("JOIN #club")), ["475"])
        self.assertIn("JOIN", commands(guest.send("JOIN #club secret")))
        self.assertEqual(find(guest.send("MODE #club -k"), "482")[1], "#club")
        self.assertEqual(commands(guest.send("MODE #club b")), ["368"])
        self.assertEqual(commands(guest.send("MODE #club +z")), ["472"])
        owner.read()
        self.assertIn(("owner!owner@chatd", "MODE", ["#club", "-k"]), owner.send("MODE #club -k"))
        self.assertIsNone(self.world.server.rooms["club"].password_hash)

    def test_a_key_with_a_space_or_a_bad_limit_is_refused_with_696(self) -> None:
        owner_line = self.line_account("owner")
        owner_line.send("/create club 10")
        owner_line.drop()
        owner = self.connect()
        owner.send("PASS password1", "NICK owner", "USER x 0 * :x", "JOIN #club")
        self.assertEqual(find(owner.send("MODE #club +k :two words"), "696")[1:4],
                         ["#club", "k", "*"])  # a refused key is never shown either
        self.assertEqual(find(owner.send("MODE #club +l ten"), "696")[1:4],
                         ["#club", "l", "ten"])
        self.assertIsNone(self.world.server.rooms["club"].password_hash)

    def test_control_characters_do_not_split_parameters(self) -> None:
        client = self.guest("ann")
        self.assertEqual(find(client.send("JOIN #r\rx"), "403")[1], "#rx")  # CR never echoed
        self.assertNotIn("r", self.world.server.rooms)

    def test_too_many_channels_gets_405(self) -> None:
        self.world.server.limits = Limits(messages_burst=1_000_000, max_rooms_per_user=1)
        client = self.guest("ann", "#a")
        self.assertEqual(find(client.send("JOIN #b"), "405")[1], "#b")

    def test_a_locked_rooms_members_are_hidden_from_non_members(self) -> None:
        alice = self.line_account("alice")
        alice.send("/create den 10 sesame")
        ann = self.guest("ann", "#lobby")
        self.assertEqual(commands(ann.send("NAMES #den")), ["366"])
        self.assertEqual(commands(ann.send("WHO #den")), ["315"])
        alice.send("/join lobby")
        lines = ann.send("WHOIS alice")
        self.assertEqual(find(lines, "319"), ["ann", "alice", "#lobby"])
        # A member sees them.
        ann.send("JOIN #den sesame")
        self.assertEqual(find(ann.send("NAMES #den"), "353")[3], "@alice ann")
        self.assertEqual(commands(ann.send("WHO #den")), ["352", "352", "315"])
        self.assertIn("@#den", find(ann.send("WHOIS alice"), "319")[2].split())

    def test_a_temporary_rooms_first_member_sets_its_modes_and_others_get_482(self) -> None:
        client = self.guest("ann", "#a")
        self.assertEqual(client.send("MODE #a +l 5"),
                         [("ann!ann@chatd", "MODE", ["#a", "+l", "5"])])
        bob = self.guest("bob", "#a")
        self.assertEqual(find(bob.send("MODE #a +l 9"), "482")[1], "#a")
        self.assertEqual(self.world.server.rooms["a"].limit, 5)

    def test_user_mode(self) -> None:
        client = self.guest("ann")
        self.assertEqual(find(client.send("MODE ann +i"), "221"), ["ann", "+i"])
        self.assertEqual(find(client.send("MODE ann"), "221"), ["ann", "+i"])
        self.assertEqual(commands(client.send("MODE bob +i")), ["502"])


class TalkTests(IRCTestCase):
    def test_channel_messages_both_ways_without_echo(self) -> None:
        ann = self.guest("ann", "#lobby")
        bob = self.line_guest("bob", "lobby")
        self.assertEqual(ann.read(), [("bob!bob@chatd", "JOIN", ["#lobby"])])
        self.assertEqual(ann.send("PRIVMSG #lobby :hello bob"), [])
        self.assertEqual(bob.read(), ["101 [lobby] <ann> hello bob"])
        bob.send("hi ann")
        self.assertEqual(ann.read(), [("bob!bob@chatd", "PRIVMSG", ["#lobby", "hi ann"])])
        ann.send("PRIVMSG #lobby :\x01ACTION waves\x01")
        self.assertEqual(bob.read(), ["107 [lobby] * ann waves"])

    def test_private_messages_and_away(self) -> None:
        ann = self.guest("ann")
        bob = self.line_guest("bob")
        self.assertEqual(ann.send("PRIVMSG bob :psst"), [])
        self.assertEqual(bob.read(), ["102 *ann* psst"])
        bob.send("/msg ann hello back")
        self.assertEqual(ann.read(), [("bob!bob@chatd", "PRIVMSG", ["ann", "hello back"])])
        self.assertEqual(commands(ann.send("AWAY :lunch")), ["306"])
        cy = self.guest("cy")
        self.assertEqual(cy.send("PRIVMSG ann :hi"), [("chatd", "301", ["cy", "ann", "lunch"])])
        self.assertEqual(commands(ann.send("AWAY")), ["PRIVMSG", "305"])
        self.assertEqual(find(cy.send("PRIVMSG nobody :hi"), "401")[1], "nobody")

    def test_away_is_one_status_for_both_protocols(self) -> None:
        ann = self.guest("ann")
        bob = self.line_guest("bob")
        bob.send("/away on the phone")
        self.assertEqual(ann.send("PRIVMSG bob :hi"),
                         [("chatd", "301", ["ann", "bob", "on the phone"])])
        self.assertEqual(find(ann.send("WHOIS bob"), "301"), ["ann", "bob", "on the phone"])
        self.assertEqual(find(ann.send("WHO bob"), "352")[6], "G")
        ann.send("AWAY :lunch")
        self.assertEqual(bob.send("/msg ann hi")[-1], "200 sent to ann (away: lunch)")
        ann.send("AWAY")
        self.assertEqual(bob.send("/whois ann"), ["212 ann is a guest"])

    def test_message_to_a_channel_not_joined(self) -> None:
        self.guest("ann", "#a")
        bob = self.guest("bob")
        self.assertEqual(find(bob.send("PRIVMSG #a :hi"), "404")[1], "#a")
        self.assertEqual(find(bob.send("PRIVMSG #none :hi"), "401")[1], "#none")

    def test_notice_never_gets_an_error(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.line_guest("bob", "a")
        ann.read()
        self.assertEqual(ann.send("NOTICE #a :note", "NOTICE nobody :x", "NOTICE #zz :x"), [])
        self.assertEqual(bob.read(), ["112 [a] -ann- note"])

    def test_quit_is_seen_once_by_irc_and_per_room_by_line(self) -> None:
        ann = self.guest("ann", "#a", "#b")
        bob = self.guest("bob", "#a", "#b")
        line = self.line_guest("cy", "a")
        ann.read()
        bob.read()
        line.read()
        self.assertEqual(bob.send("QUIT :gone fishing"),
                         [("", "ERROR", ["Closing link: Quit: gone fishing"])])
        self.assertTrue(bob.closed)
        bob.drop()
        self.assertEqual(ann.read(), [("bob!bob@chatd", "QUIT", ["Quit: gone fishing"])])
        self.assertEqual(line.read(), ["104 [a] bob quit: gone fishing"])

    def test_line_user_quitting(self) -> None:
        ann = self.guest("ann", "#a")
        line = self.line_guest("cy", "a")
        ann.read()
        line.send("/quit")
        line.drop()
        self.assertEqual(ann.read(), [("cy!cy@chatd", "QUIT", ["Quit"])])

    def test_each_event_is_rendered_once_per_format(self) -> None:
        self.guest("ann", "#a")
        self.guest("bob", "#a")
        self.line_guest("cy", "a")
        spy_session, spy = self.world.spy("spy")
        spy_session.join("a")
        self.guest("dee", "#a")
        event = spy.events[-1]
        self.assertIsInstance(event, Joined)
        self.assertEqual(set(event.wire), {self.factory.renderers.plain, render_line})


class SecondSessionTests(IRCTestCase):
    def test_a_new_session_of_an_account_in_rooms_is_told_of_each(self) -> None:
        first = self.line_account("gina")
        first.send("/join lobby", "/topic lobby hello all")
        self.line_guest("bob", "lobby")
        client = self.connect()
        lines = client.send("PASS password1", "NICK gina", "USER g 0 * :g")
        after = [line for line in lines if line[1] in ("JOIN", "332", "353", "366")]
        self.assertEqual(after[0], ("gina!gina@chatd", "JOIN", ["#lobby"]))
        self.assertEqual(find(after, "332")[1:], ["#lobby", "hello all"])
        self.assertEqual(find(after, "353")[3], "bob @gina")
        self.assertGreater(commands(lines).index("JOIN"), commands(lines).index("001"))


class EndedSessionTests(IRCTestCase):
    def test_an_account_deleted_by_an_operator_is_closed_with_the_reason(self) -> None:
        self.line_account("victim").drop()
        client = self.connect()
        client.send("PASS password1", "NICK victim", "USER v 0 * :v", "JOIN #lobby")
        bob = self.guest("bob", "#lobby")
        self.successResultOf(self.world.directory.delete("victim"))
        self.assertEqual(client.read()[-1],
                         ("", "ERROR", ["Closing link: account deleted by an operator"]))
        self.assertTrue(client.closed)
        self.assertEqual(bob.read(), [("victim!victim@chatd", "QUIT",
                                       ["Quit: account deleted by an operator"])])


class PeopleAndServerTests(IRCTestCase):
    def test_who_and_whois(self) -> None:
        ann = self.guest("ann", "#a")
        self.line_account("owner").send("/join a")
        ann.send("AWAY :out")
        lines = ann.send("WHO #a")
        self.assertEqual(commands(lines), ["352", "352", "315"])
        self.assertEqual(lines[0][2], ["ann", "#a", "~ann", "chatd", "chatd", "ann", "G@",
                                       "0 Real Name"])
        self.assertEqual(lines[1][2][5:7], ["owner", "H"])
        lines = ann.send("WHOIS owner")
        self.assertEqual(commands(lines), ["311", "319", "312", "317", "330", "318"])
        self.assertEqual(find(lines, "319"), ["ann", "owner", "#a"])
        self.assertEqual(commands(ann.send("WHOIS ann")),
                         ["311", "319", "312", "301", "317", "318"])
        self.assertEqual(commands(ann.send("WHOIS nobody")), ["401", "318"])

    def test_ping_motd_lusers(self) -> None:
        ann = self.guest("ann", "#a")
        self.assertEqual(ann.send("PING :tok en"), [("chatd", "PONG", ["chatd", "tok en"])])
        self.assertEqual(commands(ann.send("MOTD")), ["375", "372", "372", "376"])
        lines = ann.send("LUSERS")
        self.assertEqual(commands(lines), ["251", "254", "255", "265", "266"])
        self.assertEqual(find(lines, "254")[1], "1")

    def test_lusers_counts_registering_connections_and_the_peak(self) -> None:
        ann = self.guest("ann")
        bob = self.guest("bob")
        half = self.connect()
        half.send("NICK half")
        lines = ann.send("LUSERS")
        self.assertEqual(find(lines, "251")[1], "There are 0 users and 2 invisible on 1 servers")
        self.assertEqual(find(lines, "253")[1], "1")
        self.assertEqual(find(lines, "255")[1], "I have 2 clients and 0 servers")
        self.assertEqual(find(lines, "265")[1:3], ["2", "2"])
        self.assertEqual(find(lines, "266")[1:3], ["2", "2"])
        half.drop()
        bob.drop()
        lines = ann.send("LUSERS")
        self.assertNotIn("253", commands(lines))
        self.assertEqual(find(lines, "266")[1:3], ["1", "2"])

    def test_time_and_info(self) -> None:
        ann = self.guest("ann")
        self.world.clock.advance(1000)
        line = find(ann.send("TIME"), "391")
        self.assertEqual(line[1:4], ["chatd", str(int(self.world.clock.seconds())), "0"])
        lines = ann.send("INFO")
        self.assertEqual(set(commands(lines[:-1])), {"371"})
        self.assertEqual(commands(lines[-1:]), ["374"])

    def test_username_from_user_with_a_tilde(self) -> None:
        ann = self.connect()
        ann.send("NICK ann", "USER my$user.name_that_is_long 0 * :Ann Real")
        bob = self.guest("bob")
        self.assertEqual(find(bob.send("WHOIS ann"), "311"),
                         ["bob", "ann", "~myuser.na", "chatd", "*", "Ann Real"])
        self.assertEqual(find(bob.send("WHO ann"), "352")[2], "~myuser.na")
        self.assertEqual(find(bob.send("USERHOST ann nobody"), "302"),
                         ["bob", "ann=+~myuser.na@chatd"])
        ann.send("AWAY :gone")
        self.assertEqual(find(bob.send("USERHOST ann"), "302"), ["bob", "ann=-~myuser.na@chatd"])

    def test_who_masks_show_only_who_shares_a_channel(self) -> None:
        ann = self.guest("ann", "#a")
        self.guest("anna", "#a")
        self.guest("annie")
        lines = ann.send("WHO ann*")
        self.assertEqual([params[5] for _, cmd, params in lines if cmd == "352"],
                         ["ann", "anna"])
        self.assertEqual(find(lines, "315")[1], "ann*")
        self.assertEqual([params[5] for _, cmd, params in ann.send("WHO *") if cmd == "352"],
                         ["ann", "anna"])
        self.assertEqual(commands(ann.send("WHO an?ie")), ["315"])
        self.assertEqual(commands(ann.send("WHO annie")), ["352", "315"])  # a nick: found
        self.assertEqual(commands(ann.send("WHO * o")), ["315"])  # no server operators

    def test_who_flags_mark_away_operators_and_prefixes(self) -> None:
        here = MemberView("ann", "ann", True, False)
        self.assertEqual(who.flags(here, "@"), "H@")
        self.assertEqual(who.flags(replace(here, away="out", server_operator=True), "+"), "G*+")

    def test_whox_fields_in_their_order_with_the_token(self) -> None:
        ann = self.guest("ann", "#a")
        lines = ann.send("WHO ann %rnat,42")
        self.assertEqual(find(lines, "354"), ["ann", "42", "ann", "0", "Real Name"])
        lines = ann.send("WHO #a %tcuihsnfdlaor,7")
        self.assertEqual(find(lines, "354"), ["ann", "7", "#a", "~ann", "255.255.255.255",
                                              "chatd", "chatd", "ann", "H@", "0", "0", "0",
                                              "n/a", "Real Name"])
        self.assertEqual(find(lines, "315")[1], "#a")

    def test_whowas_remembers_who_left_newest_first(self) -> None:
        ann = self.guest("ann")
        self.assertEqual(commands(ann.send("WHOWAS bob")), ["406", "369"])
        self.assertEqual(commands(ann.send("WHOWAS")), ["431"])
        for ident in ("first", "second"):
            bob = self.connect()
            bob.send("NICK bob", f"USER {ident} 0 * :Bob Real")
            bob.send("QUIT :bye")
            bob.drop()
        lines = ann.send("WHOWAS bob")
        self.assertEqual(commands(lines), ["314", "312", "314", "312", "369"])
        self.assertEqual(lines[0][2], ["ann", "bob", "~second", "chatd", "*", "Bob Real"])
        self.assertEqual(lines[2][2][2], "~first")
        self.assertEqual(commands(ann.send("WHOWAS bob 1")), ["314", "312", "369"])
        self.assertEqual(commands(ann.send("WHOWAS bob 0")), ["314", "312"] * 2 + ["369"])
        self.assertEqual(commands(ann.send("WHOWAS bob -1")), ["314", "312"] * 2 + ["369"])
        ann.send("NICK anne")  # a nick change leaves the old nick to WHOWAS too
        self.assertEqual(find(ann.send("WHOWAS ann"), "314")[1:3], ["ann", "~ann"])

    def test_server_pings_a_silent_client_then_drops_it(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.guest("bob", "#a")
        ann.read()
        self.world.clock.advance(119)
        self.assertEqual(ann.send("PONG chatd"), [])
        self.world.clock.advance(119)
        self.assertEqual(bob.read(), [("", "PING", ["chatd"])])
        bob.send("PONG chatd")
        self.world.clock.advance(120)
        self.assertEqual(ann.read(), [("", "PING", ["chatd"])])
        bob.send("PONG chatd")
        self.world.clock.advance(60)
        self.assertEqual(ann.read(), [("", "ERROR", ["Closing link: Ping timeout: 60 seconds"])])
        self.assertTrue(ann.closed)
        ann.drop()
        self.assertIn(("ann!ann@chatd", "QUIT", ["Ping timeout"]), bob.read())

    def test_keep_alive_is_one_sweep_a_second_while_there_are_connections(self) -> None:
        clock = self.world.clock

        def wait(seconds: float) -> None:  # as time passes: a quarter of a second at a time
            for _ in range(round(seconds * 4)):
                clock.advance(0.25)

        wait(0.25)
        ann = self.guest("ann")
        self.assertEqual(len(clock.getDelayedCalls()), 1)  # the sweep, not a timer each
        bob = self.guest("bob")
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        wait(119.5)  # 119.5 s of silence: not yet
        self.assertEqual(ann.read(), [])
        bob.send("PONG chatd")
        # A line is heard as at the next sweep (KeepAlive.soon): ann's registration at 0.25
        # as at 1.25, bob's PONG at 119.75 as at 120.25. Never early, at most a second late.
        wait(0.5)
        self.assertEqual(ann.read(), [])
        wait(1)  # the sweep at 121.25: 120 s of silence since 1.25
        self.assertEqual(ann.read(), [("", "PING", ["chatd"])])
        wait(58)
        ann.send("PONG chatd")  # answered at 179.25: no close, the next PING 120 s on
        wait(60.5)
        self.assertEqual(bob.read(), [])  # silent since 119.75: 120 s at 239.75
        wait(0.5)  # ... PING at the next sweep, 240.25
        self.assertEqual(bob.read(), [("", "PING", ["chatd"])])
        wait(59)
        self.assertEqual(bob.read(), [])
        # 60 s after bob's PING, at the sweep of 300.25, bob is closed; ann's PONG of 179.25
        # (after that instant's sweep) is heard as at 180.25.
        self.assertEqual(ann.read(), [])
        wait(1)
        self.assertEqual(ann.read(), [("", "PING", ["chatd"])])
        self.assertEqual(bob.read(), [("", "ERROR", ["Closing link: Ping timeout: 60 seconds"])])
        self.assertTrue(bob.closed)
        ann.send("PONG chatd")
        wait(5)  # closed once, however long the close takes
        self.assertEqual(bob.read(), [])
        self.assertEqual(ann.read(), [])
        self.assertFalse(ann.closed)
        ann.drop()
        bob.drop()
        self.assertEqual(clock.getDelayedCalls(), [])  # no connection, no sweep

    def test_a_client_that_stops_reading_is_dropped(self) -> None:
        ann = self.guest("ann", "#a")
        bob = self.line_guest("bob", "a")
        ann.read()
        ann.protocol.outbox.pauseProducing()
        for _ in range(600):
            bob.send("x" * 1000)
        self.assertTrue(ann.closed)
        ann.drop()
        self.assertIn("104 [a] ann ", bob.read()[-1])

    def test_dropped_connection_logs_out(self) -> None:
        ann = self.guest("ann", "#a")
        ann.drop()
        self.assertFalse(self.world.server.is_online("ann"))
        self.assertNotIn("a", self.world.server.rooms)


class FakelagTests(IRCTestCase):
    """A paste over the message rate is slowed, as IRC servers do, not refused."""

    def setUp(self) -> None:
        super().setUp()
        self.world.server.limits = Limits(messages_burst=3, messages_per_second=2,
                                          flood_strikes=20)
        self.factory = IRCFactory(self.world.portal,
                                  Options(ConnectionOptions(paste_queue=4, message_rate=2)),
                                  self.world.clock, self.world.admission,
                                  self.world.server.stats)

    def test_a_paste_is_paced_with_one_notice_then_refused_past_the_queue(self) -> None:
        ann = self.guest("ann", "#lobby")
        bea = self.guest("bea", "#lobby")
        ann.read()
        bea.read()
        pasted = ann.send(*[f"PRIVMSG #lobby :line {i}" for i in range(9)])
        self.assertEqual(pasted, [("chatd", "NOTICE", [
            "ann", "pasting: 6 lines wait and go out at 2 a second; the last 2 will be "
            "refused (429)"])], "told once; no refusal yet")
        self.assertEqual([params[1] for _, _, params in bea.read()],
                         ["line 0", "line 1", "line 2"], "the burst at once")
        heard = []
        for _ in range(8):
            self.world.clock.advance(0.5)
            heard.append([params[1] for _, _, params in bea.read()])
        self.assertEqual(heard[:4], [["line 3"], ["line 4"], ["line 5"], ["line 6"]],
                         "then one every half second")
        self.assertEqual(heard[4:], [[]] * 4, "past the queue: refused, not said")
        self.assertEqual(commands(ann.read()), ["FAIL", "FAIL"])

    def test_a_client_that_leaves_while_a_line_waits_leaves_no_timer(self) -> None:
        ann = self.guest("ann", "#lobby")
        ann.send(*[f"PRIVMSG #lobby :line {i}" for i in range(5)])
        ann.drop()
        self.assertEqual([call for call in self.world.clock.getDelayedCalls()
                          if "_say_held" in repr(call)], [])
