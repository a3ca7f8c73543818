"""Property-based tests of the IRC frontend: its codec, its framing, and the core behind it.

Hypothesis feeds random and malformed input (random bytes, lines split at random points
across reads, over-long lines with and without tags, invalid UTF-8, control characters, CR
and NUL inside parameters, random sequences of valid and invalid commands from several IRC
and line-protocol connections sharing one server) and checks that:

* every server line is valid UTF-8, at most 512 bytes with its CRLF, has no NUL, CR or LF
  inside, parses (by a splitter written here, not our codec) as a message with a known
  command or numeric, addresses the client in a numeric's first parameter, and carries as
  many parameters as that numeric has (so no echoed parameter split or swallowed one);
* no text in any line has a C0/C1 control or ESC, but for the CTCP ``\\x01ACTION ...\\x01``
  wrapping of an action;
* how the input is cut into reads changes nothing in the output;
* nothing is logged as a failure or an error, and the internal-error numeric is never sent;
* the core's state stays consistent (``fuzz_support.check_state``) after every step.

Examples are derandomized (the ``ci`` profile in ``fuzz_support``) so CI is reproducible;
``HYPOTHESIS_PROFILE=deep`` explores further. A bug found here stays as an ``@example``.
"""

from __future__ import annotations

import base64

from hypothesis import example, given
from hypothesis import strategies as st
from twisted.words.protocols import irc

from chatd.frontends.irc import COMMANDS as IRC_COMMANDS
from chatd.frontends.irc import IRCFactory, Options, codec
from chatd.frontends.options import ConnectionOptions

from fakes import World
from tests.fuzz_support import (
    CONTROL,
    FuzzCase,
    bounded,
    check_state,
    cut_points,
    messages,
    raw_lines,
    room_names,
    split_at,
    streams,
    user_names,
)
from tests.test_fuzz_line import OPTIONS as LINE_OPTIONS
from tests.test_fuzz_line import SESSION, Tracked, finals
from tests.test_fuzz_line import line_words as line_protocol_lines
from tests.test_irc import IRCClient

OPTIONS = Options(ConnectionOptions(max_bytes_before_login=10**9))

Message = tuple[str, str, list[str]]

COMMANDS = {"PING", "PONG", "ERROR", "CAP", "AUTHENTICATE", "FAIL", "REGISTER", "JOIN", "PART",
            "NICK", "INVITE",
            "QUIT", "KICK", "TOPIC", "NOTICE", "PRIVMSG", "MODE"}
NUMERICS = set(irc.symbolic_to_numeric.values()) | {
    value for name, value in vars(codec).items()
    if name.isupper() and isinstance(value, str) and len(value) == 3 and value.isdigit()
}
# Numerics whose parameters are: the client, one name the client sent, a sentence.
_WITH_TARGET = {irc.ERR_NOSUCHNICK, irc.ERR_NOSUCHCHANNEL, irc.ERR_CANNOTSENDTOCHAN,
                irc.ERR_UNKNOWNCOMMAND, irc.ERR_ERRONEUSNICKNAME, irc.ERR_NICKNAMEINUSE,
                irc.ERR_NOTONCHANNEL, irc.ERR_NEEDMOREPARAMS, irc.ERR_CHANNELISFULL,
                irc.ERR_BADCHANNELKEY, irc.ERR_CHANOPRIVSNEEDED, irc.RPL_ENDOFWHO,
                irc.RPL_ENDOFWHOIS, irc.RPL_ENDOFNAMES, irc.RPL_AWAY, irc.RPL_TOPIC,
                irc.RPL_NOTOPIC, codec.ERR_INVALIDCAPCMD}
_ARITY = {code: 3 for code in _WITH_TARGET} | {
    codec.ERR_INPUTTOOLONG: 2, irc.ERR_NOTREGISTERED: 2, irc.ERR_PASSWDMISMATCH: 2,
    irc.ERR_NONICKNAMEGIVEN: 2, irc.ERR_ALREADYREGISTRED: 2}
