"""Server operators on IRC: OPER, KILL, WALLOPS, KLINE and UNKLINE (ergo's forms), CLOSE,
and the global notice (``NOTICE $$*``; ``messages`` hands mask targets here).

The core decides who is an operator and does the work (``IServerOperator``); these handlers
parse and answer. A non-operator's try is refused with 481 ERR_NOPRIVILEGES (the ``OPER``
target kind of ``replies``). Specs: modern.ircdocs.horse (OPER, KILL, WALLOPS), ergo's
KLINE/UNKLINE.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import message
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.replies import OPER
from chatd.frontends.rendering import timestamp
from chatd.kernel import errors
from chatd.kernel.addresses import ban_duration
from chatd.kernel.records import AddressBan


def oper(ctx: Context, name: str, password: str, *_: str) -> Deferred[None]:
    """381 and the ``+o`` user mode; 464 for a wrong password, 491 for a name declared
    nowhere (or an account the client is not logged in to)."""

    def done(_: None) -> None:
        ctx.send(irc.RPL_YOUREOPER, "You are now an IRC operator")
        nick = ctx.me.name
        ctx.write(message(codec.source(nick), "MODE", nick, "+o"))

    def refused(failure: Failure) -> None:
        if failure.check(errors.WrongCredentials):
            ctx.send(irc.ERR_PASSWDMISMATCH, "Password incorrect")
        elif failure.check(errors.NotAllowed):
            ctx.send(irc.ERR_NOOPERHOST, "No O-lines for your host")
        else:
            ctx.refused(failure, OPER, name, "OPER")

    return ctx.me.oper(name, password).addCallbacks(done, refused)


def kill(ctx: Context, nick: str, reason: str = "", *_: str) -> None:
    """The killed user sees ERROR with our name and ``reason``; its channels, a QUIT
    ``Killed (OPER (reason))``. One parameter is accepted, as ergo does."""
    ctx.me.kill(nick, reason)


def wallops(ctx: Context, text: str, *_: str) -> None:
    """To every user with +w and every operator, us included (the echo confirms it)."""
    ctx.me.wallops(text)


def global_notice(ctx: Context, text: str) -> None:
    """``NOTICE $$*`` (or any ``$`` mask, PRIVMSG too): a notice to every connected user, on
    every protocol. A non-operator gets 481, as ircds answer a mask target."""
    try:
        ctx.me.announce(codec.incoming_text(text)[0])
    except errors.NotAllowed as error:
        ctx.error(error, OPER, "$", "NOTICE")


def _notice(ctx: Context, text: str) -> None:
    ctx.write(message(ctx.server_name, "NOTICE", ctx.client(), text))


def _ban_line(ban: AddressBan) -> str:
    ending = "permanent" if not ban.expires else f"until {timestamp(ban.expires)}"
    return f"K-line {ban.mask} ({ending}) set by {ban.by}: {ban.reason}"


def kline(ctx: Context, *params: str) -> Deferred[None] | None:
    """``KLINE [MINUTES] MASK [:REASON]`` (also ``30m``, ``2h``, ``7d``), or ``KLINE LIST``;
    each answered with a server NOTICE."""
    if params[0].upper() == "LIST":
        bans = ctx.me.klines()
        for ban in bans:
            _notice(ctx, _ban_line(ban))
        _notice(ctx, f"End of K-lines ({len(bans)})")
        return None
    words = list(params)
    seconds = ban_duration(words[0]) if len(words) > 1 else None
    if seconds is not None:
        words.pop(0)
    mask, reason = words[0], " ".join(words[1:])
    return ctx.me.kline(mask, seconds or 0.0, reason).addCallback(
        lambda ban: _notice(ctx, f"Added {_ban_line(ban)}"))


def unkline(ctx: Context, mask: str, *_: str) -> Deferred[None]:
    return ctx.me.unkline(mask).addCallback(
        lambda _: _notice(ctx, f"Removed K-line {mask}"))


def close(ctx: Context, chan: str, reason: str = "", *_: str) -> Deferred[None]:
    """``CLOSE #channel [:reason]`` (chatd's): end the channel; its members are kicked by
    us with ``channel closed: reason``."""
    return ctx.me.close_room(chan, reason).addCallback(
        lambda _: _notice(ctx, f"Closed {chan}"))
