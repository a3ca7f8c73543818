"""The IRC frontend: irssi, WeeChat and other IRC clients in the same rooms as everyone else.

The wire protocol is the modern IRC client protocol (modern.ircdocs.horse) as far as chatd's
rooms can express it; ``docs/irc.md`` lists what is supported. Registration is how an IRC
server does it: ``NICK`` and ``USER`` make a guest; ``PASS``, SASL ``PLAIN`` or the IRCv3
``REGISTER`` draft log in to (or create) an account, all through the one Portal.

Lines are framed here, not by ``twisted.words``' server ``dataReceived`` (which decodes each
TCP chunk as strict UTF-8 and buffers without a limit): ``LineFramer`` bounds every line,
each is decoded on its own (latin-1 if it is not UTF-8), and commands run one at a time per
connection, queueing behind a login that is still hashing. Domain errors become numerics in
``_NUMERICS`` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols import irc
from zope.interface import implementer

from chatd.core.stats import Stats
from chatd.frontends import irc_codec as codec
from chatd.frontends.admission import Admission
from chatd.frontends.connection import ChatConnection, FrontendFactory
from chatd.frontends.irc_codec import SERVER_NAME, channel, message, numeric, source
from chatd.frontends.line_codec import TooLong
from chatd.kernel import errors
from chatd.kernel.credentials import AccountLogin, GuestNick, Signup
from chatd.kernel.events import Event, Joined, LeaveReason, Left
from chatd.kernel.interfaces import IChatMind, IChatSession
from chatd.kernel.names import fold
from chatd.kernel.text import clean_text
from chatd.kernel.views import MemberView, RoomView, UserView

log = Logger()

# What a failed command's first parameter names, which decides the numeric for some errors.
NICK, CHANNEL, TARGET, SASL, REGISTER = "nick", "channel", "target", "sasl", "register"

# (error, what the target is) -> the numeric (or FAIL code) and whether the target is sent.
# (error, None) is the fallback for any target; anything else is 400 ERR_UNKNOWNERROR.
_NUMERICS: dict[tuple[type[errors.ChatError], str | None], tuple[str, bool]] = {
    (errors.BadName, NICK): (irc.ERR_ERRONEUSNICKNAME, True),
    (errors.BadName, REGISTER): ("BAD_ACCOUNT_NAME", True),
    (errors.BadName, None): (irc.ERR_NOSUCHCHANNEL, True),
    (errors.NameTaken, NICK): (irc.ERR_NICKNAMEINUSE, True),
    (errors.NameTaken, REGISTER): ("ACCOUNT_EXISTS", True),
    (errors.BadPassword, REGISTER): ("WEAK_PASSWORD", True),
    (errors.NoSuchRoom, TARGET): (irc.ERR_NOSUCHNICK, True),
    (errors.NoSuchRoom, None): (irc.ERR_NOSUCHCHANNEL, True),
    (errors.NoSuchUser, None): (irc.ERR_NOSUCHNICK, True),
    (errors.NotInRoom, TARGET): (irc.ERR_CANNOTSENDTOCHAN, True),
    (errors.NotInRoom, None): (irc.ERR_NOTONCHANNEL, True),
    (errors.BadText, TARGET): (irc.ERR_CANNOTSENDTOCHAN, True),
    (errors.NotAllowed, CHANNEL): (irc.ERR_CHANOPRIVSNEEDED, True),
    (errors.TooManyRooms, None): (irc.ERR_TOOMANYCHANNELS, True),
    (errors.RoomFull, None): (irc.ERR_CHANNELISFULL, True),
    (errors.WrongRoomPassword, None): (irc.ERR_BADCHANNELKEY, True),
    (errors.WrongCredentials, SASL): (codec.ERR_SASLFAIL, False),
    (errors.WrongCredentials, None): (irc.ERR_PASSWDMISMATCH, False),
    (errors.GuestsDisabled, None): (irc.ERR_PASSWDMISMATCH, False),
    (errors.TooManySessions, SASL): (codec.ERR_SASLFAIL, False),
    (errors.ServerBusy, SASL): (codec.ERR_SASLFAIL, False),
    (errors.ServerBusy, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.StorageFailed, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.AccountsUnavailable, SASL): (codec.ERR_SASLFAIL, False),
    (errors.AccountsUnavailable, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.AccountLocked, SASL): (codec.ERR_SASLFAIL, False),
    (errors.RateLimited, SASL): (codec.ERR_SASLFAIL, False),
    (errors.RateLimited, REGISTER): ("RATE_LIMITED", True),
    (errors.RateLimited, None): ("RATE_LIMITED", True),
}

# Registration failures after which the client may simply send another NICK.
_RETRY_NICK = frozenset({irc.ERR_ERRONEUSNICKNAME, irc.ERR_NICKNAMEINUSE})

_CAPABILITIES = {"sasl": "PLAIN", "draft/account-registration": "before-connect"}

# PRIVMSG and NOTICE targets per line (TARGMAX in ISUPPORT).
_MAX_TARGETS = 4
# SASL responses come in 400-byte chunks; more than this in total is not a PLAIN login.
_SASL_MAX = 4096


@dataclass(frozen=True, slots=True)
class Options:
    """The IRC frontend's settings: keep-alive timing, the most output queued for a client
    that stopped reading, and the message of the day."""

    ping_interval: float = 120.0
    ping_timeout: float = 60.0
    max_output: int = 256 * 1024
    login_timeout: float = 30.0
    max_bytes_before_login: int = 4096
    motd: tuple[str, ...] = (
        "chatd: rooms are #channels; JOIN #name creates a temporary one.",
        "Accounts log in with SASL PLAIN or PASS (nick = account name).",
    )


@dataclass(frozen=True, slots=True)
class Command:
    """One IRC command: its handler, fewest parameters, whether it needs registration, and
    what its first parameter names (for mapping errors to numerics)."""

    handler: str
    min_params: int = 0
    registered: bool = True
    target: str | None = None


_COMMANDS: dict[str, Command] = {
    "CAP": Command("do_cap", 1, registered=False),
    "PASS": Command("do_pass", 1, registered=False),
    "NICK": Command("do_nick", 0, registered=False, target=NICK),
    "USER": Command("do_user", 4, registered=False),
    "AUTHENTICATE": Command("do_authenticate", 1, registered=False, target=SASL),
    "REGISTER": Command("do_register", 3, registered=False, target=REGISTER),
    "PING": Command("do_ping", 1, registered=False),
    "PONG": Command("do_pong", 0, registered=False),
    "QUIT": Command("do_quit", 0, registered=False),
    "JOIN": Command("do_join", 1, target=CHANNEL),
    "PART": Command("do_part", 1, target=CHANNEL),
    "PRIVMSG": Command("do_privmsg", 0, target=TARGET),
    "NOTICE": Command("do_notice", 0, target=TARGET),
    "NAMES": Command("do_names", 0, target=CHANNEL),
    "LIST": Command("do_list", 0, target=CHANNEL),
    "TOPIC": Command("do_topic", 1, target=CHANNEL),
    "MODE": Command("do_mode", 1, target=CHANNEL),
    "WHO": Command("do_who", 0, target=CHANNEL),
    "WHOIS": Command("do_whois", 1, target=NICK),
    "AWAY": Command("do_away", 0),
    "MOTD": Command("do_motd", 0),
    "LUSERS": Command("do_lusers", 0),
}


def _is_channel(name: str) -> bool:
    return name.startswith(codec.CHANNEL_PREFIX)


@implementer(IChatMind)
class IRCProtocol(ChatConnection):
    """One IRC client connection."""

    __slots__ = (
        "_away", "_cap_negotiating", "_caps", "_nick", "_password", "_pinged", "_portal",
        "_sasl", "_stats", "_timer", "_user_sent", "registered",
    )
    kind = "IRC"
    render = staticmethod(codec.render_event)
    echo = False  # IRC clients show their own messages without an echo

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.outbox.write

    def __init__(self, home: IRCFactory) -> None:
        super().__init__(home, codec.MAX_TAGS + codec.MAX_BODY)
        self._portal = home.portal
        self._stats = home.stats
        self._away = home.away
        self._timer: IDelayedCall | None = None
        self._pinged = False
        # Registration state: what the client has sent so far.
        self._nick: str | None = None
        self._user_sent = False
        self._password: str | None = None
        self._cap_negotiating = False
        self._caps: set[str] = set()
        self._sasl: list[str] | None = None
        self.registered = False

    # -- connection --------------------------------------------------------------------

    def admitted(self) -> None:
        self._keep_alive()

    def activity(self) -> None:
        self._keep_alive()

    def login_timeout_text(self) -> str:
        return f"Registration timeout: {self._options.login_timeout:g} seconds"

    def too_much_text(self) -> str:
        return f"More than {self._options.max_bytes_before_login} bytes before registering"

    def gone(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.session is not None:
            self._away.pop(self.session.key, None)

    def _keep_alive(self) -> None:
        """(Re)start the silence timer: PING after ``ping_interval``, close if no answer."""
        self._pinged = False
        if self._timer is not None and self._timer.active():
            self._timer.reset(self._options.ping_interval)
        else:
            self._timer = self._clock.callLater(self._options.ping_interval, self._silent)

    def _silent(self) -> None:
        if self._pinged:
            self.leave_reason = LeaveReason.TIMEOUT
            self.close(f"Ping timeout: {self._options.ping_timeout:g} seconds")
            return
        self._pinged = True
        self.outbox.write(message("", "PING", SERVER_NAME))
        self._timer = self._clock.callLater(self._options.ping_timeout, self._silent)

    def close(self, why: str) -> None:
        self.outbox.write(message("", "ERROR", f"Closing link: {why}"))
        self.outbox.close()

    def deliver(self, event: Event) -> None:
        # Room messages don't come here: the core writes them to ``write`` in the IRC format
        # and, as ``echo`` is False, skips the sender (IRC clients show their own lines).
        if codec.is_quit(event) and self._still_shared(event):
            return
        self.outbox.write(event.encoded(codec.render_event))
        if (isinstance(event, Joined) and self.session is not None
                and fold(event.who) == self.session.key):
            self._channel_greeting(event.room)

    def _still_shared(self, event: Event) -> bool:
        """Whether a quitting user is in another of our channels, which will carry the QUIT.

        The core tells each room in turn and removes the user from each after telling it,
        so the last shared room's event is the one to show.
        """
        assert isinstance(event, Left)
        return self.session is not None and self.session.shares_room(event.who, event.room)

    def _channel_greeting(self, room_name: str) -> None:
        """After our own JOIN: the topic and the names, as IRC clients expect."""
        try:
            room = self._require_session().who(room_name)
        except errors.ChatError:
            return
        self._send_topic(room)
        self._send_names(room)

    # -- input -------------------------------------------------------------------------

    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one line; a Deferred if its reply is still to come."""
        if item is TooLong.LINE or (
            isinstance(item, bytes) and codec.body_length(item) > codec.MAX_BODY
        ):
            self._stats.rejected["LineTooLong"] += 1
            self.send(codec.ERR_INPUTTOOLONG, "Input line was too long")
            return None
        assert isinstance(item, bytes)
        parsed = codec.parse_message(codec.decode_line(item))
        if parsed is None:
            return None
        command = _COMMANDS.get(parsed.command)
        if command is None:
            self.send(irc.ERR_UNKNOWNCOMMAND, parsed.command, "Unknown command")
            return None
        if command.registered and not self.registered:
            self.send(irc.ERR_NOTREGISTERED, "You have not registered")
            return None
        if len(parsed.params) < command.min_params:
            self.send(irc.ERR_NEEDMOREPARAMS, parsed.command, "Not enough parameters")
            return None
        target = parsed.params[0] if parsed.params else "*"
        d = maybeDeferred(getattr(self, command.handler), *parsed.params)
        d.addErrback(self._refused, command.target, target, parsed.command)
        return None if d.called else d

    def _refused(self, failure: Failure, kind: str | None, target: str, command: str) -> None:
        if not isinstance(failure.value, errors.ChatError):
            log.failure("IRC {command} from {peer} failed", failure, command=command,
                        peer=self.peer)
            self.send(codec.ERR_UNKNOWNERROR, command, "internal server error; it was logged")
            return
        self.error(failure.value, kind, target, command)

    def error(self, error: errors.ChatError, kind: str | None, target: str,
              command: str) -> str:
        """Send the reply ``_NUMERICS`` gives ``error``; return that numeric or FAIL code."""
        self._stats.rejected[type(error).__name__] += 1
        if isinstance(error, errors.WrongCredentials):
            self._stats.login_failures += 1
        code, with_target = _NUMERICS.get(
            (type(error), kind), _NUMERICS.get((type(error), None), (codec.ERR_UNKNOWNERROR,
                                                                      False))
        )
        if isinstance(error, errors.Flooding):
            log.warn("IRC {peer} disconnected for flooding", peer=self.peer)
            self.leave_reason = LeaveReason.FLOOD
            self.close("Excess Flood")
            return code
        if code == codec.ERR_UNKNOWNERROR:
            self.send(code, command, str(error))
        elif not code[0].isdigit():
            self.outbox.write(message(SERVER_NAME, "FAIL", command, code, target,
                                         str(error)))
        elif with_target:
            self.send(code, target, str(error))
        else:
            self.send(code, str(error))
        return code

    def _each(self, kind: str, target: str | None, action: Callable[..., Any],
              items: Iterable[tuple[str, ...]], command: str) -> Deferred[None]:
        """Run ``action`` on each item in turn (a target list), reporting each one's error."""
        def one(_: object, item: tuple[str, ...]) -> Deferred[Any]:
            return maybeDeferred(action, *item).addErrback(
                self._refused, kind, item[0] if target is None else target, command)

        d: Deferred[Any] = succeed(None)
        for item in items:
            d.addCallback(one, item)
        return d

    def client(self) -> str:
        """How numerics address this client: its nick, or ``*`` before it has one."""
        # A nick is only accepted once it logs in, so until then the client is "*".
        return "*" if self.session is None else self.session.name

    def send(self, code: str, *params: str) -> None:
        self.outbox.write(numeric(code, self.client(), *params))

    def _require_session(self) -> IChatSession:
        assert self.session is not None, "registered connections have a session"
        return self.session

    # -- registration ------------------------------------------------------------------

    def do_cap(self, subcommand: str, *args: str) -> Any:
        verb = subcommand.upper()
        if verb == "LS":
            if not self.registered:
                self._cap_negotiating = True
            modern = bool(args) and args[0].isdigit() and int(args[0]) >= 302
            offered = " ".join(
                f"{name}={value}" if modern else name for name, value in _CAPABILITIES.items()
            )
            self.outbox.write(message(SERVER_NAME, "CAP", self.client(), "LS", offered))
        elif verb == "REQ":
            if not self.registered:
                self._cap_negotiating = True
            wanted = args[0].split() if args else []
            names = [name.lstrip("-") for name in wanted]
            if wanted and all(name in _CAPABILITIES for name in names):
                for name, asked in zip(names, wanted, strict=True):
                    if asked.startswith("-"):
                        self._caps.discard(name)
                    else:
                        self._caps.add(name)
                reply = "ACK"
            else:
                reply = "NAK"
            self.outbox.write(message(SERVER_NAME, "CAP", self.client(), reply,
                                         " ".join(wanted)))
        elif verb == "LIST":
            self.outbox.write(message(SERVER_NAME, "CAP", self.client(), "LIST",
                                         " ".join(sorted(self._caps))))
        elif verb == "END":
            self._cap_negotiating = False
            return self._try_register()
        else:
            self.send(codec.ERR_INVALIDCAPCMD, subcommand, "Invalid CAP command")
        return None

    def do_pass(self, password: str, *_: str) -> None:
        if self.registered or self.session is not None:
            self.send(irc.ERR_ALREADYREGISTRED, "You may not reregister")
            return
        self._password = password

    def do_nick(self, nick: str | None = None, *_: str) -> Deferred[None] | None:
        if nick is None:
            self.send(irc.ERR_NONICKNAMEGIVEN, "No nickname given")
            return None
        if self.registered:
            if fold(nick) != self._require_session().key:
                self.send(codec.ERR_UNKNOWNERROR, "NICK",
                          "changing nick is not supported; reconnect with the new nick")
            return None
        self._nick = nick
        return self._try_register()

    def do_user(self, *_: str) -> Deferred[None] | None:
        if self.registered:
            self.send(irc.ERR_ALREADYREGISTRED, "You may not reregister")
            return None
        self._user_sent = True
        return self._try_register()

    def _try_register(self) -> Any:
        """Once NICK, USER and any CAP negotiation are done: log in, then welcome."""
        if (self.registered or self._nick is None or not self._user_sent
                or self._cap_negotiating):
            return None
        if self.session is not None:
            self._welcome()
            return None
        nick = self._nick
        if self._password is not None:
            credentials: ICredentials = AccountLogin(nick, self._password, self.host)
        else:
            credentials = GuestNick(nick, self.host)

        def refused(failure: Failure) -> None:
            failure.trap(errors.ChatError)
            error = failure.value
            assert isinstance(error, errors.ChatError)
            if self.error(error, NICK, nick, "NICK") not in _RETRY_NICK:
                self.close(str(error))

        return self._log_in(credentials).addCallbacks(lambda _: self._welcome(), refused)

    def _log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Portal login; the session is kept, or given back if the client left meanwhile."""

        def logged_in(result: Any) -> IChatSession | None:
            _, session, logout = result
            if self._closed:
                logout()
                return None
            self.logged_in(session, logout)
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in over IRC ({kind}) from {peer}", name=session.name,
                     kind=kind, peer=self.peer)
            if not session.guest:
                self.send(codec.RPL_LOGGEDIN, source(session.name), session.name,
                          f"You are now logged in as {session.name}")
            return session

        return self._portal.login(credentials, self, IChatSession).addCallback(logged_in)

    def _welcome(self) -> None:
        if self.session is None:
            return
        self.registered = True
        nick = self.session.name
        self.send(irc.RPL_WELCOME, f"Welcome to the {SERVER_NAME} IRC network, {nick}")
        self.send(irc.RPL_YOURHOST, f"Your host is {SERVER_NAME}, running {codec.VERSION}")
        self.send(irc.RPL_CREATED, "This server speaks IRC to chatd's rooms")
        self.send(irc.RPL_MYINFO, SERVER_NAME, codec.VERSION, "i", "klo", "kl")
        self.outbox.write(codec.isupport_lines(nick))
        self.do_lusers()
        self.do_motd()

    def do_authenticate(self, data: str, *_: str) -> Deferred[None] | None:
        if self.session is not None:
            self.send(codec.ERR_SASLALREADY, "You have already authenticated")
            return None
        if data == "*":
            self._sasl = None
            self.send(codec.ERR_SASLABORTED, "SASL authentication aborted")
            return None
        if self._sasl is None:
            if data.upper() != "PLAIN":
                self.send(codec.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms")
                self.send(codec.ERR_SASLFAIL, "SASL authentication failed")
                return None
            self._sasl = []
            self.outbox.write(message("", "AUTHENTICATE", "+"))
            return None
        self._sasl.append("" if data == "+" else data)
        if sum(map(len, self._sasl)) > _SASL_MAX:
            self._sasl = None
            self.send(codec.ERR_SASLTOOLONG, "SASL message too long")
            return None
        if len(data) == 400:
            return None  # more chunks follow
        response, self._sasl = "".join(self._sasl), None
        plain = codec.sasl_plain(response)
        if plain is None:
            self.send(codec.ERR_SASLFAIL, "SASL authentication failed: malformed PLAIN")
            return None
        name, password = plain

        def done(session: IChatSession | None) -> None:
            if session is not None:
                self.send(codec.RPL_SASLSUCCESS, "SASL authentication successful")

        return self._log_in(AccountLogin(name, password, self.host)).addCallback(done)

    def do_register(self, account: str, _email: str, password: str, *_: str
                    ) -> Deferred[None] | None:
        if self.session is not None:
            why = ("ALREADY_AUTHENTICATED", "you are logged in already") if (
                not self.session.guest) else (
                "TEMPORARILY_UNAVAILABLE", "register before connecting: set your client's "
                "account registration (or use the line protocol's /signup) and reconnect")
            self.outbox.write(message(SERVER_NAME, "FAIL", "REGISTER", why[0], account,
                                         why[1]))
            return None
        if self._nick is None:
            self.outbox.write(message(SERVER_NAME, "FAIL", "REGISTER", "NEED_NICK",
                                         account, "send NICK first"))
            return None
        if account != "*" and fold(account) != fold(self._nick):
            self.outbox.write(message(SERVER_NAME, "FAIL", "REGISTER",
                                         "ACCOUNT_NAME_MUST_BE_NICK", account,
                                         "the account name is your nick"))
            return None
        nick = self._nick

        def done(session: IChatSession | None) -> None:
            if session is not None:
                self.outbox.write(message(SERVER_NAME, "REGISTER", "SUCCESS", session.name,
                                             "your account is created and you are logged in"))

        return self._log_in(Signup(nick, password, self.host)).addCallback(done)

    def do_ping(self, token: str, *_: str) -> None:
        self.outbox.write(message(SERVER_NAME, "PONG", SERVER_NAME, token))

    def do_pong(self, *_: str) -> None:
        """Any line proves the client alive (dataReceived reset the timer)."""

    def do_quit(self, text: str = "", *_: str) -> None:
        self.leave_reason, self.quit_message = LeaveReason.QUIT, text
        self.close(f"Quit: {text}" if text else "Quit")

    # -- channels ----------------------------------------------------------------------

    def do_join(self, channels: str, keys: str = "", *_: str) -> Deferred[None] | None:
        session = self._require_session()
        if channels == "0":
            for name in session.my_rooms():
                session.leave(name)
            return None
        names = channels.split(",")
        passwords = keys.split(",") if keys else []
        pairs = [(name, passwords[i] if i < len(passwords) else "")
                 for i, name in enumerate(names) if name]
        return self._each(CHANNEL, None, self._join_one, pairs, "JOIN")

    def _join_one(self, name: str, key: str) -> Deferred[RoomView]:
        # Our own JOIN, topic and names arrive through deliver(), as for other sessions.
        return self._require_session().join(name, key or None)

    def do_part(self, channels: str, *_: str) -> Deferred[None]:
        session = self._require_session()
        return self._each(CHANNEL, None, session.leave,
                          [(name,) for name in channels.split(",") if name], "PART")

    def do_topic(self, name: str, *text: str) -> Deferred[None] | None:
        session = self._require_session()
        if text:
            return session.set_topic(name, text[0])
        self._send_topic(session.room(name), query=True)
        return None

    def _send_topic(self, room: RoomView, query: bool = False) -> None:
        if room.topic:
            self.send(irc.RPL_TOPIC, channel(room.name), room.topic)
        elif query:
            self.send(irc.RPL_NOTOPIC, channel(room.name), "No topic is set")

    def do_names(self, channels: str = "", *_: str) -> None:
        session = self._require_session()
        for name in channels.split(",") if channels else []:
            try:
                room = session.who(name)
            except errors.ChatError:
                # Unknown, or locked and we are not in it: as IRC does for a secret channel.
                self.send(irc.RPL_ENDOFNAMES, name, "End of /NAMES list")
            else:
                self._send_names(room)
        if not channels:
            self.send(irc.RPL_ENDOFNAMES, "*", "End of /NAMES list")

    def _send_names(self, room: RoomView) -> None:
        names = [("@" if member.owner else "") + member.name for member in room.members]
        self.outbox.write(codec.name_lines(self.client(), channel(room.name), names))

    def do_list(self, channels: str = "", *_: str) -> None:
        session = self._require_session()
        wanted = {fold(name.lstrip("#")) for name in channels.split(",") if name}
        self.send(irc.RPL_LISTSTART, "Channel", "Users  Name")
        for room in session.rooms():
            if not wanted or room.key in wanted:
                self.send(irc.RPL_LIST, channel(room.name), str(room.count), room.topic)
        self.send(irc.RPL_LISTEND, "End of /LIST")

    def do_mode(self, target: str, *changes: str) -> Deferred[None] | None:
        session = self._require_session()
        if not _is_channel(target):
            self._user_mode(target, changes)
            return None
        room = session.room(target)
        if not changes:
            modes, values = "+l", [str(room.limit)]
            if room.locked:
                modes, values = "+kl", ["*", *values]
            self.send(irc.RPL_CHANNELMODEIS, channel(room.name), modes, *values)
            return None
        return self._each(CHANNEL, target, self._mode_one,
                          self._mode_changes(room, changes), "MODE")

    def _mode_changes(self, room: RoomView, changes: tuple[str, ...]) -> list[tuple[str, ...]]:
        """``+kl key 10`` as [(``+k``, key), (``+l``, ``10``)]; list queries answered here."""
        out: list[tuple[str, ...]] = []
        args = list(changes[1:])
        sign = "+"
        for letter in changes[0]:
            if letter in "+-":
                sign = letter
            elif letter in "beI" and not args:
                end = {"b": (irc.RPL_ENDOFBANLIST, "End of channel ban list"),
                       "e": (irc.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
                       "I": (irc.RPL_ENDOFINVITELIST, "End of channel invite list")}[letter]
                self.send(end[0], channel(room.name), end[1])
            elif letter == "k" or (letter == "l" and sign == "+"):
                if sign == "+" and not args:
                    self.send(irc.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                    return []
                out.append((room.name, sign + letter, args.pop(0) if args else ""))
            elif letter == "l":
                out.append((room.name, "-l", ""))
            else:
                self.send(irc.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
        return out

    def _mode_one(self, name: str, change: str, value: str) -> Deferred[None] | None:
        session = self._require_session()
        if change == "+k" and (not value or any(c.isspace() for c in value)):
            # The line protocol's /lock can't send such a key; refuse it here too.
            self.send(codec.ERR_INVALIDMODEPARAM, channel(name), "k", value or "*",
                      "a key is one word without spaces")
            return None
        if change == "+k":
            done = session.lock(name, value)
        elif change == "-k":
            done = session.unlock(name)
        elif change == "+l":
            if not (value.isascii() and value.isdigit()):
                self.send(codec.ERR_INVALIDMODEPARAM, channel(name), "l", value,
                          "a member limit is a whole number")
                return None
            done = session.set_limit(name, int(value))
        else:
            done = session.set_limit(name, session.server_info().max_room_limit)
        shown = [value] if change in ("+k", "+l") else []
        return done.addCallback(lambda _: self.outbox.write(
            message(source(session.name), "MODE", channel(name), change, *shown)))

    def _user_mode(self, target: str, changes: tuple[str, ...]) -> None:
        session = self._require_session()
        if fold(target) != session.key:
            self.send(irc.ERR_USERSDONTMATCH, "Cant change mode for other users")
            return
        if not changes:
            self.send(irc.RPL_UMODEIS, "+")
            return
        # Clients set +i by habit; every chatd user is already invisible to WHO masks.
        if changes[0].strip("+-i"):
            self.send(irc.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")

    # -- talking -----------------------------------------------------------------------

    def _relay(self, target: str, text: str) -> UserView | None:
        """Say ``text`` in a channel, or send it to a nick (the user it reached)."""
        session = self._require_session()
        text, action = codec.incoming_text(text)
        if not _is_channel(target):
            return session.message(target, text)
        session.say(text, target, action=action)
        return None

    def _privmsg_one(self, target: str, text: str) -> None:
        user = self._relay(target, text)
        away = None if user is None else self._away.get(user.key)
        if user is not None and away is not None:
            self.send(irc.RPL_AWAY, user.name, away)

    def do_privmsg(self, targets: str = "", text: str = "", *_: str) -> Deferred[None] | None:
        if not targets:
            self.send(irc.ERR_NORECIPIENT, "No recipient given (PRIVMSG)")
            return None
        if not text:
            self.send(irc.ERR_NOTEXTTOSEND, "No text to send")
            return None
        if targets.count(",") >= _MAX_TARGETS:
            self.send(irc.ERR_TOOMANYTARGETS, targets, f"at most {_MAX_TARGETS} targets")
            return None
        return self._each(TARGET, None, self._privmsg_one,
                          [(target, text) for target in targets.split(",") if target],
                          "PRIVMSG")

    def do_notice(self, targets: str = "", text: str = "", *_: str) -> None:
        """Relayed like PRIVMSG, but (as IRC requires) no error is ever sent back."""
        for target in targets.split(",")[:_MAX_TARGETS]:
            try:
                self._relay(target, text)
            except errors.ChatError:
                continue

    # -- people ------------------------------------------------------------------------

    def _who_line(self, user: MemberView | UserView, chan: str, owner: bool) -> None:
        flags = ("G" if user.key in self._away else "H") + ("@" if owner else "")
        real = "chatd guest" if user.guest else "chatd account"
        self.send(irc.RPL_WHOREPLY, chan, user.name, codec.USER_HOST, SERVER_NAME,
                  user.name, flags, f"0 {real}")

    def do_who(self, mask: str = "*", *_: str) -> None:
        session = self._require_session()
        try:
            if _is_channel(mask):
                room = session.who(mask)
                for member in room.members:
                    self._who_line(member, channel(room.name), member.owner)
            elif mask not in ("*", "0"):
                self._who_line(session.whois(mask), "*", False)
        except errors.ChatError:
            pass  # WHO of nobody is an empty list, not an error
        self.send(irc.RPL_ENDOFWHO, mask, "End of WHO list")

    def do_whois(self, *params: str) -> None:
        nick = params[-1].split(",")[0]
        session = self._require_session()
        try:
            user = session.whois(nick)
        except errors.ChatError as error:
            self.error(error, NICK, nick, "WHOIS")
        else:
            real = "chatd guest" if user.guest else "chatd account"
            self.send(irc.RPL_WHOISUSER, user.name, user.name, codec.USER_HOST, "*", real)
            rooms = [("@" if membership.owner else "") + channel(membership.room)
                     for membership in user.rooms]
            if rooms:
                self.send(irc.RPL_WHOISCHANNELS, user.name, " ".join(rooms))
            self.send(irc.RPL_WHOISSERVER, user.name, SERVER_NAME, "chatd")
            if user.key in self._away:
                self.send(irc.RPL_AWAY, user.name, self._away[user.key])
            if not user.guest:
                self.send(codec.RPL_WHOISACCOUNT, user.name, user.name, "is logged in as")
        self.send(irc.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")

    def do_away(self, text: str = "", *_: str) -> None:
        key = self._require_session().key
        if text:
            # Shown to others in 301/WHOIS: the same rules as a message (no escapes, no CR).
            self._away[key] = clean_text(codec.incoming_text(text)[0])
            self.send(irc.RPL_NOWAWAY, "You have been marked as being away")
        else:
            self._away.pop(key, None)
            self.send(irc.RPL_UNAWAY, "You are no longer marked as being away")

    # -- server ------------------------------------------------------------------------

    def do_motd(self, *_: str) -> None:
        if not self._options.motd:
            self.send(irc.ERR_NOMOTD, "MOTD File is missing")
            return
        self.send(irc.RPL_MOTDSTART, f"- {SERVER_NAME} Message of the day - ")
        for line in self._options.motd:
            self.send(irc.RPL_MOTD, f"- {line}")
        self.send(irc.RPL_ENDOFMOTD, "End of /MOTD command.")

    def do_lusers(self, *_: str) -> None:
        server = self._require_session().server_info()
        users = server.sessions
        self.send(irc.RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
        self.send(irc.RPL_LUSERCHANNELS, str(server.rooms), "channels formed")
        self.send(irc.RPL_LUSERME, f"I have {users} clients and 0 servers")


class IRCFactory(FrontendFactory):
    """Builds IRC connections; holds the away messages IRC users set (an IRC-only notion)."""

    options: Options

    def __init__(
        self,
        portal: Portal,
        options: Options,
        clock: IReactorTime,
        admission: Admission,
        stats: Stats,
    ) -> None:
        super().__init__(portal, options, clock, admission, stats)
        self.away: dict[str, str] = {}

    def buildProtocol(self, addr: Any) -> IRCProtocol:
        protocol = IRCProtocol(self)
        protocol.factory = self
        return protocol