_ARITY_OF_COMMAND = {"FAIL": 4, "PONG": 2, "JOIN": 1, "PART": 1, "KICK": 3, "TOPIC": 2}


def parse(line: str) -> Message:
    """A server line as an IRC client splits it: on spaces only (not on all whitespace, as
    ``str.split`` and so Twisted's ``parsemsg`` do), the last parameter after `` :``."""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    head, colon, trailing = line.partition(" :")
    words = [word for word in head.split(" ") if word]
    assert words, f"no command: {line!r}"
    return prefix, words[0], words[1:] + ([trailing] if colon else [])


def irc_lines(data: bytes) -> list[Message]:
    """The server's lines, each checked against IRC's rules and chatd's promises."""
    if not data:
        return []
    assert data.endswith(b"\r\n"), data[-40:]
    out: list[Message] = []
    for raw in data.split(b"\r\n")[:-1]:
        assert len(raw) + 2 <= codec.MAX_LINE, f"over 512 bytes: {raw[:60]!r}..."
        for byte in (b"\0", b"\r", b"\n"):
            assert byte not in raw, f"{byte!r} inside a line: {raw!r}"
        text = raw.decode("utf-8")
        prefix, command, params = parse(text)
        visible = text
        if command == "PRIVMSG" and params and params[-1].startswith("\x01ACTION "):
            assert params[-1].endswith("\x01"), text
            visible = text.replace("\x01ACTION ", " ").removesuffix("\x01")
        assert not CONTROL.search(visible), f"control character in a server line: {text!r}"
        if command.isdigit():
            assert command in NUMERICS, f"unknown numeric: {text!r}"
            assert prefix == OPTIONS.server_name, text
            assert params and params[0], f"a numeric to nobody: {text!r}"
            assert not (command == codec.ERR_UNKNOWNERROR and "internal" in params[-1]), text
        else:
            assert command in COMMANDS, f"unknown command: {text!r}"
        arity = _ARITY.get(command, _ARITY_OF_COMMAND.get(command))
        if command == "FAIL" and params[1:2] == ["INVALID_UTF8"]:
            arity = 3  # utf8-only's FAIL names no context
        if arity is not None:
            assert len(params) == arity, f"{command} with {len(params)} parameters: {text!r}"
        out.append((prefix, command, params))
    return out


def plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


IRC_VERBS = [*IRC_COMMANDS, "privmsg", "Join", "FROB", "", ":", "\tJOIN", "PRIVMSG\x00"]
LOGINS = ["NICK ann", "NICK bob", "NICK acct", "USER u 0 * :Real Name", "PASS password1",
          "CAP LS 302", "CAP REQ :sasl", "CAP END", "AUTHENTICATE PLAIN",
          f"AUTHENTICATE {plain('acct', 'password1')}", "REGISTER * x password1"]
USUAL = ["JOIN #lobby", "JOIN #a,#b k1,k2", "JOIN 0", "JOIN lobby", "PART #lobby",
         "PART #a,#b", "PRIVMSG #lobby :hi there", "PRIVMSG ann,bob :hey",
         "PRIVMSG #lobby :\x01ACTION waves\x01", "PRIVMSG #lobby :\x02bold\x02 \x0304red",
         "PRIVMSG #lobby :caf\xe9", "NOTICE #lobby :n", "TOPIC #lobby :new topic",
         "TOPIC #lobby", "TOPIC #lobby :", "MODE #lobby", "MODE #lobby +kl key 5",
         "MODE #lobby -k", "MODE ann +i", "MODE #lobby b", "NAMES #lobby", "NAMES", "LIST",
         "WHO #lobby", "WHO ann", "WHOIS ann", "AWAY :gone fishing", "AWAY", "MOTD", "LUSERS",
         "PING :tok", "PONG x", "QUIT :bye", "@label=1 :ann!a@h PRIVMSG #lobby :tagged"]
