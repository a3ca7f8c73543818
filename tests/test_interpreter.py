"""The line command language without any transport: text in, replies and session calls out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from chatd.frontends.codes import Code
from chatd.frontends.interpreter import (
    COMMANDS,
    Command,
    Ending,
    ICommandClient,
    LineInterpreter,
    Reply,
    split_words,
)
from chatd.frontends.line import encode_reply
from chatd.kernel import errors
from chatd.kernel.credentials import AccountLogin, GuestNick
from chatd.kernel.events import Joined, LeaveReason, Said
from chatd.kernel.interfaces import IChatSession

from fakes import RecordingMind, World


class Counts:
    """What the interpreter counts, as the daemon's Stats does."""

    def __init__(self) -> None:
        self.login_failures = 0
        self.rejected: Counter[str] = Counter()


@implementer(ICommandClient)
class PortalClient:
    """A client with no connection at all: logins go to the world's portal, events to a
    RecordingMind."""

    def __init__(self, world: World, host: str = "192.0.2.1") -> None:
        self.world = world
        self.host = host
        self.peer = f"{host}:40000"
        self.session: IChatSession | None = None
        self.mind = RecordingMind()
        self.logins: list[ICredentials] = []

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        self.logins.append(credentials)

        def keep(result: tuple[Any, IChatSession, Any]) -> IChatSession:
            self.session = result[1]
            return result[1]

        return self.world.portal.login(credentials, self.mind, IChatSession).addCallback(keep)


@implementer(ICommandClient)
class StubClient:
    """A client whose session is whatever the test gives it."""

    host = "192.0.2.2"
    peer = "192.0.2.2:40000"

    def __init__(self, session: object) -> None:
        self.session = session

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        raise AssertionError("no login expected")


class Flooder:
    """A session whose every message is one too many."""

    name = "flo"

    def say(self, text: str, room: str | None = None, action: bool = False) -> None:
        raise errors.Flooding("disconnected for flooding (5 messages too fast)")


class Talker:
    """A session that has no rooms to list and keeps what it is told to say."""

    name = "tal"

    def __init__(self) -> None:
        self.said: list[str] = []

    def rooms(self) -> list[object]:
        return []

    def say(self, text: str, room: str | None = None, action: bool = False) -> None:
        self.said.append(text)


