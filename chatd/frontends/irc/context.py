"""What a command handler is given: the session, ways to reply, and IRC's own state.

Handlers are plain functions ``handler(ctx, *params)``; ``IRCProtocol`` is the one real
``Context``, and a test can pass any object with these members. A handler returns None, or a
Deferred when its reply waits on a password hash or a durable write; a ``ChatError`` it
raises (or its Deferred fails with) is turned into a reply by ``ctx.refused`` with the
command's target kind (``replies``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.python.failure import Failure

from chatd.frontends.irc.registration import Action, Registration
from chatd.kernel.errors import ChatError
from chatd.kernel.events import Event
from chatd.kernel.interfaces import IChatSession


class Context(Protocol):
    @property
    def me(self) -> IChatSession:
        """The logged-in session (only registered commands may ask)."""

    @property
    def registration(self) -> Registration:
        """The registration state machine."""

    @property
    def caps(self) -> frozenset[str]:
        """The IRCv3 capabilities this client enabled."""

    @property
    def register_before_connect(self) -> bool:
        """Whether REGISTER works before the welcome (``irc-register-before-connect``)."""

    @property
    def realnames(self) -> dict[str, str]:
        """Real names (from USER) by user key, shared by the frontend's connections."""

    @property
    def server_name(self) -> str:
        """The server's name (``server-name``): the prefix of every server line."""

    @property
    def client_tags(self) -> dict[str, str] | None:
        """The client-only tags (``+name``) of the command being handled, or None."""

    @property
    def motd(self) -> tuple[str, ...]:
        """The message of the day, one line per item."""

    @property
    def udp_port(self) -> int | None:
        """The UDP channel's port, which TOKEN names; None: the channel is off."""

    @property
    def write(self) -> Callable[[bytes], None]:
        """Queue server lines for the client."""

    @property
    def render(self) -> Callable[[Event], bytes]:
        """How events look to this client (its capabilities' render function)."""

    @property
    def plain_render(self) -> Callable[[Event], bytes]:
        """How events look with no capabilities: the frontend's, which history tags itself."""

    def now(self) -> float:
        """The server clock's time (an echoed private message's server-time)."""

    def unregistered(self) -> int:
        """How many of this frontend's connections have not registered yet (LUSERS)."""

    def client(self) -> str:
        """How numerics address the client: its nick, or ``*`` before it has one."""

    def send(self, code: str, *params: str) -> None:
        """A numeric to the client."""

    def error(self, error: ChatError, kind: str | None, target: str, command: str) -> str:
        """The reply to a domain error; returns its numeric (or FAIL code)."""

    def refused(self, failure: Failure, kind: str | None, target: str, command: str) -> None:
        """An errback: a domain error's reply, anything else logged as internal."""

    def run(self, actions: list[Action]) -> Deferred[Any] | None:
        """Carry out what the registration machine asked for."""

    def quit(self, text: str) -> None:
        """The client said QUIT: tell its rooms ``text`` and close."""


def each(ctx: Context, kind: str, target: str | None, action: Callable[..., Any],
         items: Iterable[tuple[str, ...]], command: str) -> Deferred[None]:
    """Run ``action`` on each item in turn (a target list), reporting each one's error
    (named by the item's first element, or ``target`` if given) and going on to the next."""

    def one(_: object, item: tuple[str, ...]) -> Deferred[Any]:
        return maybeDeferred(action, *item).addErrback(
            ctx.refused, kind, item[0] if target is None else target, command)

    d: Deferred[Any] = succeed(None)
    for item in items:
        d.addCallback(one, item)
    return d