random_commands = st.tuples(
    st.sampled_from(IRC_VERBS),
    st.lists(st.one_of(user_names, room_names, st.sampled_from(["*", "+kl", "0", "5"])),
             max_size=3),
    st.one_of(st.none(), messages),
).map(lambda p: " ".join([p[0], *p[1]]) + ("" if p[2] is None else f" :{p[2]}"))
irc_words = st.one_of(st.sampled_from(LOGINS), st.sampled_from(USUAL), random_commands)


class IrcConn:
    """An IRC connection (built as ``tests/test_irc.py`` builds them), read raw."""

    def __init__(self, factory: IRCFactory) -> None:
        self.client = IRCClient(factory)
        self.lost = False

    def feed(self, data: bytes) -> list[Message]:
        self.client.protocol.dataReceived(data)
        return self.read()

    def read(self) -> list[Message]:
        self.client.clock.advance(0)
        data = self.client.transport.value()
        self.client.transport.clear()
        return irc_lines(data)

    @property
    def closing(self) -> bool:
        return bool(self.client.transport.disconnecting)

    def finish_close(self) -> None:
        if not self.lost:
            self.lost = True
            self.client.drop()


def irc_factory(world: World) -> IRCFactory:
    return IRCFactory(world.portal, OPTIONS, world.clock, world.admission, world.server.stats)


