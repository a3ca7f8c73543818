"""MODE: channel modes as chatd's room moderation, list queries, and user modes.

A room's modes are the core's: operators (+o) and voice (+v), bans (+b, a name pattern, so
``nick!*@*``), invite-only (+i), moderated (+m), no external messages (+n), secret (+s), topic
locked (+t), a key (+k) and a member limit (+l; without one a room has the server's default
limit). Each change is the core's to allow and its ModeChanged event, sent to everyone in
the channel, is the MODE line clients see (the setter included); flags changed together
(``-int``) are one change and one line. This module only parses the request and answers the
queries. Exception and invite-exception lists are always empty.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import BOT_MODE, channel, message, source
from chatd.frontends.irc.context import Context, each
from chatd.frontends.irc.replies import CHANNEL
from chatd.kernel import errors
from chatd.kernel.names import fold
from chatd.kernel.views import RoomView

_LIST_ENDS = {"e": (irc.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
              "I": (irc.RPL_ENDOFINVITELIST, "End of channel invite list")}
_FLAGS = "imnst"


def mode(ctx: Context, target: str, *changes: str) -> Deferred[None] | None:
    if not codec.is_channel(target):
        _user_mode(ctx, target, changes)
        return None
    room = ctx.me.room(target)
    if not changes:
        send_modes(ctx, room)
        return None
    return each(ctx, CHANNEL, target, lambda *change: _change(ctx, *change),
                _changes(ctx, room, changes), "MODE")


def send_modes(ctx: Context, room: RoomView) -> None:
    """324: the flags, then +k (its value is never known: chatd keeps only a hash) and +l
    if the limit is not the server's default; then 329, when the room was made."""
    modes, values = "+" + room.modes, []
    if room.locked:
        modes, values = modes + "k", ["*"]
    if room.limit != ctx.me.server_info().default_room_limit:
        modes, values = modes + "l", [*values, str(room.limit)]
    ctx.send(irc.RPL_CHANNELMODEIS, channel(room.name), modes, *values)
    if room.created:
        ctx.send(codec.RPL_CREATIONTIME, channel(room.name), str(int(room.created)))


def _changes(ctx: Context, room: RoomView, changes: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``+ok-l ann key`` as [(room, ``+o``, ann), (room, ``+k``, key), (room, ``-l``, "")];
    list queries are answered here, unknown letters refused (472) and the rest still done.
    o, v and b take a parameter either way, k and l when set (a -k key is read if given)."""
    out: list[tuple[str, ...]] = []
    args = list(changes[1:])
    sign = "+"
    for letter in changes[0]:
        if letter in "+-":
            sign = letter
        elif letter == "b" and not args:
            _ban_list(ctx, room)
        elif letter in _LIST_ENDS and not args:
            end = _LIST_ENDS[letter]
            ctx.send(end[0], channel(room.name), end[1])
        elif letter in "ovb" or (letter in "kl" and sign == "+"):
            if not args:
                ctx.send(irc.ERR_NEEDMOREPARAMS, "MODE", "Not enough parameters")
                continue
            out.append((room.name, sign + letter, args.pop(0)))
        elif letter == "k":  # -k: the key is optional (clients often leave it out)
            out.append((room.name, "-k", args.pop(0) if args else ""))
        elif letter in _FLAGS and out and out[-1][1][0] == sign and out[-1][1][1] in _FLAGS:
            out[-1] = (room.name, out[-1][1] + letter, "")  # one change: +int
        elif letter in _FLAGS or letter == "l":
            out.append((room.name, sign + letter, ""))
        else:
            ctx.send(irc.ERR_UNKNOWNMODE, letter, "is unknown mode char to me")
    return out


def _ban_list(ctx: Context, room: RoomView) -> None:
    for mask in ctx.me.bans(room.name):
        ctx.send(irc.RPL_BANLIST, channel(room.name), codec.ban_display(mask))
    ctx.send(irc.RPL_ENDOFBANLIST, channel(room.name), "End of channel ban list")


def _invalid(ctx: Context, name: str, letter: str, value: str, why: str) -> None:
    ctx.send(codec.ERR_INVALIDMODEPARAM, channel(name), letter, value or "*", why)


def _change(ctx: Context, name: str, change: str, value: str) -> Deferred[None] | None:
    session = ctx.me
    sign, letter = change[0] == "+", change[1]
    if letter in _FLAGS:
        return session.set_flag(name, change[1:], sign)
    if letter in "ov":
        try:
            (session.op if letter == "o" else session.voice)(name, value, sign)
        except errors.NotInRoom:
            ctx.send(irc.ERR_USERNOTINCHANNEL, value, channel(name),
                     "They aren't on that channel")
        except errors.NoSuchUser:
            ctx.send(irc.ERR_NOSUCHNICK, value, "No such nick/channel")
        return None
    if letter == "b":
        pattern = codec.ban_pattern(value)
        if pattern is None:
            _invalid(ctx, name, "b", value, "hosts are hidden: ban a nick pattern")
            return None
        return session.ban(name, pattern) if sign else session.unban(name, pattern)
    if letter == "k" and not sign:
        return session.unlock(name)
    if letter == "l" and not sign:
        return session.set_limit(name, None)
    if letter == "l" and not (value.isascii() and value.isdigit() and int(value) > 0):
        _invalid(ctx, name, "l", value, "a member limit is a whole number above 0")
        return None
    try:
        # The core refuses a key with spaces (the line protocol's /lock can't send one) and
        # a limit over max-room-limit: the value is bad, so 696 says which.
        return session.lock(name, value) if letter == "k" else session.set_limit(
            name, int(value))
    except errors.BadSyntax as error:
        # A key is never shown, not even a refused one (it may be a password used elsewhere).
        _invalid(ctx, name, letter, "*" if letter == "k" else value, str(error))
        return succeed(None)


def _user_mode(ctx: Context, target: str, changes: tuple[str, ...]) -> None:
    if fold(target) != ctx.me.key:
        ctx.send(irc.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    # Clients set +i by habit; every chatd user is already invisible to WHO masks (irc/who.py),
    # so +i and -i change nothing, and the answer to them, as to a query, is the modes as they
    # are. +w/-w (WALLOPS), -o (no longer a server operator) and +B/-B (bot mode,
    # ircv3.net bot-mode) change the session: the client is told with a MODE line; +o is
    # OPER's alone, so it changes nothing.
    if changes and changes[0].strip("+-iwo" + BOT_MODE):
        ctx.send(irc.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
        return
    session = ctx.me
    done, sign = "", "+"
    for letter in changes[0] if changes else "":
        if letter in "+-":
            sign = letter
        elif letter == "w" and session.wallops_mode != (sign == "+"):
            session.set_wallops(sign == "+")
            done += sign + "w"
        elif letter == "o" and sign == "-" and session.is_operator:
            session.deoper()
            done += "-o"
        elif letter == BOT_MODE and session.bot != (sign == "+"):
            session.set_bot(sign == "+")
            done += sign + BOT_MODE
    if done:
        ctx.write(message(source(session.name), "MODE", session.name, done))
        return
    modes = ("i" + ("o" if session.is_operator else "") + ("w" if session.wallops_mode else "")
             + (BOT_MODE if session.bot else ""))
    ctx.send(irc.RPL_UMODEIS, "+" + modes)
