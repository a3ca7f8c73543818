"""The line command language, sans-IO: one line of text in, one reply out.

``LineInterpreter.feed(client, text)`` takes one decoded line as a person types it
(``/join lobby``, ``hello all``), makes the call on the client's session, and returns the
final reply (a
``Reply``: a code, its text, and continuation lines for a multi-line reply), None when there
is none to give (a blank line; a message, which its echo acknowledges), or a Deferred of
either when the call waits on a password hash or a durable write. It holds no transport and
writes nothing: the line protocol frames and decodes the bytes and writes the reply, and a
datagram or a browser frame can carry the same language.

Every command is one row of ``COMMANDS``: what it calls, its usage and summary (for /help and
a 400), its arguments, whether it needs a name, and the reply it earns when the call succeeds.
Domain errors become reply codes in ``CODES`` and nowhere else. The interpreter reaches the
world through an ``ICommandClient``: the session once there is one, and a login through the
frontend's portal. It keeps nothing of its own per client, so a frontend has one for all of
its clients and an idle connection pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface

from chatd.frontends.codes import Code
from chatd.frontends.policy import Counters
from chatd.frontends.rendering import parse_timestamp, timestamp
from chatd.kernel import errors
from chatd.kernel.addresses import ban_duration
from chatd.kernel.credentials import AccountLogin, GuestNick, ResumeSeat, Signup
from chatd.kernel.events import Event, Joined, LeaveReason
from chatd.kernel.history import MAX_REQUEST, HistoryQuery
from chatd.kernel.interfaces import IChatSession, IRoomMember, ISessionInfo
from chatd.kernel.names import fold
from chatd.kernel.records import AddressBan
from chatd.kernel.text import for_log
from chatd.kernel.views import DepartureView, RoomView, UserView

log = Logger()

# Messages /history gives without a count.
DEFAULT_HISTORY = 20
# After the name of a member on another node while that node is out of reach.
UNREACHABLE = "(unreachable)"
# After the name of a member whose seat is held (chatd.core.seats) in /who.
INACTIVE = "(inactive)"

CODES: dict[type[errors.ChatError], Code] = {
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
    errors.Banned: Code.BANNED,
    errors.InviteOnly: Code.INVITE_ONLY,
    errors.AlreadyInRoom: Code.ALREADY_IN_ROOM,
    errors.TooManySessions: Code.TOO_MANY_SESSIONS,
    errors.GuestsDisabled: Code.GUESTS_DISABLED,
    errors.AccountLocked: Code.ACCOUNT_LOCKED,
    errors.RateLimited: Code.RATE_LIMITED,
    errors.Flooding: Code.RATE_LIMITED,
    errors.AccountsUnavailable: Code.ACCOUNTS_UNAVAILABLE,
    errors.StorageFailed: Code.STORAGE_FAILED,
    errors.ServerBusy: Code.BUSY,
    errors.ServerFull: Code.SERVER_FULL,
    errors.BadUpload: Code.BAD_UPLOAD,
    errors.UploadTooSlow: Code.UPLOAD_TOO_SLOW,
    errors.NoSuchFile: Code.NO_SUCH_FILE,
    errors.NoSuchMessage: Code.NO_SUCH_MESSAGE,
    errors.FileTooLarge: Code.FILE_TOO_LARGE,
    errors.QuotaExceeded: Code.QUOTA_EXCEEDED,
}


class ICommandClient(Interface):
    """The connection an interpreter serves, whatever carries its lines."""

    session = Attribute("IChatSession | None: the client's session, once logged in.")
    host = Attribute("str: the client's address, which its credentials carry.")
    peer = Attribute("str: where the client is, for logs.")
    udp_port = Attribute("int | None: the UDP channel's port a /token names; None: it is off.")

    def log_in(credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Log in through the frontend's portal and keep the session; None if the client
        left meanwhile. Fails with a ChatError when the login is refused."""

    def log_out() -> str:
        """End the session and keep the connection, anonymous again (/logout); the greeting
        to give it."""

    def upload_file(room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        """Take a file of ``size`` raw bytes from the client for ``room`` (after telling it to
        send them); the final reply once it is stored. Raises or fails with a ChatError."""

    def download_file(file_id: str) -> Deferred[Reply]:
        """Send a stored file's raw bytes (after saying how many); the final reply once
        they are out. Raises a ChatError."""


@dataclass(frozen=True, slots=True)
class Ending:
    """The client is to go once its reply is out: why its rooms are told it left, its quit
    message, and (if any) the text of a closing notice after the reply."""

    reason: LeaveReason
    message: str = ""
    notice: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """The one final reply to a line: ``CODE text``, after ``CODE-line`` for each of
    ``lines`` (a multi-line reply); with ``end``, the client is closed after it. ``history``
    are kept messages sent before it as 110 events (/history's), each frontend rendering
    them in its own format."""

    code: Code
    text: str
    lines: Sequence[str] = ()
    end: Ending | None = None
    history: Sequence[Event] = ()


Answer = Reply | None | Deferred[Reply | None]


def _nothing(*_: object) -> None:
    return None


def _ok(text: str) -> Callable[..., Reply]:
    return lambda *_: Reply(Code.OK, text)


@dataclass(frozen=True, slots=True)
class Command:
    """One slash command.

    ``run`` is called with the session (or, for a command that needs no name, the
    ``ICommandClient``) and the arguments, and may return a Deferred; ``done`` is called with what
    ``run`` gave and the same arguments, and returns the reply (None: no reply). With
    ``rest``, the last argument is the rest of the line as typed.
    """

    run: Callable[..., Any]
    usage: str
    summary: str
    min_args: int = 0
    max_args: int = 0
    rest: bool = False
    named: bool = True
    done: Callable[..., Reply | None] = _nothing


def split_words(text: str, most: int = 0) -> list[str]:
    """Split on runs of ASCII spaces only; with ``most``, the last of at most ``most`` words is
    the rest of the line as typed. Other white space (a tab, NBSP, U+2028) is part of a word,
    where the name and password rules refuse it, so every protocol splits a line alike."""
    if " " not in text:  # one word or none: nearly every command's arguments
        return [text] if text else []
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _number(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise errors.BadSyntax(f"{text!r} is not a number")
    return int(text)


def _log_in(client: ICommandClient, credentials: ICredentials
            ) -> Deferred[IChatSession | None]:
    """What /signup, /login and /nick call: one login per client."""
    session = client.session
    if session is not None:
        raise errors.AlreadyNamed(
            f"you are {session.name} already; /quit and reconnect to change")
    result: Deferred[IChatSession | None] = client.log_in(credentials)
    return result


def _nick(client: ICommandClient, name: str) -> Deferred[Any]:
    """Before a login, chat as a guest (``_nicked`` welcomes the session); a guest already
    in, take another name (a Reply)."""
    session = client.session
    if session is None:
        return _log_in(client, GuestNick(name, client.host))
    if not session.guest:
        raise errors.NotAllowed(f"{session.name} is your account's name; accounts keep "
                                "their name")
    return session.rename(name).addCallback(
        lambda _: Reply(Code.OK, f"you are now called {session.name}"))


_WELCOME_GUEST = "welcome guest {name}: you are a guest; /join a room to talk"


def _nicked(answer: IChatSession | Reply | None, *_: str) -> Reply | None:
    """/nick's reply: a rename's as it is; a guest's login welcomed here rather than in a
    callback of its own, one fewer on the Deferred of every guest's login."""
    if answer is None or isinstance(answer, Reply):
        return answer
    return Reply(Code.WELCOME, _WELCOME_GUEST.format(name=answer.name))


def _here(session: ISessionInfo) -> str:
    """The current room, which the moderation commands act on."""
    current: str | None = session.current
    if current is None:
        raise errors.NotInRoom("you are not in a room; /join one first")
    return current


def _mode(session: IChatSession, changes: str = "") -> Deferred[Reply] | Reply:
    """``/mode`` shows the current room's flags; ``/mode +i-t`` sets and clears them."""
    room = _here(session)
    if not changes:
        view = session.room(room)
        return Reply(Code.OK, f"{view.name} modes: +{view.modes}" if view.modes
                     else f"{view.name} has no flags set")
    steps: list[tuple[str, bool]] = []
    on = True
    for letter in changes:
        if letter in "+-":
            on = letter == "+"
        elif letter in "imnst":
            steps.append((letter, on))
        else:
            raise errors.BadSyntax(f"unknown flag {letter!r}: the flags are i, m, n, s and t")

    def step(_: object, flag: str, on: bool) -> Deferred[None]:
        return session.set_flag(room, flag, on)

    done: Deferred[Any] = succeed(None)
    for flag, value in steps:
        done.addCallback(step, flag, value)
    return done.addCallback(lambda _: _mode(session))


def _bans(session: IChatSession) -> Reply:
    room = _here(session)
    masks = session.bans(room)
    return Reply(Code.BANS, f"{_count(len(masks), 'ban')} in {room}", masks)


def _welcome(text: str) -> Callable[..., Reply | None]:
    """The reply to a login: None if the client left before it was done. Like the join and
    leave replies, it starts with fields a program reads (``welcome account NAME:``), the
    sentence for people after them (docs/protocol.md, "Fields a program may read")."""
    return lambda session, *_: (None if session is None
                                else Reply(Code.WELCOME, text.format(name=session.name)))


def _room_line(room: RoomView) -> str:
    state = "locked" if room.locked else "open"
    owner = ("temporary" if not room.persistent else
             f"owned by {room.owner}" if room.owner else "no owner")
    topic = f": {room.topic}" if room.topic else ""
    return f"{room.name} {room.count}/{room.limit} {state} {owner}{topic}"


def _rooms(rooms: list[RoomView]) -> Reply:
    return Reply(Code.ROOMS, _count(len(rooms), "room"), [_room_line(room) for room in rooms])


def _joined(room: RoomView, *_: str) -> Reply:
    """``joined ROOM:`` first, for programs: a name never holds a colon or a space."""
    topic = f"; topic: {room.topic}" if room.topic else ""
    return Reply(Code.OK, f"joined {room.name}: you are in {room.name} "
                          f"({_count(room.count, 'member')}){topic}")


def _left(room: RoomView, *_: str) -> Reply:
    return Reply(Code.OK, f"left {room.name}: you left {room.name}")


def _members(room: RoomView, *_: str) -> Reply:
    # Operators marked @, voiced members +, as IRC shows them; a member on a node out of
    # reach with (unreachable) after its name, in the same word (no name has parentheses);
    # a member whose seat is held, with (inactive).
    names = sorted(("@" if member.operator else "+" if member.voiced else "") + member.name
                   + (UNREACHABLE if member.unreachable else "")
                   + (INACTIVE if member.inactive else "") for member in room.members)
    names.sort(key=lambda name: name.lstrip("@+").casefold())
    lines, line = [], ""
    for member in names:
        if line and len(line) + len(member) > 400:
            lines.append(line)
            line = ""
        line = f"{line} {member}" if line else member
    if line:
        lines.append(line)
    return Reply(Code.MEMBERS, f"{_count(len(names), 'member')} in {room.name}", lines)


def _created(room: RoomView, *_: str) -> Reply:
    lock = ", locked" if room.locked else ""
    return Reply(Code.OK,
                 f"created {room.name}: created {room.name} (limit {room.limit}{lock}); you own it")


def _create(session: IRoomMember, name: str, limit: str | None = None,
            password: str | None = None) -> Deferred[RoomView]:
    """``/create ROOM [LIMIT] [PASSWORD]``: a second word that is not a number is the
    password (``/create den opensesame``)."""
    if limit is not None and password is None and not (limit.isascii() and limit.isdigit()):
        limit, password = None, limit
    return session.create(name, None if limit is None else _number(limit), password)


def _topic(session: IChatSession, name: str, text: str = "") -> Deferred[str] | str:
    """Set, or (with no text) clear, a topic; there being no topic to clear is said so."""
    if text.strip():
        return session.set_topic(name, text).addCallback(lambda _: "topic set")
    room = session.room(name)
    if not room.topic:
        return f"{room.name} has no topic; /topic {room.name} TEXT sets one"
    return session.set_topic(name, "").addCallback(lambda _: "topic cleared")


def _sent(user: UserView, *_: str) -> Reply:
    away = f" (away: {user.away})" if user.away else ""
    return Reply(Code.OK, f"sent to {user.name}{away}")


def _whois(user: UserView, *_: str) -> Reply:
    kind = "a guest" if user.guest else f"an account, {_count(user.sessions, 'session')}"
    rooms = ", ".join(f"{m.room} (owner)" if m.owner else m.room for m in user.rooms)
    where = f"; in {rooms}" if rooms else ""
    away = f"; away: {user.away}" if user.away else ""
    if user.unreachable:
        away += "; unreachable: on another node, out of reach right now"
    return Reply(Code.WHOIS, f"{user.name} is {kind}{where}{away}")


def _whowas(session: IChatSession, name: str, count: str = "0") -> list[DepartureView]:
    """``/whowas NAME [COUNT]``: the latest departures first, COUNT of them (0: all)."""
    departures = session.whowas(name, _number(count))
    if not departures:
        raise errors.NoSuchUser(f"nobody called {name} was online lately")
    return departures


def _departures(departures: list[DepartureView], name: str, *_: str) -> Reply:
    lines = [f"{d.name} was {'a guest' if d.guest else 'an account'}, online from "
             f"{timestamp(d.signon)} to {timestamp(d.left)}" for d in departures]
    return Reply(Code.WHOWAS, f"{_count(len(lines), 'departure')} of {name}", lines)


def _away(_: None, text: str = "") -> Reply:
    return Reply(Code.OK, f"you are away: {text.strip()}" if text.strip()
                 else "you are back")


def _help(*_: object) -> Reply:
    width = max(len(c.usage) for c in COMMANDS.values())
    lines = [f"{c.usage:<{width}}  {c.summary}" for c in COMMANDS.values()]
    lines.append(f"{'TEXT':<{width}}  say TEXT in your current room (//TEXT if it starts "
                 "with /)")
    return Reply(Code.HELP, "end of help", lines)


_DIRECTIONS = ("before", "after", "around")


def _history(session: IChatSession, *args: str) -> tuple[str, list[Event]]:
    """/history [ROOM] [N] and /history ROOM before|after|around TIME|ID N: a room this user
    is in, or (a name that is no room) the private messages with that user."""
    if len(args) == 4:
        name, direction, ref, count = args
        if direction.lower() not in _DIRECTIONS:
            raise errors.BadSyntax(f"usage: {COMMANDS['history'].usage}")
        at = parse_timestamp(ref)
        query = HistoryQuery(direction.lower(), _limit(count),  # type: ignore[arg-type]
                             ref if at is None else at)
    elif len(args) == 3:
        raise errors.BadSyntax(f"usage: {COMMANDS['history'].usage}")
    else:
        words = list(args)
        if len(words) == 1 and words[0].isascii() and words[0].isdigit() and not (
                session.is_room(words[0])):
            words.insert(0, "")
        name = words[0] if words else ""
        query = HistoryQuery("latest", _limit(words[1]) if len(words) > 1 else DEFAULT_HISTORY)
    if name and not session.is_room(name):
        return name, session.private_history(name, query)
    target = name or session.current
    return target or "", session.history(name or None, query)


def _limit(text: str) -> int:
    count = _number(text)
    if not 1 <= count <= MAX_REQUEST:
        raise errors.BadSyntax(f"ask for 1 to {MAX_REQUEST} messages")
    return count


def _history_reply(found: tuple[str, list[Event]], *_: str) -> Reply:
    name, events = found
    return Reply(Code.OK, f"{_count(len(events), 'message')} of history in {name}",
                 history=events)


def _read(session: IChatSession, name: str, marker: str | None = None
          ) -> Deferred[str | None]:
    """/read ROOM [ID] (or a user's name: the private conversation with it)."""
    private = not session.is_room(name)
    return session.mark_read(name, marker, private=private)


def _read_reply(kept: str | None, name: str, *_: str) -> Reply:
    if kept is None:
        return Reply(Code.OK, f"nothing to read in {name}")
    return Reply(Code.OK, f"read {name} up to {kept}")


# What ``/set`` changes: one setting of one's own, for now.
_SWITCH = {"on": True, "off": False}


def _set(session: IChatSession, name: str, value: str | None = None) -> Deferred[bool]:
    """/set always-on [on|off]: without a value, the setting as it is."""
    if name.lower() != "always-on":
        raise errors.BadSyntax(f"there is no setting {name[:40]!r}; /set always-on on|off")
    if value is None:
        return succeed(session.always_on)
    if value.lower() not in _SWITCH:
        raise errors.BadSyntax("/set always-on on|off")
    return session.set_always_on(_SWITCH[value.lower()]).addCallback(
        lambda _: session.always_on)


def _set_reply(on: bool, *_: str) -> Reply:
    if on:
        return Reply(Code.OK, "always-on is on: your seat is kept after a drop until /quit")
    return Reply(Code.OK, "always-on is off: your seat is kept for the seat grace after a drop")


def _token(client: ICommandClient, name: str) -> Reply:
    """``230 ROOM TOKEN PORT SECONDS``: what the UDP channel needs, in a fixed shape."""
    session = _session(client)
    port = client.udp_port
    if port is None:
        raise errors.NotAllowed("this server has no UDP channel")
    token = session.token(name)
    return Reply(Code.TOKEN, f"{token.room} {token.token} {port} {token.lifetime:g}")


def _logout(client: ICommandClient) -> Reply:
    _session(client)
    return Reply(Code.GREETING, f"logged out; {client.log_out()}")


def _bye(_: None, message: str = "") -> Reply:
    return Reply(Code.BYE, "bye", end=Ending(LeaveReason.QUIT, message))


def _sha256(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) != 64 or any(char not in "0123456789abcdefABCDEF" for char in text):
        raise errors.BadSyntax("SHA256 is 64 hex digits")
    return text.lower()


def _send(client: ICommandClient, room: str, name: str, size: str, sha256: str | None = None
          ) -> Deferred[Reply]:
    _session(client)
    result: Deferred[Reply] = client.upload_file(room, name, _number(size), _sha256(sha256))
    return result


def _get(client: ICommandClient, file_id: str) -> Deferred[Reply]:
    _session(client)
    result: Deferred[Reply] = client.download_file(file_id)
    return result


def _link(answer: tuple[str, int], file_id: str) -> Reply:
    url, seconds = answer
    return Reply(Code.FILE_LINK, f"{file_id} {seconds} {url}")


def _given(answer: Reply, *_: str) -> Reply:
    return answer


def _ban_line(ban: AddressBan) -> str:
    """``MASK EXPIRES BY: REASON``: the mask and the end (a time, or ``never``) first, for
    programs."""
    ending = timestamp(ban.expires) if ban.expires else "never"
    return f"{ban.mask} {ending} {ban.by}: {ban.reason}"


def _kline(session: IChatSession, text: str) -> Deferred[AddressBan]:
    """``/kline [DURATION] MASK [REASON]``: a first word that is a duration (minutes, or
    30m, 2h, 7d) and is followed by a mask is the ban's length; none: until lifted."""
    words = split_words(text, 3)
    seconds = ban_duration(words[0]) if len(words) > 1 else None
    if seconds is None:
        words = split_words(text, 2)
    else:
        words.pop(0)
    return session.kline(words[0], seconds or 0.0, words[1] if len(words) > 1 else "")


def _klines(session: IChatSession) -> Reply:
    bans = session.klines()
    return Reply(Code.KLINES, _count(len(bans), "address ban"), [_ban_line(b) for b in bans])


COMMANDS: dict[str, Command] = {
    "help": Command(_nothing, "/help", "this list", named=False, done=_help),
    "signup": Command(
        lambda client, name, password: _log_in(client, Signup(name, password, client.host)),
        "/signup NAME PASSWORD", "create an account and log in", 2, 2, named=False,
        done=_welcome("welcome account {name}: your account is created and you are logged in")),
    "login": Command(
        lambda client, name, password: _log_in(client,
                                               AccountLogin(name, password, client.host)),
        "/login NAME PASSWORD", "log in to your account", 2, 2, named=False,
        done=_welcome("welcome account {name}: welcome back")),
    "resume": Command(
        lambda client, token: _log_in(client, ResumeSeat(token, client.host)),
        "/resume TOKEN", "a guest whose connection dropped: take your seat back with the token "
        "you were given (123)", 1, 1, named=False,
        done=_welcome("welcome guest {name}: your seat was kept")),
    "nick": Command(_nick, "/nick NAME",
                    "chat as a guest (no password); a guest: change your name", 1, 1,
                    named=False, done=_nicked),
    "rooms": Command(lambda session: session.rooms(), "/rooms",
                     "list rooms: members/limit, locked, owner, topic", done=_rooms),
    "join": Command(lambda session, name, password=None: session.join(name, password),
                    "/join ROOM [PASSWORD]",
                    "join a room (creating a temporary one if none) and talk there", 1, 2,
                    done=_joined),
    "leave": Command(lambda session, name=None, reason="": session.leave(name, message=reason),
                     "/leave [ROOM [REASON]]",
                     "leave a room (default: the current one), telling it why", 0, 2,
                     rest=True,
                     done=_left),
    "who": Command(lambda session, name=None: session.who(name), "/who [ROOM]",
                   "list a room's members", 0, 1, done=_members),
    "msg": Command(lambda session, name, text: session.message(name, text), "/msg USER TEXT",
                   "send a private message", 2, 2, rest=True, done=_sent),
    "whois": Command(lambda session, name: session.whois(name), "/whois NAME",
                     "who someone online is: guest or account, rooms, away", 1, 1,
                     done=_whois),
    "whowas": Command(_whowas, "/whowas NAME [COUNT]",
                      "who was online as NAME lately, and when (the latest COUNT)", 1, 2,
                      done=_departures),
    "away": Command(lambda session, text="": session.set_away(text), "/away [TEXT]",
                    "mark yourself away (TEXT is shown to others); without TEXT, back", 0, 1,
                    rest=True, done=_away),
    # Acknowledged by its echo, like a message.
    "me": Command(lambda session, text: session.say(text, action=True), "/me TEXT",
                  "act in the current room (* you TEXT)", 1, 1, rest=True),
    "create": Command(
        _create, "/create ROOM [LIMIT] [PASSWORD]", "create a persistent room you own, and join it",
        1, 3, done=_created),
    "topic": Command(_topic, "/topic ROOM [TEXT]", "set (or clear) a room's topic", 1, 2,
                     rest=True, done=lambda said, *_: Reply(Code.OK, said)),
    "limit": Command(lambda session, name, limit: session.set_limit(name, _number(limit)),
                     "/limit ROOM N", "operator: change the member limit", 2, 2,
                     done=lambda _, name, limit: Reply(Code.OK,
                                                       f"member limit set to {int(limit)}")),
    "lock": Command(lambda session, name, password: session.lock(name, password),
                    "/lock ROOM PASSWORD", "operator: require a password to join", 2, 2,
                    done=_ok("room locked")),
    "unlock": Command(lambda session, name: session.unlock(name), "/unlock ROOM",
                      "operator: remove the room's password", 1, 1, done=_ok("room unlocked")),
    "op": Command(lambda session, name: session.op(_here(session), name), "/op NAME",
                  "operator: make a member of the current room an operator", 1, 1,
                  done=lambda _, name: Reply(Code.OK, f"{name} is an operator")),
    "deop": Command(lambda session, name: session.op(_here(session), name, False),
                    "/deop NAME", "operator: take a member's operator status", 1, 1,
                    done=lambda _, name: Reply(Code.OK, f"{name} is not an operator")),
    "voice": Command(lambda session, name: session.voice(_here(session), name), "/voice NAME",
                     "operator: let a member talk in the moderated current room", 1, 1,
                     done=lambda _, name: Reply(Code.OK, f"{name} has voice")),
    "devoice": Command(lambda session, name: session.voice(_here(session), name, False),
                       "/devoice NAME", "operator: take a member's voice", 1, 1,
                       done=lambda _, name: Reply(Code.OK, f"{name} has no voice")),
    "kick": Command(lambda session, name, reason="": session.kick(_here(session), name, reason),
                    "/kick NAME [REASON]", "operator: put a member out of the current room",
                    1, 2, rest=True, done=lambda _, name, *__: Reply(Code.OK, f"kicked {name}")),
    "ban": Command(lambda session, mask: session.ban(_here(session), mask), "/ban NAME|MASK",
                   "operator: keep a name, or names matching * and ?, out of the current room",
                   1, 1, done=lambda _, mask: Reply(Code.OK, f"banned {mask}")),
    "unban": Command(lambda session, mask: session.unban(_here(session), mask),
                     "/unban NAME|MASK", "operator: lift a ban", 1, 1,
                     done=lambda _, mask: Reply(Code.OK, f"lifted the ban on {mask}")),
    "bans": Command(_bans, "/bans", "list the current room's bans", done=lambda reply: reply),
    "invite": Command(lambda session, name: session.invite(_here(session), name),
                      "/invite NAME", "invite someone online into the current room", 1, 1,
                      done=lambda user, *_: Reply(Code.OK, f"invited {user.name}")),
    "mode": Command(_mode, "/mode [+|-FLAGS]",
                    "show or (operator) set the current room's flags: i invite-only, "
                    "m moderated, t topic locked", 0, 1, done=lambda reply, *_: reply),
    "delete": Command(lambda session, name: session.delete(name), "/delete ROOM",
                      "owner: delete the room", 1, 1, done=_ok("room deleted")),
    "passwd": Command(lambda session, old, new: session.change_password(old, new),
                      "/passwd OLD NEW", "change your password", 2, 2,
                      done=_ok("password changed")),
    "redact": Command(lambda session, name, message_id, reason="":
                      session.redact(name, message_id, reason),
                      "/redact ROOM ID [REASON]", "delete a message (yours; an operator: "
                      "anyone's) by the id /history shows", 2, 3, rest=True,
                      done=lambda _, name, message_id, *__: Reply(
                          Code.OK, f"redacted {message_id} in {name}")),
    "history": Command(_history, "/history [ROOM] [N] | /history ROOM before|after|around "
                       "TIME|ID N", "messages said before: the last N (default "
                       f"{DEFAULT_HISTORY}), or N from a time or message id (110 lines)", 0, 4,
                       done=_history_reply),
    "read": Command(_read, "/read ROOM|USER [ID]",
                    "mark read up to message ID (default: the newest); your other sessions "
                    "are told (121)", 1, 2, done=_read_reply),
    "set": Command(_set, "/set always-on [on|off]",
                   "keep your seat after a dropped connection until /quit (on), or for the "
                   "seat grace (off); without on|off, say which", 1, 2, done=_set_reply),
    "token": Command(_token, "/token ROOM", "a token to speak in ROOM over UDP (230 ROOM TOKEN "
                     "PORT SECONDS)", 1, 1, named=False, done=lambda answer, *_: answer),
    "send": Command(_send, "/send ROOM NAME SIZE [SHA256]",
                    "share a file: after the 350 reply, send exactly SIZE raw bytes", 3, 4,
                    named=False, done=_given),
    "get": Command(_get, "/get ID", "fetch a shared file: a 351 reply, then its raw bytes",
                   1, 1, named=False, done=_given),
    "link": Command(lambda session, file_id: session.file_link(file_id), "/link ID",
                    "a short-lived signed HTTP link to a shared file (252 ID SECONDS URL)",
                    1, 1, done=_link),
    # Server operators (chatd.core.operators); every one but /oper needs /oper first.
    "oper": Command(lambda session, name, password: session.oper(name, password),
                    "/oper NAME PASSWORD", "become a server operator", 2, 2,
                    done=_ok("you are a server operator")),
    "kill": Command(lambda session, name, reason="": session.kill(name, reason),
                    "/kill NAME [REASON]", "server operator: end every session of a user",
                    1, 2, rest=True, done=lambda _, name, *__: Reply(Code.OK, f"killed {name}")),
    "wallops": Command(lambda session, text: session.wallops(text), "/wallops TEXT",
                       "server operator: a message to operators and users with WALLOPS on "
                       "(131)", 1, 1, rest=True, done=_ok("wallops sent")),
    "announce": Command(lambda session, text: session.announce(text), "/announce TEXT",
                        "server operator: a notice to every connected user, on every "
                        "protocol (130)", 1, 1, rest=True, done=_ok("announced to everyone")),
    "kline": Command(_kline, "/kline [DURATION] MASK [REASON]",
                     "server operator: refuse connections from an address, network or "
                     "pattern (DURATION: minutes, or 30m, 2h, 7d; none: until lifted) and "
                     "close those open", 1, 1, rest=True,
                     done=lambda ban, *_: Reply(Code.OK, f"banned {_ban_line(ban)}")),
    "unkline": Command(lambda session, mask: session.unkline(mask), "/unkline MASK",
                       "server operator: lift an address ban", 1, 1,
                       done=lambda _, mask: Reply(Code.OK, f"lifted the ban on {mask}")),
    "klines": Command(lambda session: _klines(session), "/klines",
                      "server operator: the address bans in force (260)",
                      done=lambda reply: reply),
    "close": Command(lambda session, name, reason="": session.close_room(name, reason),
                     "/close ROOM [REASON]", "server operator: end a room, putting its "
                     "members out", 1, 2, rest=True,
                     done=lambda _, name, *__: Reply(Code.OK, f"closed {name}")),
    "logout": Command(_logout, "/logout", "end your session and stay connected, back at the "
                      "greeting (220)", named=False, done=_given),
    "quit": Command(_nothing, "/quit [MESSAGE]", "leave the server", 0, 1, rest=True,
                    named=False, done=_bye),
}


class LineInterpreter:
    """The command language, for every client of a frontend."""

    __slots__ = ("_counters",)

    def __init__(self, counters: Counters) -> None:
        self._counters = counters

    def feed(self, client: ICommandClient, text: str) -> Answer:
        """One line as ``client`` typed it: the reply to it, now or as a Deferred."""
        if is_message(text):
            return self.say(client, text)
        if not text.strip():
            return None
        verb, _, arguments = text.lstrip(" \t")[1:].partition(" ")
        return self._command(client, verb.lower(), arguments)

    def say(self, client: ICommandClient, text: str) -> Reply | None:
        """A line ``is_message`` says is text for the current room (a frontend that has
        already asked calls this directly): said, or the refusal."""
        session = client.session
        try:
            if session is None:
                session = _session(client)  # raises NotNamed
            session.say(text[1:] if text.startswith("//") else text)
        except errors.ChatError as error:
            refusal = self._refusal(client, error)
            if type(error) is errors.RateLimited:
                # A paste's refusals come after its paced lines: say which line each is.
                return Reply(refusal.code, f"{refusal.text}: {quoted(text)}")
            return refusal
        return None

    def _command(self, client: ICommandClient, verb: str, arguments: str) -> Answer:
        command = COMMANDS.get(verb)
        if command is None:
            return Reply(Code.BAD_SYNTAX,
                         f"unknown command /{for_log(verb, 32)}; /help lists them")
        try:
            target = _session(client) if command.named else client
            args = split_arguments(arguments, command)
            result = command.run(target, *args)
            if isinstance(result, Deferred):
                # One entry on the Deferred, not a callback and an errback after it: each
                # costs a turn of its callback loop, on every login.
                return result.addCallbacks(self._done, self._failed,
                                           callbackArgs=(command, client, verb, args),
                                           errbackArgs=(client, verb))
            return command.done(result, *args)
        except errors.ChatError as error:
            return self._refusal(client, error)
        except Exception:
            return self._failed(Failure(), client, verb)

    def _done(self, result: Any, command: Command, client: ICommandClient, verb: str,
              args: list[str]) -> Reply | None:
        """The reply to a command whose call waited; what ``done`` raises is refused or
        logged as a failed call's error is."""
        try:
            return command.done(result, *args)
        except Exception:
            return self._failed(Failure(), client, verb)

    def _failed(self, failure: Failure, client: ICommandClient, verb: str) -> Reply:
        if isinstance(failure.value, errors.ChatError):
            return self._refusal(client, failure.value)
        log.failure("/{verb} from {peer} failed", failure, verb=verb, peer=client.peer)
        return Reply(Code.INTERNAL_ERROR, "internal server error; it has been logged")

    def _refusal(self, client: ICommandClient, error: errors.ChatError) -> Reply:
        self._counters.rejected[type(error).__name__] += 1
        code = CODES.get(type(error), Code.BAD_SYNTAX)
        if isinstance(error, errors.Flooding):
            session = client.session
            log.warn("{peer} ({name}) disconnected for flooding", peer=client.peer,
                     name=session.name if session else "anonymous")
            return Reply(code, str(error),
                         end=Ending(LeaveReason.FLOOD, notice="disconnected for flooding"))
        return Reply(code, str(error))


# Characters of a refused line quoted back in its 429.
QUOTED = 40


def quoted(text: str) -> str:
    """The start of a line, to quote it back: control characters escaped, cut at QUOTED
    characters (marked with ...)."""
    cut = "..." if len(text) > QUOTED else ""
    return f'"{for_log(text, QUOTED)}{cut}"'


def is_message(text: str) -> bool:
    """Whether a line is text for the current room rather than a command (or nothing).
    " /msg bob secret" is a command typed after a stray space, never text for the room;
    "//etc" is text that starts with a slash. The one place this rule is written."""
    first = text[:1]
    if first and first not in "/ \t" and not first.isspace():
        return True  # nearly every line: its first character alone says so
    command = text.lstrip(" \t")
    return bool(text.strip()) and (not command.startswith("/") or command.startswith("//"))


def _session(client: ICommandClient) -> IChatSession:
    session: IChatSession | None = client.session
    if session is None:
        raise errors.NotNamed(
            "log in first: /nick NAME (guest), /login NAME PASSWORD or /signup NAME PASSWORD"
        )
    return session


def replay_on_join(session: IChatSession | None, event: Event, count: int
                   ) -> tuple[list[Event], str]:
    """When ``event`` is this session's own join: what it has not read of the room (the
    first ``count`` messages after its read marker; with none, the room's last ``count``),
    which line and browser clients get as 110s before the reply to /join, and the text of a
    122 saying how many more are unread and how to read them ("" if none). Nothing
    otherwise."""
    if (count and session is not None and type(event) is Joined
            and fold(event.who) == session.key):
        try:
            events, more = session.unread_messages(event.room, count)
        except errors.ChatError:
            return [], ""
        if not more:
            return events, ""
        last = events[-1].id if events else session.read_marker(event.room)
        return events, (f"[{event.room}] {more} more unread; /history {event.room} after "
                        f"{last} {min(more, MAX_REQUEST)}")
    return [], ""