class CodecProperties(FuzzCase):
    @bounded(300)
    @given(st.text(max_size=60))
    def test_parse_message_never_raises(self, line: str) -> None:
        parsed = codec.parse_message(line)
        if parsed is not None:
            self.assertTrue(parsed.command)
            self.assertEqual(parsed.command, parsed.command.upper())
            self.assertNotIn(" ", parsed.command)
            self.assertFalse(parsed.command.isspace())

    @bounded(300)
    @given(middle=st.lists(st.from_regex(r"[A-Za-z0-9#*_.\-]{1,12}", fullmatch=True),
                           max_size=4),
           last=st.text(st.one_of(st.just(" "), st.characters(
               blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"))), max_size=600))
    def test_message_fits_and_round_trips(self, middle: list[str], last: str) -> None:
        data = codec.message("chatd", "NOTICE", *middle, last)
        self.assertLessEqual(len(data), codec.MAX_LINE)
        self.assertTrue(data.endswith(b"\r\n"))
        prefix, command, params = parse(data[:-2].decode("utf-8"))
        self.assertEqual((prefix, command), ("chatd", "NOTICE"))
        self.assertEqual(params[:-1], middle)
        self.assertTrue(last.startswith(params[-1]) if params else not last)

    @bounded(200)
    @given(st.one_of(st.text(max_size=40), st.binary(max_size=30).map(
        lambda b: base64.b64encode(b).decode())))
    @example("é")  # found by the protocol fuzz: ValueError, not None
    def test_sasl_plain_never_raises(self, data: str) -> None:
        result = codec.sasl_plain(data)
        self.assertTrue(result is None or all(isinstance(part, str) for part in result))

    @bounded(200)
    @given(text=st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                        max_size=2000),
           action=st.booleans())
    def test_long_text_is_one_line_within_512_bytes(self, text: str, action: bool) -> None:
        data = codec.text_line(codec.source("ann"), "PRIVMSG", "#lobby", text, action)
        pieces = [params[-1] for _, _, params in irc_lines(data)]
        if action:
            pieces = [p.removeprefix("\x01ACTION ").removesuffix("\x01") for p in pieces]
        self.assertEqual(len(pieces), 1)
        self.assertTrue(text.startswith(pieces[0]))


class OneConnection(FuzzCase):
    def setUp(self) -> None:
        self.recorder = self.watch_logs()

    @bounded(120)
    @given(stream=streams(raw_lines(irc_words, codec.MAX_BODY)), cuts=cut_points)
    # Found by this test: parameters are echoed with their control characters, and an
    # empty or spaced one shifts the numeric's parameters.
    @example(stream=b"FOO\x00\x1b\r\n", cuts=[])
    @example(stream=b"PING :a\rb\r\n", cuts=[])
    @example(stream=b"CAP :\x1b\r\nCAP :\r\n", cuts=[])
    @example(stream=b"NICK ann\r\nUSER a 0 * :x\r\nTOPIC :\r\n", cuts=[])
    @example(stream=b"NICK ann\r\nUSER a 0 * :x\r\nAWAY :x\x1b\r\nWHOIS ann\r\n", cuts=[])
    # Found by this test: a SASL PLAIN response that is not ASCII is an internal error.
    @example(stream=b"AUTHENTICATE PLAIN\r\nAUTHENTICATE \xc3\xa9\r\n", cuts=[])
    @example(stream=b"a" * 510 + b"\n", cuts=[])  # 421 cut to 512 bytes loses its text
    @example(stream=b"\x01\n", cuts=[])  # 421 echoed a CTCP delimiter as the command
    @example(stream=b"@" + b"t" * 5000 + b" PING x\r\nPING y\r\n", cuts=[100, 4700])
    def test_any_bytes_any_split(self, stream: bytes, cuts: list[int]) -> None:
        self.forget_errors(self.recorder)
        one = IrcConn(irc_factory(World(self.fresh_path())))
        expected: list[Message] = []
        for line in [piece + b"\n" for piece in stream.split(b"\n")[:-1]]:
            if one.closing:
                break
            expected.extend(one.feed(line))
        other = IrcConn(irc_factory(World(self.fresh_path())))
        got: list[Message] = []
        for piece in split_at(stream, cuts):
            got.extend(other.feed(piece))
        self.assertEqual(got, expected)
        self.assertEqual(other.closing, one.closing)
        if one.closing:
            self.assertEqual(expected[-1][1], "ERROR")
        for conn in (one, other):
            conn.finish_close()
        self.assert_no_errors(self.recorder)


    @bounded(120)
    @given(tail=st.one_of(st.binary(max_size=40),
                          st.builds(lambda name, text: f"{name} :{text}".encode(),
                                    st.sampled_from(["lobby", "lobby,bob", "lobby bob", "dev",
                                                     "lob\rby", "lobby\x1b", ""]),
                                    messages)))
    @example(tail=b"lobby :")
    @example(tail=b"lobby :\xe9t\xe9")
    @example(tail=b"lobby : hi")
    @example(tail=b"lobby  :hi")
    @example(tail=b"lobby,bob :hi")
    @example(tail=b",bob \t!")  # found by this test: a private echo kept the tab
    def test_the_privmsg_fast_path_does_what_the_general_path_does(self, tail: bytes
                                                                   ) -> None:
        # A prefix (which the server ignores) takes a line off the fast path: with and
        # without one, the sender, a member of the channel and a nick target see the same.
        def run(prefix: bytes) -> list[list[Message]]:
            factory = irc_factory(World(self.fresh_path()))
            ann, bob, cat = IrcConn(factory), IrcConn(factory), IrcConn(factory)
            ann.feed(b"NICK ann\r\nUSER u 0 * :R\r\nCAP REQ :echo-message\r\n"
                     b"JOIN #lobby\r\nJOIN #dev\r\n")
            bob.feed(b"NICK bob\r\nUSER u 0 * :R\r\nAWAY :out\r\nJOIN #lobby\r\n")
            cat.feed(b"NICK cat\r\nUSER u 0 * :R\r\nJOIN #lobby\r\n")
            for conn in (ann, bob, cat):
                conn.read()
            out = [ann.feed(prefix + b"PRIVMSG #" + tail + b"\r\n"), bob.read(), cat.read()]
            for conn in (ann, bob, cat):
                conn.finish_close()
            return out

        self.forget_errors(self.recorder)
        self.assertEqual(run(b""), run(b":ann!u@h "))
        self.assert_no_errors(self.recorder)


IRC_SLOTS, LINE_SLOTS = 4, 2
# Registration in one step, and what registered people do, weighted up.
REGISTER = ["NICK ann\r\nUSER u 0 * :R", "NICK bob\r\nUSER u 0 * :R",
            "PASS password1\r\nNICK acct\r\nUSER u 0 * :R"]
IRC_SESSION = ["JOIN #lobby", "JOIN #dev,#lobby", "JOIN #own", "PART #lobby", "PART #dev",
               "JOIN 0", "PRIVMSG #lobby :hi", "PRIVMSG #dev,ann :hi", "QUIT :bye", "QUIT",
               "TOPIC #lobby :t", "AWAY :out", "MODE #own +l 1", "NAMES #lobby", "WHOIS acct"]
step = st.one_of(
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), st.sampled_from(REGISTER)),
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), st.sampled_from(IRC_SESSION)),
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), st.sampled_from(IRC_SESSION)),
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), irc_words),
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), st.sampled_from(LOGINS)),
    st.tuples(st.just("irc"), st.integers(0, IRC_SLOTS - 1), st.sampled_from(USUAL)),
    st.tuples(st.just("line"), st.integers(0, LINE_SLOTS - 1), line_protocol_lines),
    st.tuples(st.just("line"), st.integers(0, LINE_SLOTS - 1), st.sampled_from(SESSION)),
    st.tuples(st.just("drop"), st.integers(0, IRC_SLOTS + LINE_SLOTS - 1), st.just("")),
    st.tuples(st.just("tick"), st.just(0), st.sampled_from(["1", "61", "130"])),
)