class Broken:
    """A session with a bug: /rooms fails with something that is not a ChatError."""

    name = "bug"

    def rooms(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        d.errback(RuntimeError("a bug"))
        return d


class InterpreterTestCase(TestCase):
    def setUp(self) -> None:
        self.world = World(Path(self.mktemp()).absolute().parent)
        self.counts = Counts()
        self.interpreter = LineInterpreter(self.counts)

    def answer(self, client: object, text: str) -> Reply | None:
        """The reply to ``text``, whether it came at once or as a Deferred that has fired."""
        answer = self.interpreter.feed(client, text)  # type: ignore[arg-type]
        if isinstance(answer, Deferred):
            return self.successResultOf(answer)
        return answer

    def guest(self, name: str) -> PortalClient:
        client = PortalClient(self.world)
        self.assertEqual(self.answer(client, f"/nick {name}").code,  # type: ignore[union-attr]
                         Code.WELCOME)
        return client


class Anonymously(InterpreterTestCase):
    def test_help_is_one_multi_line_reply_listing_every_command(self) -> None:
        answer = self.answer(PortalClient(self.world), "/help")
        assert answer is not None
        self.assertEqual((answer.code, answer.text), (Code.HELP, "end of help"))
        for command in COMMANDS.values():
            self.assertTrue(any(line.startswith(command.usage) for line in answer.lines),
                            command.usage)
        data = encode_reply(answer).decode()
        self.assertTrue(data.startswith("214-/help "))
        self.assertTrue(data.endswith("214 end of help\r\n"))

    def test_a_nick_logs_in_through_the_client_with_its_address(self) -> None:
        client = PortalClient(self.world)
        answer = self.answer(client, "/nick ann")
        self.assertEqual(answer, Reply(Code.WELCOME,
                                       "welcome guest ann: you are a guest; /join a room to talk"))
        self.assertEqual(client.logins, [GuestNick("ann", "192.0.2.1")])
        self.assertTrue(self.world.server.is_online("ann"))

    def test_commands_that_need_a_name_are_refused_before_their_arguments_are_read(
            self) -> None:
        client = PortalClient(self.world)
        for line in ("/join", "/join lobby", "/rooms", "hello", "/me waves"):
            answer = self.answer(client, line)
            self.assertEqual(answer.code if answer else None, Code.NOT_NAMED, line)
        self.assertEqual(self.counts.rejected["NotNamed"], 5)

    def test_blank_lines_get_no_reply(self) -> None:
        client = PortalClient(self.world)
        self.assertIsNone(self.interpreter.feed(client, ""))
        self.assertIsNone(self.interpreter.feed(client, "   "))

    def test_an_unknown_command_is_named_without_its_control_characters(self) -> None:
        answer = self.answer(PortalClient(self.world), "/FOO\x1b[2J x")
        assert answer is not None
        self.assertEqual(answer.code, Code.BAD_SYNTAX)
        self.assertNotIn("\x1b", answer.text)
        self.assertTrue(answer.text.startswith("unknown command /foo"))

    def test_quit_ends_the_client_with_its_message(self) -> None:
        answer = self.answer(PortalClient(self.world), "/quit see you all")
        self.assertEqual(answer, Reply(Code.BYE, "bye",
                                       end=Ending(LeaveReason.QUIT, "see you all")))


class LoggingIn(InterpreterTestCase):
    def test_a_second_login_is_refused_without_asking_the_portal(self) -> None:
        client = self.guest("ann")
        answer = self.answer(client, "/login ann password1")
        self.assertEqual(answer, Reply(Code.ALREADY_NAMED,
                                       "you are ann already; /quit and reconnect to change"))
        self.assertEqual(len(client.logins), 1)

    def test_a_login_that_waits_on_the_hasher_answers_later(self) -> None:
        self.assertEqual(self.answer(PortalClient(self.world), "/signup alice password1").code,  # type: ignore[union-attr]
                         Code.WELCOME)
        self.world.hasher.hold = True
        client = PortalClient(self.world)
        answer = self.interpreter.feed(client, "/login alice password1")
        assert isinstance(answer, Deferred)
        self.assertNoResult(answer)
        self.world.hasher.release()
        self.assertEqual(self.successResultOf(answer),
                         Reply(Code.WELCOME, "welcome account alice: welcome back"))
        self.assertEqual(client.logins, [AccountLogin("alice", "password1", "192.0.2.1")])

    def test_a_wrong_password_maps_to_its_code(self) -> None:
        answer = self.answer(PortalClient(self.world), "/login nobody pw-pw-pw")
        self.assertEqual(answer, Reply(Code.WRONG_CREDENTIALS, "wrong name or password"))
        self.assertEqual(self.counts.rejected["WrongCredentials"], 1)


class InRooms(InterpreterTestCase):
    def test_join_calls_the_session_and_replies_after_the_event(self) -> None:
        client = self.guest("ann")
        self.assertEqual(self.answer(client, "/join lobby"),
                         Reply(Code.OK, "joined lobby: you are in lobby (1 member)"))
        [joined] = client.mind.events
        assert isinstance(joined, Joined)
        self.assertEqual((joined.room, joined.who), ("lobby", "ann"))

    def test_a_message_has_no_reply_its_echo_acknowledges_it(self) -> None:
        client = self.guest("ann")
        self.answer(client, "/join lobby")
        self.assertIsNone(self.interpreter.feed(client, "//slash and all"))
        said = client.mind.events[-1]
        assert isinstance(said, Said)
        self.assertEqual((said.sender, said.text), ("ann", "/slash and all"))

    def test_who_and_rooms_are_multi_line(self) -> None:
        client = self.guest("ann")
        self.answer(client, "/join lobby")
        self.assertEqual(encode_reply(self.answer(client, "/who")),  # type: ignore[arg-type]
                         b"211-@ann\r\n211 1 member in lobby\r\n")  # who opened it runs it
        self.assertEqual(encode_reply(self.answer(client, "/rooms")),  # type: ignore[arg-type]
                         b"210-lobby 1/100 open temporary\r\n210 1 room\r\n")

    def test_a_wrong_argument_count_shows_the_usage(self) -> None:
        client = self.guest("ann")
        self.assertEqual(self.answer(client, "/msg bob"),
                         Reply(Code.BAD_SYNTAX, "usage: /msg USER TEXT"))

    def test_a_limit_that_is_not_a_number_is_bad_syntax(self) -> None:
        client = self.guest("ann")
        self.assertEqual(self.answer(client, "/limit lobby ten"),
                         Reply(Code.BAD_SYNTAX, "'ten' is not a number"))


class Failures(InterpreterTestCase):
    def test_flooding_answers_429_and_ends_the_client(self) -> None:
        answer = self.answer(StubClient(Flooder()), "hello")
        self.assertEqual(answer, Reply(
            Code.RATE_LIMITED, "disconnected for flooding (5 messages too fast)",
            end=Ending(LeaveReason.FLOOD, notice="disconnected for flooding")))

    def test_a_bug_is_a_500_and_is_logged(self) -> None:
        answer = self.answer(StubClient(Broken()), "/rooms")
        self.assertEqual(answer, Reply(Code.INTERNAL_ERROR,
                                       "internal server error; it has been logged"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_a_reply_that_fails_after_a_wait_is_a_500_and_is_logged(self) -> None:
        broken = Command(lambda client: succeed("rooms"), "/broken", "a reply with a bug",
                         named=False, done=lambda rooms, *_: Reply(Code.OK, rooms[99]))
        COMMANDS["broken"] = broken
        self.addCleanup(COMMANDS.pop, "broken")
        self.assertEqual(self.answer(StubClient(None), "/broken"),
                         Reply(Code.INTERNAL_ERROR, "internal server error; it has been logged"))
        self.assertEqual(len(self.flushLoggedErrors(IndexError)), 1)

    def test_a_refusal_from_a_reply_after_a_wait_maps_to_its_code(self) -> None:
        def done(_: object) -> Reply:
            raise errors.NoSuchRoom("there is no room x")

        COMMANDS["refused"] = Command(lambda client: succeed(None), "/refused", "a refusal",
                                      named=False, done=done)
        self.addCleanup(COMMANDS.pop, "refused")
        self.assertEqual(self.answer(StubClient(None), "/refused"),
                         Reply(Code.NO_SUCH_ROOM, "there is no room x"))
        self.assertEqual(self.counts.rejected["NoSuchRoom"], 1)

    def test_commands_after_spaces_and_tabs_are_commands_and_double_slashes_are_text(
            self) -> None:
        talker = Talker()
        for line in (" /rooms", "\t/rooms", " \t /ROOMS"):
            self.assertEqual(self.answer(StubClient(talker), line),
                             Reply(Code.ROOMS, "0 rooms", []), line)
        for line in ("//rooms", " //rooms", "\t", " \t ", "plain"):
            self.assertIsNone(self.answer(StubClient(talker), line), line)
        self.assertEqual(talker.said, ["/rooms", " //rooms", "plain"])


class Words(TestCase):
    def test_words_are_split_on_runs_of_ascii_spaces_only(self) -> None:
        self.assertEqual(split_words(""), [])
        self.assertEqual(split_words("   "), [])
        self.assertEqual(split_words("ann"), ["ann"])
        self.assertEqual(split_words("a\tb\u00a0c"), ["a\tb\u00a0c"])
        self.assertEqual(split_words("  ann   bob "), ["ann", "bob"])
        self.assertEqual(split_words("ann", 2), ["ann"])
        self.assertEqual(split_words(" bob  says  hi there ", 2), ["bob", "says  hi there "])
