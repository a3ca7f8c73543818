"""MODE: a channel's key (+k) and member limit (+l), list queries, and user modes.

chatd rooms have a password and a member limit and nothing else, so those are the channel
modes; ban, exception and invite lists are always empty.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import channel, message, source
from chatd.frontends.irc.context import Context, each
from chatd.frontends.irc.replies import CHANNEL
from chatd.kernel.names import fold
from chatd.kernel.views import RoomView

_LIST_ENDS = {"b": (irc.RPL_ENDOFBANLIST, "End of channel ban list"),
              "e": (irc.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
              "I": (irc.RPL_ENDOFINVITELIST, "End of channel invite list")}


def mode(ctx: Context, target: str, *changes: str) -> Deferred[None] | None:
    if not codec.is_channel(target):
        _user_mode(ctx, target, changes)
        return None
    room = ctx.me.room(target)
    if not changes:
        modes, values = "+l", [str(room.limit)]
        if room.locked:
            modes, values = "+kl", ["*", *values]
        ctx.send(irc.RPL_CHANNELMODEIS, channel(room.name), modes, *values)
        return None
    return each(ctx, CHANNEL, target, lambda *change: _change(ctx, *change),
                _changes(ctx, room, changes), "MODE")


def _changes(ctx: Context, room: RoomView, changes: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``+kl key 10`` as [(``+k``, key), (``+l``, ``10``)]; list queries answered here."""
    out: list[tuple[str, ...]] = []
    args = list(changes[1:])
    sign = "+"
    for letter in changes[0]:
        if letter in "+-":
            sign = letter
        elif letter in "beI" and not args:
            end = _LIST_ENDS[letter]
            ctx.send(end[0], channel(room.name), end[1])
        elif letter == "k" or (letter == "l" and sign == "+"):
            if sign == "+" and not args:
                ctx.send(irc.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                return []
            out.append((room.name, sign + letter, args.pop(0) if args else ""))
        elif letter == "l":
            out.append((room.name, "-l", ""))
        else:
            ctx.send(irc.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    return out


def _change(ctx: Context, name: str, change: str, value: str) -> Deferred[None] | None:
    session = ctx.me
    if change == "+k" and (not value or any(c.isspace() for c in value)):
        # The line protocol's /lock can't send such a key; refuse it here too.
        ctx.send(codec.ERR_INVALIDMODEPARAM, channel(name), "k", value or "*",
                 "a key is one word without spaces")
        return None
    if change == "+k":
        done = session.lock(name, value)
    elif change == "-k":
        done = session.unlock(name)
    elif change == "+l":
        if not (value.isascii() and value.isdigit()):
            ctx.send(codec.ERR_INVALIDMODEPARAM, channel(name), "l", value,
                     "a member limit is a whole number")
            return None
        done = session.set_limit(name, int(value))
    else:
        done = session.set_limit(name, session.server_info().max_room_limit)
    shown = [value] if change in ("+k", "+l") else []
    return done.addCallback(lambda _: ctx.write(
        message(source(session.name), "MODE", channel(name), change, *shown)))


def _user_mode(ctx: Context, target: str, changes: tuple[str, ...]) -> None:
    if fold(target) != ctx.me.key:
        ctx.send(irc.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    # Clients set +i by habit; every chatd user is already invisible to WHO masks, so +i and
    # -i change nothing, and the answer to them, as to a query, is the modes as they are.
    if changes and changes[0].strip("+-i"):
        ctx.send(irc.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
        return
    ctx.send(irc.RPL_UMODEIS, "+")
