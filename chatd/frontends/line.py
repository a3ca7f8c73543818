"""The line protocol: what a person types into telnet or netcat, and the bundled client.

One line in, one call on the core, one final reply out. Commands are handled strictly one at
a time per connection: while one waits on a password hash or a durable write, further lines
queue (and reading pauses once the queue is long), so a pasted ``/login`` then ``/join``
behaves as typed. Domain errors become reply codes in ``_CODES`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.connection import ChatConnection, FrontendFactory
from chatd.frontends.entry import Frontend
from chatd.frontends.line_codec import (
    DEFAULT_PORT,
    Code,
    TooLong,
    multiline,
    render_event,
    reply,
)
from chatd.kernel import errors
from chatd.kernel.credentials import AccountLogin, GuestNick, Signup
from chatd.kernel.events import Event, LeaveReason
from chatd.kernel.interfaces import IChatMind, IChatSession
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.settings import Settings, listeners
from chatd.kernel.text import for_log
from chatd.kernel.views import RoomView

log = Logger()

_CODES: dict[type[errors.ChatError], Code] = {
    errors.BadSyntax: Code.BAD_SYNTAX,
    errors.NotNamed: Code.NOT_NAMED,
    errors.AlreadyNamed: Code.ALREADY_NAMED,
    errors.NotAllowed: Code.NOT_ALLOWED,
    errors.NoSuchRoom: Code.NO_SUCH_ROOM,
    errors.NoSuchUser: Code.NO_SUCH_USER,
    errors.NotInRoom: Code.NOT_IN_ROOM,
    errors.NameTaken: Code.NAME_TAKEN,
    errors.BadName: Code.BAD_NAME,
    errors.BadPassword: Code.BAD_PASSWORD,
    errors.BadText: Code.BAD_TEXT,
    errors.WrongCredentials: Code.WRONG_CREDENTIALS,
    errors.WrongRoomPassword: Code.WRONG_ROOM_PASSWORD,
    errors.TooManyRooms: Code.NOT_ALLOWED,
    errors.RoomFull: Code.ROOM_FULL,
    errors.TooManySessions: Code.TOO_MANY_SESSIONS,
    errors.GuestsDisabled: Code.GUESTS_DISABLED,
    errors.AccountLocked: Code.ACCOUNT_LOCKED,
    errors.RateLimited: Code.RATE_LIMITED,
    errors.Flooding: Code.RATE_LIMITED,
    errors.AccountsUnavailable: Code.ACCOUNTS_UNAVAILABLE,
    errors.StorageFailed: Code.STORAGE_FAILED,
    errors.ServerBusy: Code.BUSY,
    errors.ServerFull: Code.SERVER_FULL,
}



@dataclass(frozen=True, slots=True)
class Options:
    """The line frontend's settings (defaults: the shared keys', ``chatd.kernel.keys``)."""

    max_line: int = DEFAULTS["max-line"]
    idle_timeout: float = DEFAULTS["idle-timeout"]
    max_output: int = DEFAULTS["max-output"]
    guests: bool = not DEFAULTS["require-account"]
    login_timeout: float = DEFAULTS["login-timeout"]
    max_bytes_before_login: int = DEFAULTS["max-bytes-before-login"]
    direct_send: bool = DEFAULTS["direct-send"]

    @classmethod
    def from_settings(cls, settings: Settings) -> Options:
        return cls(
            max_line=settings.max_line,
            idle_timeout=settings.idle_timeout,
            max_output=settings.max_output,
            guests=not settings.require_account,
            login_timeout=settings.login_timeout,
            max_bytes_before_login=settings.max_bytes_before_login,
            direct_send=settings.direct_send,
        )


@dataclass(frozen=True, slots=True)
class Command:
    """One slash command: how many arguments, whether the last takes the rest of the line,
    whether it needs a name, and how to use it (shown in /help and with a 400)."""

    handler: str
    usage: str
    summary: str
    min_args: int = 0
    max_args: int = 0
    rest: bool = False
    named: bool = True


_COMMANDS: dict[str, Command] = {
    "help": Command("do_help", "/help", "this list", named=False),
    "signup": Command("do_signup", "/signup NAME PASSWORD", "create an account and log in",
                      2, 2, named=False),
    "login": Command("do_login", "/login NAME PASSWORD", "log in to your account",
                     2, 2, named=False),
    "nick": Command("do_nick", "/nick NAME", "chat as a guest (no password)", 1, 1,
                    named=False),
    "rooms": Command("do_rooms", "/rooms", "list rooms: members/limit, locked, owner, topic"),
    "join": Command("do_join", "/join ROOM [PASSWORD]",
                    "join a room (creating a temporary one if none) and talk there", 1, 2),
    "leave": Command("do_leave", "/leave [ROOM]", "leave a room (default: the current one)",
                     0, 1),
    "who": Command("do_who", "/who [ROOM]", "list a room's members", 0, 1),
    "msg": Command("do_msg", "/msg USER TEXT", "send a private message", 2, 2, rest=True),
    "me": Command("do_me", "/me TEXT", "act in the current room (* you TEXT)", 1, 1,
                  rest=True),
    "create": Command("do_create", "/create ROOM [LIMIT] [PASSWORD]",
                      "create a persistent room you own, and join it", 1, 3),
    "topic": Command("do_topic", "/topic ROOM [TEXT]", "set (or clear) a room's topic", 1, 2,
                     rest=True),
    "limit": Command("do_limit", "/limit ROOM N", "owner: change the member limit", 2, 2),
    "lock": Command("do_lock", "/lock ROOM PASSWORD", "owner: require a password to join",
                    2, 2),
    "unlock": Command("do_unlock", "/unlock ROOM", "owner: remove the room's password", 1, 1),
    "delete": Command("do_delete", "/delete ROOM", "owner: delete the room", 1, 1),
    "passwd": Command("do_passwd", "/passwd OLD NEW", "change your password", 2, 2),
    "quit": Command("do_quit", "/quit [MESSAGE]", "leave the server", 0, 1, rest=True,
                    named=False),
}


def split_words(text: str, most: int = 0) -> list[str]:
    """Split on runs of ASCII spaces only; with ``most``, the last of at most ``most`` words is
    the rest of the line as typed. Other white space (a tab, NBSP, U+2028) is part of a word,
    where the name and password rules refuse it, so every protocol splits a line alike."""
    words: list[str] = []
    rest = text.lstrip(" ")
    while rest:
        if most and len(words) == most - 1:
            words.append(rest)
            break
        word, _, rest = rest.partition(" ")
        words.append(word)
        rest = rest.lstrip(" ")
    return words


def split_arguments(text: str, command: Command) -> list[str]:
    """Split into arguments; with ``rest``, the last one is the rest of the line as typed."""
    args = split_words(text, command.max_args if command.rest else 0)
    if not command.min_args <= len(args) <= command.max_args:
        raise errors.BadSyntax(f"usage: {command.usage}")
    return args


def _room_line(room: RoomView) -> str:
    state = "locked" if room.locked else "open"
    owner = f"owned by {room.owner}" if room.persistent else "temporary"
    topic = f": {room.topic}" if room.topic else ""
    return f"{room.name} {room.count}/{room.limit} {state} {owner}{topic}"


@implementer(IChatMind, IHalfCloseableProtocol)
class LineProtocol(ChatConnection, TimeoutMixin):
    """One telnet/netcat connection.

    Half-closes are honoured: ``printf '/nick a\\n/join x\\nhi\\n' | nc HOST PORT`` ends its
    input before the replies come back, and every queued line is still run and answered
    before the connection closes.
    """

    __slots__ = ("_input_done", "_portal", "callLater")
    kind = "line"
    render = staticmethod(render_event)
    echo = True  # the sender sees its own message, in order with everyone else's

    def __init__(self, home: LineFactory) -> None:
        super().__init__(home, home.options.max_line)
        self._portal = home.portal
        # TimeoutMixin reads its clock from here, so tests can pass a task.Clock.
        self.callLater = home.clock.callLater  # type: ignore[method-assign, assignment]
        self._input_done = False

    # -- connection --------------------------------------------------------------------

    def admitted(self) -> None:
        guests = "/nick NAME to chat as a guest, " if self._options.guests else ""
        self.send(
            Code.GREETING,
            f"chatd ready. {guests}/signup NAME PASSWORD or /login NAME PASSWORD for an "
            "account, /help for all commands",
        )
        if self._options.idle_timeout:
            self.setTimeout(self._options.idle_timeout)

    def activity(self) -> None:
        self.resetTimeout()

    def too_much_text(self) -> str:
        return super().too_much_text() + "; goodbye"

    def timeoutConnection(self) -> None:
        self.leave_reason = LeaveReason.TIMEOUT
        self.close(f"idle for {self._options.idle_timeout:g} seconds; goodbye")

    def close(self, why: str) -> None:
        """Tell the client why (109), and close once what is queued has been sent."""
        self.send(Code.CLOSING, why)
        self.outbox.close()

    def readConnectionLost(self) -> None:
        self._input_done = True
        self.drain()

    def writeConnectionLost(self) -> None:
        self.transport.loseConnection()

    def drain(self) -> None:
        super().drain()
        if self._input_done and self.idle() and not self.outbox.closed:
            self.outbox.close()

    def gone(self) -> None:
        self.setTimeout(None)

    def deliver(self, event: Event) -> None:
        self.outbox.write(event.encoded(render_event))

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.outbox.write

    # -- input -------------------------------------------------------------------------

    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        return self._line(item)

    def _line(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one line; a Deferred if its reply is still to come."""
        if item is TooLong.LINE:
            self._home.stats.rejected["LineTooLong"] += 1
            self.send(Code.LINE_TOO_LONG,
                      f"line too long (over {self._options.max_line} bytes); it was ignored")
            return None
        assert isinstance(item, bytes)
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError:
            self._home.stats.rejected["BadEncoding"] += 1
            self.send(Code.BAD_ENCODING, "that line is not valid UTF-8; it was ignored")
            return None
        if not text.strip():
            return None
        if text.startswith("/") and not text.startswith("//"):
            verb, _, arguments = text[1:].partition(" ")
            return self._command(verb.lower(), arguments)
        try:
            self._require_session().say(text[1:] if text.startswith("//") else text)
        except errors.ChatError as error:
            self._error(error)
        return None

    def _command(self, verb: str, arguments: str) -> Deferred[None] | None:
        command = _COMMANDS.get(verb)
        if command is None:
            self.send(Code.BAD_SYNTAX,
                      f"unknown command /{for_log(verb, 32)}; /help lists them")
            return None
        d = maybeDeferred(self._run, command, arguments)
        d.addErrback(self._failed, verb)
        return None if d.called else d

    def _run(self, command: Command, arguments: str) -> Any:
        if command.named:
            self._require_session()
        return getattr(self, command.handler)(*split_arguments(arguments, command))

    def _require_session(self) -> IChatSession:
        if self.session is None:
            raise errors.NotNamed(
                "log in first: /nick NAME (guest), /login NAME PASSWORD or /signup NAME PASSWORD"
            )
        return self.session

    def _failed(self, failure: Failure, verb: str) -> None:
        if isinstance(failure.value, errors.ChatError):
            self._error(failure.value)
        else:
            log.failure("/{verb} from {peer} failed", failure, verb=verb, peer=self.peer)
            self.send(Code.INTERNAL_ERROR, "internal server error; it has been logged")

    def _error(self, error: errors.ChatError) -> None:
        self._home.stats.rejected[type(error).__name__] += 1
        self.send(_CODES.get(type(error), Code.BAD_SYNTAX), str(error))
        if isinstance(error, errors.Flooding):
            log.warn("{peer} ({name}) disconnected for flooding", peer=self.peer,
                     name=self.session.name if self.session else "anonymous")
            self.leave_reason = LeaveReason.FLOOD
            self.close("disconnected for flooding")

    def send(self, code: Code, text: str) -> None:
        self.outbox.write(reply(code, text))

    # -- logging in --------------------------------------------------------------------

    def _log_in(self, credentials: ICredentials, welcome: str) -> Deferred[None]:
        if self.session is not None:
            raise errors.AlreadyNamed(
                f"you are {self.session.name} already; /quit and reconnect to change"
            )

        def logged_in(result: tuple[Any, IChatSession, Callable[[], None]]) -> None:
            _, session, logout = result
            if self._closed:
                logout()
                return
            self.logged_in(session, logout)
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in ({kind}) from {peer}", name=session.name, kind=kind,
                     peer=self.peer)
            self.send(Code.WELCOME, welcome.format(name=session.name))

        def refused(failure: Failure) -> Failure:
            if failure.check(errors.WrongCredentials):
                self._home.stats.login_failures += 1
            log.info("login refused from {peer}: {why}", peer=self.peer,
                     why=for_log(failure.getErrorMessage(), 200))
            return failure

        return self._portal.login(credentials, self, IChatSession).addCallbacks(
            logged_in, refused
        )

    def do_signup(self, name: str, password: str) -> Deferred[None]:
        return self._log_in(Signup(name, password, self.host),
                            "welcome, {name}: your account is created and you are logged in")

    def do_login(self, name: str, password: str) -> Deferred[None]:
        return self._log_in(AccountLogin(name, password, self.host), "welcome back, {name}")

    def do_nick(self, name: str) -> Deferred[None]:
        return self._log_in(GuestNick(name, self.host),
                            "welcome, {name}: you are a guest; /join a room to talk")

    def do_help(self) -> None:
        width = max(len(c.usage) for c in _COMMANDS.values())
        lines = [f"{c.usage:<{width}}  {c.summary}" for c in _COMMANDS.values()]
        lines.append(f"{'TEXT':<{width}}  say TEXT in your current room (//TEXT if it starts "
                     "with /)")
        self.outbox.write(multiline(Code.HELP, lines, "end of help"))

    def do_quit(self, message: str = "") -> None:
        self.leave_reason, self.quit_message = LeaveReason.QUIT, message
        self.send(Code.BYE, "bye")
        self.outbox.close()

    # -- rooms -------------------------------------------------------------------------

    def do_rooms(self) -> None:
        rooms = self._require_session().rooms()
        lines = [_room_line(room) for room in rooms]
        self.outbox.write(multiline(Code.ROOMS, lines, _count(len(rooms), "room")))

    def do_join(self, name: str, password: str | None = None) -> Deferred[None]:
        def joined(room: RoomView) -> None:
            topic = f"; topic: {room.topic}" if room.topic else ""
            self.send(Code.OK, f"you are in {room.name} ({_count(room.count, 'member')})"
                      f"{topic}")

        return self._require_session().join(name, password).addCallback(joined)

    def do_leave(self, name: str | None = None) -> None:
        room = self._require_session().leave(name)
        self.send(Code.OK, f"you left {room.name}")

    def do_who(self, name: str | None = None) -> None:
        room = self._require_session().who(name)
        names = sorted((member.name for member in room.members), key=str.casefold)
        lines, line = [], ""
        for member in names:
            if line and len(line) + len(member) > 400:
                lines.append(line)
                line = ""
            line = f"{line} {member}" if line else member
        if line:
            lines.append(line)
        self.outbox.write(
            multiline(Code.MEMBERS, lines, f"{_count(len(names), 'member')} in {room.name}")
        )

    def do_msg(self, name: str, text: str) -> None:
        user = self._require_session().message(name, text)
        self.send(Code.OK, f"sent to {user.name}")

    def do_me(self, text: str) -> None:
        self._require_session().say(text, action=True)

    def do_create(
        self, name: str, limit: str | None = None, password: str | None = None
    ) -> Deferred[None]:
        def created(room: RoomView) -> None:
            lock = ", locked" if room.locked else ""
            self.send(Code.OK, f"created {room.name} (limit {room.limit}{lock}); you own it")

        number = None if limit is None else _number(limit)
        return self._require_session().create(name, number, password).addCallback(created)

    def do_topic(self, name: str, text: str = "") -> Deferred[None]:
        return self._require_session().set_topic(name, text).addCallback(
            lambda _: self.send(Code.OK, "topic set" if text.strip() else "topic cleared")
        )

    def do_limit(self, name: str, limit: str) -> Deferred[None]:
        number = _number(limit)
        return self._require_session().set_limit(name, number).addCallback(
            lambda _: self.send(Code.OK, f"member limit set to {number}")
        )

    def do_lock(self, name: str, password: str) -> Deferred[None]:
        return self._require_session().lock(name, password).addCallback(
            lambda _: self.send(Code.OK, "room locked")
        )

    def do_unlock(self, name: str) -> Deferred[None]:
        return self._require_session().unlock(name).addCallback(
            lambda _: self.send(Code.OK, "room unlocked")
        )

    def do_delete(self, name: str) -> Deferred[None]:
        return self._require_session().delete(name).addCallback(
            lambda _: self.send(Code.OK, "room deleted")
        )

    def do_passwd(self, old: str, new: str) -> Deferred[None]:
        return self._require_session().change_password(old, new).addCallback(
            lambda _: self.send(Code.OK, "password changed")
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise errors.BadSyntax(f"{text!r} is not a number")
    return int(text)


class LineFactory(FrontendFactory):
    options: Options

    def buildProtocol(self, addr: Any) -> LineProtocol:
        protocol = LineProtocol(self)
        protocol.factory = self
        return protocol


# The default accepts connections from this host only.
DEFAULT_LINE = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"

FRONTEND = Frontend(
    name="line",
    keys={
        "line": listeners("line-protocol listener, a Twisted endpoint string (repeatable; "
                          "ssl:PORT:privateKey=KEY:certKey=CERT for TLS)", (DEFAULT_LINE,)),
    },
    options=Options.from_settings,
    factory=LineFactory,
)
