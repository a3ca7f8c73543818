"""The command client: one user of the line command language, whatever carries its lines.

A line connection and a browser speak the same language (``chatd.frontends.interpreter``)
over different wires. What does not depend on the wire is written once, here, in
``CommandClient``, which each of them has (has-a, not is-a): the connection policy it is the
guarded side of (admission, timers, one line at a time, fakelag), logging in through the
portal and logging out with the reason its rooms hear, the greeting and the texts of the
policy's refusals, answering a line (its reply, history, and the close a reply may ask
for), and the events delivery gives it as a mind.

What differs is the wire's, handed in as two small things: the frontend's ``Format``
(shared by all its clients: how an event, a kept message, a reply and a notice look on the
wire) and the connection's ``Wire`` (decode one framed item, pause reading, take or send a
file's raw bytes). The wire decodes an item into a line of text and gives it to ``command``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.cred.credentials import ICredentials
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.frontends.codes import Code
from chatd.frontends.connection import dropped_slow, logged_out
from chatd.frontends.connections import Connections
from chatd.frontends.interpreter import (
    ICommandClient,
    LineInterpreter,
    Reply,
    is_message,
    replay_on_join,
)
from chatd.frontends.options import ConnectionOptions
from chatd.frontends.policy import ConnectionPolicy, Counters, Home
from chatd.frontends.sink import ISink
from chatd.kernel import errors
from chatd.kernel.events import (
    AwayChanged,
    Event,
    Invited,
    Joined,
    LeaveReason,
    PresenceChanged,
    ReadMoved,
    RealNameChanged,
    SessionEnded,
    Tagged,
)
from chatd.kernel.interfaces import IChatMind, IChatSession
from chatd.kernel.names import fold
from chatd.kernel.text import for_log

log = Logger()


@dataclass(frozen=True, slots=True)
class Format:
    """A frontend's wire format, as its command clients write it (one for all of them)."""

    render: Callable[[Event], bytes]  # a live event (``IChatMind.render``)
    history: Callable[[Event], bytes]  # a kept message, as a 110
    reply: Callable[[Reply, object], bytes]  # a final reply, with the request it answers
    notice: Callable[[Code, str], bytes]  # a line from the connection itself (220, 109 ...)


class ClientHome(Home, Protocol):
    """What the command clients of one frontend share (its factory)."""

    portal: Portal
    options: Any
    stats: Counters
    connections: Connections
    interpreter: LineInterpreter
    format: Format


