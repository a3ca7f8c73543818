"""The IRC connection: framing hand-off, keep-alive, events out, and command dispatch.

Everything IRC-specific that is not about a socket lives beside this module: registration
(``registration``, sans-IO), the command table (``commands``) and its handlers, errors as
numerics (``replies``), and the wire format (``codec``). ``IRCProtocol`` glues them to a
``ChatConnection`` and is the handlers' ``Context``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from itertools import count
from typing import Any

from twisted.cred.credentials import ICredentials
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols import irc
from zope.interface import implementer

from chatd.frontends.connection import (
    ChatConnection,
    FrontendFactory,
    dropped_slow,
    logged_out,
)
from chatd.frontends.framing import TooLong
from chatd.frontends.irc import (
    channels,
    chathistory,
    codec,
    labels,
    markers,
    messages,
    monitor,
    queries,
    redaction,
    replies,
)
from chatd.frontends.irc.codec import message, numeric
from chatd.frontends.irc.commands import COMMANDS, Command
from chatd.frontends.irc.keepalive import KeepAlive
from chatd.frontends.irc.labels import Labeled
from chatd.frontends.irc.options import Options
from chatd.frontends.irc.registration import (
    Action,
    CapsChanged,
    Close,
    LogIn,
    Refuse,
    Registration,
    Reply,
    Send,
    Welcome,
)
from chatd.frontends.irc.rendering import Render, Renderers, event_tags
from chatd.frontends.policy import POLICY_SLOTS, ConnectionPolicy, PolicyRules
from chatd.frontends.sink import ISink
from chatd.kernel import errors
from chatd.kernel.events import (
    AwayChanged,
    Event,
    FileShared,
    Inactive,
    Invited,
    Joined,
    LeaveReason,
    Left,
    NickChanged,
    PresenceChanged,
    Private,
    ReadMoved,
    RealNameChanged,
    Redacted,
    Returned,
    SessionEnded,
    Tagged,
)
from chatd.kernel.interfaces import IChatMind, IChatSession
from chatd.kernel.names import fold

log = Logger()

# The commands fakelag paces: messages, which the session's message rate counts.
PACED = frozenset({"PRIVMSG", "NOTICE", "TAGMSG"})


@implementer(IChatMind)
class IRCProtocol(PolicyRules[bytes | TooLong], ChatConnection):
    """One IRC client connection, its own connection policy (``PolicyRules``)."""

    # Per connection only what differs between connections: what every connection shares
    # (real names, renderers, keep-alive, delivery's regroup) is read from the factory.
    __slots__ = ("_closed", "_labeled", "_registration", "client_tags", "echo", "heard",
                 "leave_reason", "pinged_at", "quit_message", "render", "session",
                 *POLICY_SLOTS)
    kind = "IRC"
    seat = None  # a connection, not a seat in one room (IChatMind.seat)
    _home: IRCFactory

    @property
    def write(self) -> Callable[[bytes], None]:
        return self.outbox.write

    def __init__(self, home: IRCFactory) -> None:
        super().__init__(home, codec.MAX_FRAME)
        # Keep-alive (``keepalive.Pingable``): when the client last sent something, and when
        # it was last pinged; the factory's one sweep reads them.
        self.heard = 0.0
        self.pinged_at = 0.0
        self._registration: Registration  # made once admitted, when the address is known
        # The wire format, for the capabilities the client enabled (IChatMind.render), and
        # whether its own messages come back (echo-message; IRC clients show their own lines
        # without one otherwise). Delivery reads both when it builds a room's groups; its
        # ``regroup`` (kept by the factory) has them rebuilt when a CAP REQ changes them.
        self.render: Render = home.renderers.plain
        self.echo = False
        self._closed = False
        # The reply context of a labeled command in progress (labeled-response), else None.
        self._labeled: Labeled | None = None
        # The client-only tags of the command being handled (Context.client_tags).
        self.client_tags: dict[str, str] | None = None
        self.leave_reason = LeaveReason.LOST
        self.quit_message = ""
        self.session: IChatSession | None = None

    # -- connection --------------------------------------------------------------------

    def guard(self) -> ConnectionPolicy[bytes | TooLong]:
        self.start_policy()
        return self  # type: ignore[return-value]  # PolicyRules: a policy, without its slots

    # The policy's references (PolicyRules), read from what the connection holds anyway.
    @property
    def _guarded(self) -> IRCProtocol:  # type: ignore[override]
        return self

    @property
    def _sink(self) -> ISink:  # type: ignore[override]
        return self.outbox

    @property
    def _limits(self) -> Any:  # type: ignore[override]
        return self._options.connection

    def admitted(self) -> None:
        self._registration = Registration(self.host)
        self._home.keep_alive.add(self)

    def activity(self) -> None:
        self.heard = self._home.keep_alive.soon

    def login_timeout_text(self) -> str:
        return f"Registration timeout: {self._options.connection.login_timeout:g} seconds"

    def too_much_text(self) -> str:
        limit = self._options.connection.max_bytes_before_login
        return f"More than {limit} bytes before registering"

    def output_overflowed(self) -> None:
        dropped_slow(self.kind, self.peer, self.session, self._options.connection.max_output)
        self.leave_reason = LeaveReason.SLOW
        self.outbox.abort()

    def gone(self) -> None:
        self.policy.lost()
        self._closed = True
        self._home.keep_alive.remove(self)
        if self.session is not None:
            self._home.realnames.pop(self.session.key, None)
            if self._registration.registered:
                self._home.registered -= 1
        logged_out(self.kind, self.peer, self.session, self.leave_reason, self.quit_message)

    def paced(self, text: str) -> None:
        """Fakelag began: a NOTICE says so (the lines are not refused, only slowed)."""
        self.outbox.write(message(self._home.server_name, "NOTICE", self.client(), text))

    def ping(self) -> None:
        """Silent for ``ping-interval`` seconds (the factory's keep-alive sweep)."""
        self.outbox.write(message("", "PING", self._home.server_name))

    def timed_out(self) -> None:
        """No answer to the PING within ``ping-timeout`` seconds (the sweep)."""
        self.leave_reason = LeaveReason.TIMEOUT
        self.close(f"Ping timeout: {self._options.ping_timeout:g} seconds")

    def close(self, why: str) -> None:
        self.outbox.write(message("", "ERROR", f"Closing link: {why}"))
        self.outbox.close()

    def quit(self, text: str) -> None:
        self.leave_reason, self.quit_message = LeaveReason.QUIT, text
        self.close(f"Quit: {text}" if text else "Quit")

    # -- events out --------------------------------------------------------------------

    def attached(self, regroup: Callable[[str], None]) -> None:
        """Delivery took this mind (IChatMind.attached): ``regroup`` rebuilds its groups.

        Delivery gives every mind the same ``regroup``, so the factory keeps one for all."""
        self._home.regroup = regroup

    def _caps_changed(self) -> None:
        """A CAP REQ changed the capabilities: the live traffic's format and echo follow."""
        caps = self._registration.caps
        self.render = self._home.renderers(caps)
        self.echo = "echo-message" in caps
        regroup = self._home.regroup
        if regroup is not None and self.session is not None:
            regroup(self.session.key)

    def _link(self, file_id: str) -> tuple[str, int] | None:
        """A download URL made for this member (IRC has no way to fetch a file itself), or
        None where there are no links."""
        if self.session is None:
            return None
        try:
            return self.session.file_link(file_id)
        except errors.ChatError:
            return None

    def deliver(self, event: Event) -> None:
        # Room messages don't come here: delivery writes them to ``write`` in our ``render``
        # and, unless ``echo`` (echo-message), skips the sender.
        if codec.is_quit(event) and self._still_shared(event):
            return
        if isinstance(event, AwayChanged) and not (
                "away-notify" in self._registration.caps and self._hears_about(event.who)):
            return
        if type(event) is Tagged and not self._tags_wanted(event):
            return
        if isinstance(event, RealNameChanged):
            # SETNAME: the real name WHO and WHOIS show, kept by the frontend; shown live
            # only to clients with the capability.
            self._home.realnames[fold(event.who)] = event.real_name
            if "setname" in self._registration.caps and self._hears_about(event.who):
                self.outbox.write(event.encoded(self.render))
            return
        if isinstance(event, PresenceChanged):
            # MONITOR: for the watching session alone (the user's others did not ask).
            if self.session is not None and event.watcher == self.session.id:
                self.outbox.write(monitor.presence_line(self._home.server_name, self.client(),
                                                        event))
            return
        if (type(event) is Invited and "invite-notify" not in self._registration.caps
                and self.session is not None and fold(event.who) != self.session.key):
            return  # someone else's invitation, told to operators: for invite-notify only
        if isinstance(event, (Inactive, Returned)):
            return  # a seat held or resumed: IRC shows the AwayChanged that comes with it
        if isinstance(event, SessionEnded):
            # The server ended this session (account deleted or locked): say why, then close;
            # connectionLost logs out as for any close.
            self.close(event.why)
            return
        if type(event) is ReadMoved:
            # The session that read was answered; the others hear it if they asked to.
            mine = self.session is not None and event.origin == self.session.id
            if not mine and markers.CAP in self._registration.caps:
                self.outbox.write(markers.moved(self._home.server_name, event))
            return
        if isinstance(event, NickChanged) and self._renamed(event):
            return
        if type(event) is Redacted:
            assert isinstance(event, Redacted)
            self.outbox.write(redaction.redact_line(event, self._registration.caps))
            return
        if self._labeled is not None and self._from_myself(event):
            # A private message to oneself: the echo is the labeled reply, not this.
            self._labeled.after.append(event.encoded(self.render))
            return
        if isinstance(event, FileShared):
            self.outbox.write(codec.tagged(event_tags(event, self._registration.caps),
                                           codec.file_shared(self._home.server_name, event,
                                                             self._link(event.file_id))))
            return
        self.outbox.write(event.encoded(self.render))
        if (isinstance(event, Joined) and self.session is not None
                and fold(event.who) == self.session.key):
            markers.on_join(self, event.room)
            channels.greet(self, event.room)
            chathistory.replay(self, event.room, self._options.connection.replay,
                               self._options.replay_plain)

    def _hears_about(self, who: str) -> bool:
        """Whether a change ``who`` tells about itself (away, real name) is shown here: its
        own, a channel peer's, or, with extended-monitor, a monitored nick's."""
        session = self.session
        if session is None:
            return False
        key = fold(who)
        if key == session.key or session.shares_room(who, ""):
            return True
        return "extended-monitor" in self._registration.caps and any(
            fold(name) == key for name, _ in session.watching())

    def _from_myself(self, event: Event) -> bool:
        """Whether ``event`` is a private message or TAGMSG this client's user sent itself."""
        return (isinstance(event, Private | Tagged) and self.session is not None
                and fold(event.sender) == self.session.key == fold(event.recipient))

    def _tags_wanted(self, event: Tagged) -> bool:
        """Whether a TAGMSG goes to this client: only with message-tags, and its own in a
        channel only with echo-message (a private one's echo is made by the handler)."""
        if "message-tags" not in self._registration.caps:
            return False
        return self.echo or self.session is None or event.origin != self.session.id

    def _renamed(self, event: NickChanged) -> bool:
        """Someone we share a channel with (or we) changed nick: IRC state keyed by name
        follows (real name; our registration's name; the core keeps the away message).
        True if it is our own login to an account, which the login's replies tell (900,
        903, then the NICK: ``Registration.logged_in``)."""
        old, new = fold(event.old), fold(event.new)
        realnames = self._home.realnames
        if old in realnames:
            realnames[new] = realnames.pop(old)
        if self.session is not None and self.session.key == new:
            if event.account:
                return True
            self._registration.name = event.new
        return False

    def _still_shared(self, event: Event) -> bool:
        """Whether a quitting user is in another of our channels, which will carry the QUIT.

        The core tells each room in turn and removes the user from each after telling it,
        so the last shared room's event is the one to show.
        """
        assert isinstance(event, Left)
        return self.session is not None and self.session.shares_room(event.who, event.room)

    # -- input -------------------------------------------------------------------------

    def handle(self, item: bytes | TooLong) -> Deferred[None] | None:
        """Handle one line; a Deferred if its reply is still to come."""
        if (type(item) is bytes and item.startswith(b"PRIVMSG #")
                and len(item) <= codec.MAX_BODY and self._registration.registered):
            # The fast path for most of the lines a busy server reads, with what the general
            # path below would do for them: one channel, no tags (so only the body's length
            # limit applies), no prefix, some text.
            try:
                head, colon, text = item.decode("utf-8").partition(" :")
            except UnicodeDecodeError:
                colon = ""  # refused by the general path
            else:
                target = head[8:]
            if colon and text and " " not in target and "," not in target \
                    and target.isprintable():
                held = self.pace(self.me, messages.privmsg_channel, self, target, text)
                if held is None:
                    messages.privmsg_channel(self, target, text)
                return held
        if item is TooLong.LINE or (
            isinstance(item, bytes) and (codec.too_long(item) or codec.tags_too_long(item))
        ):
            self._home.stats.rejected["LineTooLong"] += 1
            self.send(codec.ERR_INPUTTOOLONG, "Input line was too long")
            return None
        assert isinstance(item, bytes)
        line = codec.decode_line(item)
        # Not UTF-8: read as latin-1 only to name the command (and label) it refuses.
        parsed = codec.parse_message(item.decode("latin-1") if line is None else line)
        if parsed is None:
            return None
        label = parsed.tags.get("label") if parsed.tags else None
        if label and "labeled-response" in self._registration.caps:
            return self._labeled_command(label, parsed, line is not None)
        return self._command(parsed, line is not None)

    def _command(self, parsed: codec.Message, utf8: bool = True) -> Deferred[None] | None:
        if not utf8:
            self._home.stats.rejected["InvalidUTF8"] += 1
            self.reply(message(self._home.server_name, "FAIL", parsed.command, "INVALID_UTF8",
                               "Lines must be UTF-8; this one was not and was ignored"))
            return None
        command = COMMANDS.get(parsed.command)
        if command is None:
            self.send(irc.ERR_UNKNOWNCOMMAND, parsed.command, "Unknown command")
            return None
        if command.registered and not self._registration.registered:
            self.send(irc.ERR_NOTREGISTERED, "You have not registered")
            return None
        if len(parsed.params) < command.min_params:
            self.send(irc.ERR_NEEDMOREPARAMS, parsed.command, "Not enough parameters")
            return None
        if parsed.command in PACED and self.session is not None:
            # Fakelag, as IRC clients expect: over the rate, the message waits its turn.
            held = self.policy.pace(self.session, self._captured, self._dispatch, command,
                                    parsed)
            if held is not None:
                return held
        return self._dispatch(command, parsed)

    # -- labeled-response: a reply context around one command (labels.py) ---------------

    def _labeled_command(self, label: str, parsed: codec.Message, utf8: bool
                         ) -> Deferred[None] | None:
        """Handle a labeled command: what it writes, synchronously or once its Deferred
        fires, is gathered and sent as one labeled unit."""
        labeled = self._labeled = Labeled(label)
        result = self._captured(self._command, parsed, utf8)
        if result is None:
            self._finish_label(labeled)
            return None
        done: Deferred[None] = Deferred()

        def finished(outcome: object) -> object:
            self._finish_label(labeled)
            done.callback(None)
            return outcome

        result.addBoth(finished)
        return done

    def _captured(self, run: Callable[..., Deferred[None] | None], *args: Any
                  ) -> Deferred[None] | None:
        """``run(*args)``, what it writes to the outbox meanwhile kept for the label (then
        the outbox is where replies go, so events and replies keep their order); replies
        written while it waits go to the label directly (``reply``)."""
        labeled = self._labeled
        if labeled is None:
            return run(*args)
        mark = self.outbox.mark()
        labeled.waiting = False
        try:
            return run(*args)
        finally:
            labeled.lines.extend(self.outbox.since(mark))
            labeled.waiting = True

    def _finish_label(self, labeled: Labeled) -> None:
        self._labeled = None
        self.outbox.write(labels.finish(self._home.server_name, labeled,
                                        f"L{next(self._home.batch_ids)}",
                                        "batch" in self._registration.caps))
        for line in labeled.after:
            self.outbox.write(line)

    def reply(self, data: bytes) -> None:
        """Write a reply: to the client, or, while a labeled command waits, to its label."""
        labeled = self._labeled
        if labeled is not None and labeled.waiting:
            labeled.lines.append(data)
        else:
            self.outbox.write(data)

    def _dispatch(self, command: Command, parsed: codec.Message) -> Deferred[None] | None:
        """Run a parsed line's handler; errors become their numerics."""
        # The handler reads them as it starts (Context.client_tags); no later line may.
        self.client_tags = codec.client_only(parsed.tags) if parsed.tags else None
        try:
            result = command.handler(self, *parsed.params)
        except Exception:
            target = parsed.params[0] if parsed.params else "*"
            self.refused(Failure(), command.target, target, parsed.command)
            return None
        finally:
            self.client_tags = None
        if not isinstance(result, Deferred):
            return None
        target = parsed.params[0] if parsed.params else "*"
        result.addErrback(self.refused, command.target, target, parsed.command)
        # ``called`` alone is not done: a Deferred that fired may wait on another one (a
        # list of targets whose first JOIN checks a key), and the next line waits for it.
        return None if result.called and not result.paused else result

    def run(self, actions: list[Action]) -> Deferred[Any] | None:
        """Carry out the registration machine's actions; a login is always the last."""
        for action in actions:
            match action:
                case Reply(code=code, params=params):
                    self.send(code, *params)
                case Send(command=command, params=params, prefix=prefix):
                    self.reply(message(self._home.server_name if prefix is None else prefix,
                                              command, *params))
                case Welcome():
                    realname = self._registration.realname
                    assert realname is not None, "USER comes before the welcome"
                    self._home.realnames[self.me.key] = realname
                    self._home.registered += 1
                    self.me.describe(self._registration.username, realname)
                    queries.welcome(self)
                    channels.rejoined(self)
                    chathistory.resumed(self)
                case Refuse(error=error, kind=kind, target=target, command=command):
                    self.error(error, kind, target, command)
                case Close(why=why):
                    self.close(why)
                case CapsChanged():
                    self._caps_changed()
                case LogIn(credentials=credentials):
                    return self._log_in(credentials)
        return None

    def _log_in(self, credentials: ICredentials) -> Deferred[Any]:
        """Portal login; the session is kept, or given back if the client left meanwhile."""

        def logged_in(result: Any) -> Deferred[None] | None:
            _, session, logout = result
            claimed = session is self.session  # a guest signed up its nick (REGISTER)
            if claimed:  # the same session, kept as it was
                return self.run(self._registration.logged_in(session.name, session.guest))
            if self._closed:
                logout()
                return None
            self.session = session
            self.policy.logged_in()
            kind = "guest" if session.guest else "account"
            log.info("{name} logged in over IRC ({kind}) from {peer}", name=session.name,
                     kind=kind, peer=self.peer)
            return self.run(self._registration.logged_in(session.name, session.guest))

        def refused(failure: Failure) -> Deferred[None] | None:
            failure.trap(errors.ChatError)
            assert isinstance(failure.value, errors.ChatError)
            return self.run(self._registration.refused(failure.value))

        return self._home.portal.login(credentials, self, IChatSession).addCallbacks(
            logged_in, refused)

    def refused(self, failure: Failure, kind: str | None, target: str, command: str) -> None:
        if not isinstance(failure.value, errors.ChatError):
            log.failure("IRC {command} from {peer} failed", failure, command=command,
                        peer=self.peer)
            self.send(codec.ERR_UNKNOWNERROR, command, "internal server error; it was logged")
            return
        self.error(failure.value, kind, target, command)

    def error(self, error: errors.ChatError, kind: str | None, target: str,
              command: str) -> str:
        """Send the reply ``replies`` gives ``error``; return that numeric or FAIL code."""
        stats = self._home.stats
        stats.rejected[type(error).__name__] += 1
        if isinstance(error, errors.WrongCredentials):
            stats.login_failures += 1
        if isinstance(error, errors.Flooding):
            log.warn("IRC {peer} disconnected for flooding", peer=self.peer)
            self.leave_reason = LeaveReason.FLOOD
            self.close("Excess Flood")
            return replies.code_for(error, kind)[0]
        code, line = replies.error_line(self._home.server_name, self.client(), error, kind,
                                        target, command)
        self.reply(line)
        return code

    # -- the handlers' context ---------------------------------------------------------

    @property
    def me(self) -> IChatSession:
        assert self.session is not None, "registered connections have a session"
        return self.session

    @property
    def registration(self) -> Registration:
        return self._registration

    @property
    def motd(self) -> tuple[str, ...]:
        return self._options.motd

    @property
    def udp_port(self) -> int | None:
        return self._options.connection.udp_port

    @property
    def caps(self) -> frozenset[str]:
        return self._registration.caps

    @property
    def register_before_connect(self) -> bool:
        return self._options.register_before_connect

    @property
    def realnames(self) -> dict[str, str]:
        return self._home.realnames

    def now(self) -> float:
        return self._clock.seconds()

    @property
    def server_name(self) -> str:
        return self._home.server_name

    @property
    def plain_render(self) -> Render:
        return self._home.renderers.plain

    def unregistered(self) -> int:
        return len(self._home.connections) - self._home.registered

    def client(self) -> str:
        """How numerics address this client: its nick, or ``*`` before it has one."""
        # A nick is only accepted once it logs in, so until then the client is "*".
        return "*" if self.session is None else self.session.name

    def send(self, code: str, *params: str) -> None:
        self.reply(numeric(self._home.server_name, code, self.client(), *params))


class IRCFactory(FrontendFactory):
    """Builds IRC connections."""

    options: Options

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Restart-only (a reload's Options do not change it): every line of this frontend's
        # server carries it, and its renderings are made with it.
        self.server_name: str = self.options.server_name
        # Delivery's ``regroup``, the same for every connection (``IRCProtocol.attached``).
        self.regroup: Callable[[str], None] | None = None
        # How many connections are registered (the rest of ``connections`` are not: LUSERS).
        self.registered = 0

    @cached_property
    def realnames(self) -> dict[str, str]:
        """Real names by user key, from USER: shown in WHO, WHOIS and extended-join, dropped
        on quit."""
        return {}

    @cached_property
    def renderers(self) -> Renderers:
        """The render function for each set of capabilities in use, shared by every
        connection with that set (so a message is rendered once per set)."""
        return Renderers(self.server_name, self.realnames)

    @cached_property
    def batch_ids(self) -> Iterator[int]:
        """Numbers for labeled-response batches: unique among a connection's open batches."""
        return count()

    @cached_property
    def keep_alive(self) -> KeepAlive:
        """PING and ping-timeout for every connection, in one sweep a second."""
        return KeepAlive(self.clock, self.options.ping_interval, self.options.ping_timeout)

    def buildProtocol(self, addr: Any) -> IRCProtocol:  # type: ignore[override]  # an IProtocol
        return IRCProtocol(self)
