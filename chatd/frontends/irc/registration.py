"""IRC registration as a sans-IO state machine: inputs in, actions out, no transport.

A client registers by sending ``NICK`` and ``USER``; it may first open a ``CAP`` negotiation
(which holds registration until ``CAP END``), log in with ``PASS``, SASL ``PLAIN``
(``AUTHENTICATE``) or create an account with the IRCv3 ``REGISTER`` draft. This module decides
what each of those lines means in the current state and answers with *actions*: replies to
send, credentials to log in with, the welcome, a close. The protocol runs the actions (the
portal login is its only asynchronous step) and reports the login's outcome back with
``logged_in`` or ``refused``, which answer with more actions.

The state is one of ``State``; CAP negotiation and authentication overlap (SASL happens inside
a negotiation), so "authenticated while negotiating" is a state of its own rather than two
booleans. The protocol handles commands one at a time and queues lines behind a login, so no
input arrives while a login is outstanding.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from twisted.cred.credentials import ICredentials
from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import source
from chatd.frontends.irc.replies import NICK, REGISTER, SASL, code_for
from chatd.kernel import errors
from chatd.kernel.credentials import AccountLogin, GuestNick, Signup
from chatd.kernel.names import fold

# What each capability's value is in CAP LS 302 (empty: none). multi-prefix and
# userhost-in-names change NAMES, WHO and WHOIS; cap-notify is acknowledged, as the list never
# changes while chatd runs. server-time, message-tags, account-tag, extended-join,
# away-notify and account-notify change how events are rendered (rendering.py), echo-message
# whether one's own messages come back; batch and draft/chathistory are history's
# (chathistory.py); draft/message-redaction brings REDACT (redaction.py), draft/read-marker
# the read markers' (markers.py).
# labeled-response labels a command's replies (labels.py); setname and extended-monitor
# decide who is shown SETNAME and AWAY lines (protocol.py).
CAPABILITIES = {"sasl": "PLAIN", "draft/account-registration": "before-connect",
                "labeled-response": "", "setname": "", "extended-monitor": "",
                "multi-prefix": "", "userhost-in-names": "", "cap-notify": "",
                "server-time": "", "message-tags": "", "account-tag": "", "extended-join": "",
                "away-notify": "", "echo-message": "", "batch": "", "draft/chathistory": "",
                "draft/message-redaction": "",
                "draft/read-marker": "",
                # a channel operator hears of invitations to the channel (protocol.deliver)
                "invite-notify": "",
                "account-notify": ""}
# The same, where REGISTER works only after the welcome.
_AFTER_CONNECT = {**CAPABILITIES, "draft/account-registration": ""}
# SASL responses come in 400-byte chunks (a longer one is 905); more than SASL_MAX in total
# is not a PLAIN login (904): the longest password (MAX_PASSWORD characters of up to four
# UTF-8 bytes) and two names, in base64.
SASL_CHUNK = 400
SASL_MAX = 8192
# Registration failures after which the client may simply send another NICK.
RETRY_NICK = frozenset({irc.ERR_ERRONEUSNICKNAME, irc.ERR_NICKNAMEINUSE})
# What a connection holds while no login is outstanding: shared, since thousands of idle
# registered connections keep them (what an empty set costs: docs/performance.md).
_NO_CAPS: frozenset[str] = frozenset()
_NO_LOGIN = (NICK, "", "NICK")


class State(Enum):
    """Where a connection is in registering."""

    ANONYMOUS = "anonymous"  # not logged in; NICK and USER register it
    NEGOTIATING = "negotiating CAP"  # not logged in; registration waits for CAP END
    AUTHENTICATED = "authenticated"  # logged in (SASL, REGISTER), not yet welcomed
    AUTHENTICATED_NEGOTIATING = "authenticated, negotiating CAP"
    REGISTERED = "registered"  # welcomed: every command is open


_NEGOTIATING = frozenset({State.NEGOTIATING, State.AUTHENTICATED_NEGOTIATING})
_LOGGED_IN = frozenset({State.AUTHENTICATED, State.AUTHENTICATED_NEGOTIATING,
                        State.REGISTERED})
# What opening and closing a CAP negotiation, and logging in, do to the state.
_OPEN = {State.ANONYMOUS: State.NEGOTIATING,
         State.AUTHENTICATED: State.AUTHENTICATED_NEGOTIATING}
_CLOSE = {v: k for k, v in _OPEN.items()}
_LOG_IN = {State.ANONYMOUS: State.AUTHENTICATED,
           State.NEGOTIATING: State.AUTHENTICATED_NEGOTIATING}


@dataclass(frozen=True, slots=True)
class Reply:
    """A numeric to the client (the protocol adds the client's name)."""

    code: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Send:
    """A server line that is not a numeric (CAP, AUTHENTICATE, FAIL, REGISTER)."""

    command: str
    params: tuple[str, ...]
    prefix: str | None = None  # None: the server's name


@dataclass(frozen=True, slots=True)
class LogIn:
    """Log in through the portal with these credentials; report back with ``logged_in`` or
    ``refused``."""

    credentials: ICredentials


@dataclass(frozen=True, slots=True)
class Welcome:
    """Registration is complete: send the welcome burst (001-005, LUSERS, MOTD)."""


@dataclass(frozen=True, slots=True)
class Refuse:
    """Send the reply for a domain error, as the command table's target kinds map it."""

    error: errors.ChatError
    kind: str
    target: str
    command: str


@dataclass(frozen=True, slots=True)
class CapsChanged:
    """The enabled capabilities changed (a CAP REQ was acknowledged): what is rendered for
    the client, and whether its own messages come back, follow at once."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection, telling the client why."""

    why: str


Action = Reply | Send | LogIn | Welcome | Refuse | Close | CapsChanged


class Registration:
    """One connection's registration: what it has sent so far and what that leads to."""

    __slots__ = ("_host", "_nick", "_password", "_pending", "_sasl", "caps", "guest", "name",
                 "realname", "state", "username")

    def __init__(self, host: str) -> None:
        self._host = host  # the client's address: every credential carries it
        self.state = State.ANONYMOUS
        self._nick: str | None = None
        self._password: str | None = None
        self._sasl: list[str] | None = None  # SASL PLAIN chunks so far, once started
        # The outstanding login: what the failed command named, that name, the command.
        self._pending: tuple[str, str, str] = _NO_LOGIN
        # Replaced, never changed in place, by a CAP REQ.
        self.caps = _NO_CAPS
        self.realname: str | None = None  # from USER (None: not sent): shown in WHO and WHOIS
        self.username = ""  # from USER, as codec.username keeps it
        self.name: str | None = None  # the session's display name, once logged in
        self.guest = True

    @property
    def registered(self) -> bool:
        return self.state is State.REGISTERED

    @property
    def client(self) -> str:
        """How replies address the client: its name once logged in, ``*`` before."""
        return "*" if self.name is None else self.name

    # -- inputs ------------------------------------------------------------------------

    def cap(self, subcommand: str, *args: str, before_connect: bool = True) -> list[Action]:
        """CAP; ``before_connect``: whether REGISTER works before the welcome (the
        ``irc-register-before-connect`` setting), which the account-registration value says."""
        verb = subcommand.upper()
        if verb == "LS":
            self.state = _OPEN.get(self.state, self.state)
            modern = bool(args) and args[0].isdigit() and int(args[0]) >= 302
            values = CAPABILITIES if before_connect else _AFTER_CONNECT
            offered = " ".join(
                f"{name}={value}" if modern and value else name
                for name, value in values.items()
            )
            return [Send("CAP", (self.client, "LS", offered))]
        if verb == "REQ":
            self.state = _OPEN.get(self.state, self.state)
            wanted = args[0].split() if args else []
            names = [name.lstrip("-") for name in wanted]
            if not wanted or not all(name in CAPABILITIES for name in names):
                return [Send("CAP", (self.client, "NAK", " ".join(wanted)))]
            before, caps = self.caps, set(self.caps)
            for name, asked in zip(names, wanted, strict=True):
                if asked.startswith("-"):
                    caps.discard(name)
                else:
                    caps.add(name)
            acked: list[Action] = [Send("CAP", (self.client, "ACK", " ".join(wanted)))]
            if caps == before:
                return acked
            self.caps = frozenset(caps)
            return [*acked, CapsChanged()]
        if verb == "LIST":
            return [Send("CAP", (self.client, "LIST", " ".join(sorted(self.caps))))]
        if verb == "END":
            self.state = _CLOSE.get(self.state, self.state)
            return self._try_register()
        return [Reply(codec.ERR_INVALIDCAPCMD, (subcommand, "Invalid CAP command"))]

    def password(self, password: str) -> list[Action]:
        if self.state in _LOGGED_IN:
            return [Reply(irc.ERR_ALREADYREGISTRED, ("You may not reregister",))]
        self._password = password
        return []

    def nick(self, nick: str | None) -> list[Action]:
        if nick is None:
            return [Reply(irc.ERR_NONICKNAMEGIVEN, ("No nickname given",))]
        self._nick = nick
        return self._try_register()

    def user(self, username: str, realname: str) -> list[Action]:
        if self.registered:
            return [Reply(irc.ERR_ALREADYREGISTRED, ("You may not reregister",))]
        if not realname.strip():
            return [Reply(irc.ERR_NEEDMOREPARAMS, ("USER", "Not enough parameters"))]
        self.realname = codec.printable(realname)
        self.username = codec.username(username)
        return self._try_register()

    def authenticate(self, data: str, claimant: str = "") -> list[Action]:
        """AUTHENTICATE; after the welcome, a guest's login to an account, after which the
        guest session ``claimant`` is the account's, called by its name. An account never
        logs in to another (907): its session, rooms and nick are its account's."""
        if self.state in _LOGGED_IN and not (self.registered and self.guest):
            return [Reply(codec.ERR_SASLALREADY, ("You have already authenticated",))]
        if data == "*":
            self._sasl = None
            return [Reply(codec.ERR_SASLABORTED, ("SASL authentication aborted",))]
        if self._sasl is None:
            if data.upper() != "PLAIN":
                return [Reply(codec.RPL_SASLMECHS, ("PLAIN", "are available SASL mechanisms")),
                        Reply(codec.ERR_SASLFAIL, ("SASL authentication failed",))]
            self._sasl = []
            return [Send("AUTHENTICATE", ("+",), prefix="")]
        if len(data) > SASL_CHUNK:
            self._sasl = None
            return [Reply(codec.ERR_SASLTOOLONG, ("SASL message too long",))]
        self._sasl.append("" if data == "+" else data)
        if sum(map(len, self._sasl)) > SASL_MAX:
            self._sasl = None
            return [Reply(codec.ERR_SASLFAIL, ("SASL authentication failed: response too long",))]
        if len(data) == SASL_CHUNK:
            return []  # more chunks follow, or "+" if this one ended exactly at 400
        response, self._sasl = "".join(self._sasl), None
        plain = codec.sasl_plain(response)
        if plain is None:
            return [Reply(codec.ERR_SASLFAIL, ("SASL authentication failed: malformed PLAIN",))]
        self._pending = (SASL, data, "AUTHENTICATE")
        held = self.name if claimant and self.name is not None else ""
        return [LogIn(AccountLogin(plain[0], plain[1], self._host, claimant, held))]

    def register(self, account: str, password: str, claimant: str = "",
                 before_connect: bool = True) -> list[Action]:
        """REGISTER: before the welcome (if ``before_connect``), a signup that logs in; after
        it, a guest's signup of its own nick, after which the guest session ``claimant`` is
        the account's."""
        if self.state in _LOGGED_IN and not (self.registered and self.guest):
            return [Send("FAIL", ("REGISTER", "ALREADY_AUTHENTICATED", account,
                                  "you are logged in already"))]
        if not self.registered and not before_connect:
            return [Send("FAIL", ("REGISTER", "COMPLETE_CONNECTION_REQUIRED", account,
                                  "finish connecting (NICK, USER, CAP END) first"))]
        nick = self.name if self.registered else self._nick
        if nick is None:
            return [Send("FAIL", ("REGISTER", "NEED_NICK", account, "send NICK first"))]
        if account != "*" and fold(account) != fold(nick):
            return [Send("FAIL", ("REGISTER", "ACCOUNT_NAME_MUST_BE_NICK", account,
                                  "the account name is your nick"))]
        self._pending = (REGISTER, account, "REGISTER")
        return [LogIn(Signup(nick, password, self._host, claimant))]

    # -- the outcome of a LogIn --------------------------------------------------------

    def logged_in(self, name: str, guest: bool) -> list[Action]:
        """The portal accepted the last ``LogIn``'s credentials."""
        old, self.name, self.guest = self.name, name, guest
        self.state = _LOG_IN.get(self.state, self.state)
        actions: list[Action] = []
        if not guest:
            actions.append(Reply(codec.RPL_LOGGEDIN, (
                source(name), name, f"You are now logged in as {name}")))
        kind, self._pending = self._pending[0], _NO_LOGIN
        if kind == SASL:
            actions.append(Reply(codec.RPL_SASLSUCCESS, ("SASL authentication successful",)))
        elif kind == REGISTER:
            actions.append(Send("REGISTER", (
                "SUCCESS", name, "your account is created and you are logged in")))
        else:
            actions.extend(self._welcome())
        if self.registered and old is not None and old != name:
            # A guest logged in to an account after the welcome: now called by its name.
            actions.append(Send("NICK", (name,), prefix=source(old)))
        return actions

    def refused(self, error: errors.ChatError) -> list[Action]:
        """The portal refused the last ``LogIn``'s credentials with ``error``."""
        kind, target, command = self._pending
        actions: list[Action] = [Refuse(error, kind, target, command)]
        if kind == NICK and code_for(error, NICK)[0] not in RETRY_NICK:
            actions.append(Close(str(error)))
        return actions

    # -- transitions -------------------------------------------------------------------

    def _try_register(self) -> list[Action]:
        """Once NICK, USER and any CAP negotiation are done: log in, then welcome."""
        if (self.state in _NEGOTIATING or self.registered or self._nick is None
                or self.realname is None):
            return []
        aborted: list[Action] = []
        if self._sasl is not None:  # registration completes an unfinished SASL: abort it
            self._sasl = None
            aborted.append(Reply(codec.ERR_SASLABORTED, ("SASL authentication aborted",)))
        if self.state is State.AUTHENTICATED:
            return [*aborted, *self._welcome()]
        self._pending = (NICK, self._nick, "NICK")
        credentials: ICredentials = (
            GuestNick(self._nick, self._host) if self._password is None
            else AccountLogin(self._nick, self._password, self._host))
        return [*aborted, LogIn(credentials)]

    def _welcome(self) -> list[Action]:
        # Registered: no command reads the nick or password sent to register again.
        self.state, self._nick, self._password = State.REGISTERED, None, None
        return [Welcome()]