class Wire(Protocol):
    """The connection a command client talks over."""

    kind: str  # the protocol's name, for logs

    @property
    def where(self) -> str:
        """Where the client is, for logs."""

    def handle(self, item: Any) -> Deferred[None] | None:
        """Decode one framed item and give its line to ``CommandClient.command``."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]: ...

    def download_file(self, file_id: str) -> Deferred[Reply]: ...


def greeting(options: ConnectionOptions) -> str:
    """The first thing a client is told: how to log in, and how long it has."""
    guests = "/nick NAME to chat as a guest, " if options.guests else ""
    limit = options.login_timeout
    within = f" (log in within {limit:g} seconds; /help gives you longer)" if limit else ""
    return (f"chatd ready. {guests}/signup NAME PASSWORD or /login NAME PASSWORD for an "
            f"account, /help for all commands{within}")


@implementer(IChatMind, ICommandClient)
class CommandClient(ConnectionPolicy[Any]):
    """One client of the line command language: a mind, an ``ICommandClient``, and its own
    connection policy, guarding itself. One object, not a client holding a policy: an idle
    connection costs an object and three references less (``bench/connmem.py``)."""

    # One per connection: slots, and only what the wire and the policy do not already hold.
    __slots__ = ("_closed", "_wire", "leave_reason", "quit_message", "session")
    echo = True  # the sender sees its own message, in order with everyone else's
    seat = None  # a connection, not a seat in one room (IChatMind.seat)
    attached = None  # its format never changes while attached (IChatMind.attached)

    _home: ClientHome

    def __init__(self, home: ClientHome, wire: Wire, sink: ISink, host: str) -> None:
        super().__init__(home, home.options.connection, self, sink, host)
        self._wire = wire
        self._closed = False
        self.leave_reason = LeaveReason.LOST
        self.quit_message = ""
        self.session: IChatSession | None = None

    @property
    def policy(self) -> ConnectionPolicy[Any]:
        """The client's connection policy: itself."""
        return self

    @property
    def sink(self) -> ISink:
        return self._sink

    @property
    def kind(self) -> str:
        return self._wire.kind

    @property
    def peer(self) -> str:
        return self._wire.where

    @property
    def outbox(self) -> ISink:
        """Its sink, as the metrics read every frontend's connections."""
        return self.sink

    @property
    def render(self) -> Callable[[Event], bytes]:
        return self._home.format.render

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.sink.write

    @property
    def udp_port(self) -> int | None:
        port: int | None = self._home.options.connection.udp_port
        return port

    # -- life ----------------------------------------------------------------------------

    def greet(self) -> None:
        """The client was let in: tell it how to log in, and how long it has."""
        self.notice(Code.GREETING, greeting(self._home.options.connection))

    def close(self, why: str) -> None:
        """Tell the client why (109), and close once what is queued has been sent."""
        self.notice(Code.CLOSING, why)
        self.sink.close()

    def login_timeout_text(self) -> str:
        limit = self._home.options.connection.login_timeout
        return f"no login within {limit:g} seconds; goodbye (connect again to start over)"

    def too_much_text(self) -> str:
        limit = self._home.options.connection.max_bytes_before_login
        return f"more than {limit} bytes before logging in; goodbye"

    def output_overflowed(self) -> None:
        """The client stopped reading and too much piled up: drop it, tell its rooms."""
        dropped_slow(self.kind, self.peer, self.session,
                     self._home.options.connection.max_output)
        self.leave_reason = LeaveReason.SLOW
        self.sink.abort()

    def lost(self) -> None:
        """The connection is gone (its sink stopped): stop the policy's timers, and log the
        session out with the reason its rooms hear. Its quit is the portal's logout
        (``chatd.auth.realm``)."""
        super().lost()
        self._closed = True
        logged_out(self.kind, self.peer, self.session, self.leave_reason, self.quit_message)

    # -- the policy's guarded side -------------------------------------------------------

    def handle(self, item: Any) -> Deferred[None] | None:
        return self._wire.handle(item)

    def pause_reading(self) -> None:
        self._wire.pause_reading()

    def resume_reading(self) -> None:
        self._wire.resume_reading()

    def paced(self, text: str) -> None:
        self.notice(Code.PACING, text)

    # -- lines ---------------------------------------------------------------------------

    def command(self, text: str, request: object = None) -> Deferred[None] | None:
        """One decoded line, answered (``request``: what the wire's reply echoes); a
        Deferred if its reply is still to come."""
        session = self.session
        first = text[:1]
        # Text for the room, nearly every line: is_message, without a call when the first
        # character alone says so.
        if session is not None and (
                (first and first not in "/ \t" and not first.isspace()) or is_message(text)):
            held = self.policy.pace(session, self._say, text, request)
            if held is None:
                self._say(text, request)
            return held
        if session is None and text.lstrip(" \t")[:5].lower() == "/help":
            self.policy.more_time()  # someone reading the help before logging in
        answer = self._home.interpreter.feed(self, text)
        if isinstance(answer, Deferred):
            answered: Deferred[None] = answer.addCallback(self.answer, request)
            return None if answered.called else answered
        self.answer(answer, request)
        return None

    def _say(self, text: str, request: object) -> None:
        said = self._home.interpreter.say(self, text)
        if said is not None:  # a refusal: said text is acknowledged by its echo
            self.answer(said, request)

    def answer(self, answer: Reply | None, request: object = None) -> None:
        """Write the reply (after the kept messages it carries); close the connection after
        it if it says so."""
        if answer is None:
            return
        sink, fmt = self.sink, self._home.format
        for event in answer.history:
            sink.write(fmt.history(event))
        sink.write(fmt.reply(answer, request))
        end = answer.end
        if end is not None:
            self.leave_reason, self.quit_message = end.reason, end.message
            if end.notice:
                self.close(end.notice)
            else:
                sink.close()

    def notice(self, code: Code, text: str) -> None:
        self.sink.write(self._home.format.notice(code, text))

    def deliver(self, event: Event) -> None:
        kind = type(event)
        if kind in (Tagged, PresenceChanged, RealNameChanged):
            return  # client-only tags (typing), MONITOR, SETNAME: IRC's; nothing to show
        if type(event) is Invited and self.session is not None \
                and fold(event.who) != self.session.key:
            return  # someone else's invitation, told to operators for IRC's invite-notify
        if kind is SessionEnded:
            # The server ended this session (account deleted or locked): say why (109), then
            # close; the close logs out as for any other.
            self.close(event.why)  # type: ignore[attr-defined]
            return
        if type(event) is ReadMoved and self.session is not None and (
                event.origin == self.session.id):
            return  # the reader had its reply to /read
        if kind is AwayChanged and event.seat:  # type: ignore[attr-defined]
            return  # a seat held or resumed: each shared room's 124 or 125 says it
        fmt = self._home.format
        self.sink.write(event.encoded(fmt.render))
        # After our own join: the room's last messages, each a 110, before the reply to the
        # /join.
        replay = self._home.options.connection.replay
        if not replay or type(event) is not Joined:
            return
        kept, more = replay_on_join(self.session, event, replay)
        for old in kept:
            self.sink.write(fmt.history(old))
        if more:
            self.sink.write(fmt.notice(Code.UNREAD, more))

    # -- files (the wire's) --------------------------------------------------------------

    def upload_file(self, room: str, name: str, size: int, sha256: str | None
                    ) -> Deferred[Reply]:
        return self._wire.upload_file(room, name, size, sha256)

    def download_file(self, file_id: str) -> Deferred[Reply]:
        return self._wire.download_file(file_id)

    # -- logging in ----------------------------------------------------------------------

    def log_out(self) -> str:
        """/logout: the session quits (its rooms hear "logged out", its mind is detached by
        the realm) and the connection is anonymous again, with a new login timer."""
        session = self.session
        if session is not None:
            self.session = None
            log.info("{name} logged out over {protocol} from {peer}; the connection stays",
                     name=session.name, protocol=self.kind, peer=self.peer)
            session.quit(LeaveReason.QUIT, "logged out")
            self.policy.logged_out()
        return greeting(self._home.options.connection)

    def _tell_rooms(self, session: IChatSession) -> None:
        """A session of an account already in rooms (another session joined them) is in
        them too: one 108 per room, before the welcome, ``[ROOM] current:`` for the one plain
        text goes to and ``[ROOM] member:`` for the others, fields a program reads."""
        for name in session.my_rooms():
            room = session.room(name)
            members = f"{room.count} member{'' if room.count == 1 else 's'}"
            current = name == session.current
            state, here = ("current", "; you talk here") if current else ("member", "")
            topic = f"; topic: {room.topic}" if room.topic else ""
            self.notice(Code.IN_ROOM, f"[{room.name}] {state}: you are in {room.name} "
                                      f"({members}){here}{topic}")

    def _resumed(self, session: IChatSession) -> None:
        """What a resumed seat missed, as 110 lines (a 100 per conversation where earlier
        ones were left out), before the welcome; and a guest's resume token (123)."""
        sink, fmt = self.sink, self._home.format
        for missed in session.missed():
            if missed.more:
                where = missed.target if missed.room else f"with {missed.target}"
                self.notice(Code.NOTICE, f"{missed.more} earlier missed messages {where} not "
                                         f"shown; /history reads them")
            for event in missed.events:
                sink.write(fmt.history(event))
        if session.guest:
            token = session.resume_token()
            if token:
                self.notice(Code.RESUME_TOKEN, f"{token} : if your connection drops, "
                                               f"/resume {token} takes your seat back")

    def log_in(self, credentials: ICredentials) -> Deferred[IChatSession | None]:
        """Portal login; the session is kept, or given back if the client left meanwhile."""

        def logged_in(result: tuple[Any, IChatSession, Callable[[], None]]
                      ) -> IChatSession | None:
            _, session, logout = result
            if self._closed:
                logout()
                return None
            self.session = session
            self.policy.logged_in()
            self._tell_rooms(session)
            self._resumed(session)
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in ({kind}) over {protocol} from {peer}",
                     name=session.name, kind=kind, protocol=self.kind, peer=self.peer)
            return session

        def refused(failure: Failure) -> Failure:
            if failure.check(errors.WrongCredentials):
                self._home.stats.login_failures += 1
            log.info("{protocol} login refused from {peer}: {why}", protocol=self.kind,
                     peer=self.peer, why=for_log(failure.getErrorMessage(), 200))
            return failure

        return self._home.portal.login(credentials, self, IChatSession).addCallbacks(
            logged_in, refused)