class ManyConnections(FuzzCase):
    def setUp(self) -> None:
        self.recorder = self.watch_logs()

    @bounded(100)
    @given(steps=st.lists(step, min_size=1, max_size=40))
    @example(steps=[("irc", 0, "NICK acct"), ("irc", 0, "PASS password1"),
                    ("line", 0, "/signup acct password1"), ("irc", 0, "USER u 0 * :R"),
                    ("irc", 0, "JOIN #lobby"), ("line", 0, "/join lobby"),
                    ("irc", 0, "PRIVMSG #lobby :\x01ACTION waves\x01"),
                    ("line", 0, "/create own"), ("irc", 0, "JOIN #own"),
                    ("irc", 0, "MODE #own +kl key 5"), ("line", 1, "/nick bob"),
                    ("line", 1, "/join own key"), ("line", 0, "/delete own"),
                    ("drop", 4, ""), ("irc", 0, "QUIT :bye")])
    @example(steps=[("irc", 0, "NICK ann"), ("irc", 0, "USER u 0 * :R"),
                    ("irc", 0, "AWAY :\x1b[2J"), ("irc", 1, "NICK bob"),
                    ("irc", 1, "USER u 0 * :R"), ("irc", 1, "PRIVMSG ann :hi")])
    def test_random_sessions_keep_the_core_consistent(self, steps: list[tuple[str, int, str]]
                                                      ) -> None:
        self.forget_errors(self.recorder)
        world = World(self.fresh_path(), options=LINE_OPTIONS)
        factory = irc_factory(world)
        conns: list[IrcConn | Tracked | None] = [None] * (IRC_SLOTS + LINE_SLOTS)
        conn: IrcConn | Tracked | None = None
        for kind, index, arg in steps:
            if kind == "tick":
                world.clock.advance(float(arg))
            elif kind == "drop":
                dropped = conns[index]
                if dropped is not None:
                    dropped.finish_close()
            else:
                slot = index if kind == "irc" else IRC_SLOTS + index
                conn = conns[slot]
                if conn is None or conn.lost:
                    conn = conns[slot] = (IrcConn(factory) if kind == "irc"
                                          else Tracked(world))
                conn.feed(arg.encode("utf-8", "surrogatepass") + b"\r\n")
            for other in conns:
                if other is None or other.lost:
                    continue
                heard = other.read()
                if isinstance(other, Tracked) and other is not conn:
                    self.assertEqual(finals(heard), [], "a reply to nothing")  # type: ignore[arg-type]
                if other.closing:
                    other.finish_close()
            check_state(world.server)
            conn = None
        for other in conns:
            if other is not None:
                other.finish_close()
        check_state(world.server)
        # Away messages live on the core's users, so they go with them.
        self.assertEqual((world.server.users, world.server.session_count), ({}, 0))
        self.assert_no_errors(self.recorder)
