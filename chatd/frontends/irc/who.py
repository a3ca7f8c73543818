"""WHO and WHOX (modern.ircdocs.horse ``WHO``; IRCv3 ``whox``): who is in a channel, who
has a nick, who matches a mask.

A channel lists its members if the asker may see them (the core's rule for a locked room).
An exact nick is looked up as WHOIS does. A mask (``*``, ``?``) matches nicks only, and only
among the asker and the people it shares a channel with: every chatd user is invisible to
masks otherwise (user mode ``+i``, always), so WHO can't list a server's users to a stranger.
``WHO <mask> o`` keeps server operators only. A ``%fields[,token]`` second parameter asks
for WHOX replies (354) with those fields, in WHOX's fixed order.
"""

from __future__ import annotations

import re
from functools import lru_cache

from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.channels import prefixes
from chatd.frontends.irc.codec import channel
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.rendering import real_name
from chatd.kernel import errors
from chatd.kernel.names import fold
from chatd.kernel.views import MemberView, UserView

# WHOX's fields in the order replies carry them, whatever order they were asked in.
WHOX_ORDER = "tcuihsnfdlaor"
# What WHOX shows for the address (hidden: chatd never shows where users connect from).
HIDDEN_IP = "255.255.255.255"
# The longest WHOX token (the spec: 1 to 3 digits).
TOKEN_LENGTH = 3

User = MemberView | UserView


def flags(user: User, marks: str = "") -> str:
    """``H`` here or ``G`` gone (away, or on another node out of reach: IRC has no other
    flag for it), ``*`` a server operator, ``B`` a bot (ircv3.net bot-mode: the ISUPPORT
    ``BOT`` letter), then the channel prefixes ``marks``."""
    return (("G" if user.away or user.unreachable else "H")
            + ("*" if user.server_operator else "")
            + (codec.BOT_MODE if user.bot else "") + marks)


def username(user: User) -> str:
    return codec.shown_username(user.ident.username, user.name)


def realname(ctx: Context, user: User) -> str:
    """The real name USER gave (on any node), or what this node knows, or a stand-in."""
    return user.ident.realname or real_name(ctx.realnames, user.name, not user.guest)


@lru_cache(maxsize=64)
def _mask(mask: str) -> re.Pattern[str]:
    """An IRC mask (``*`` any run, ``?`` one character) as a pattern of folded nicks."""
    return re.compile(".*".join(".".join(map(re.escape, part.split("?")))
                                for part in fold(mask).split("*")), re.DOTALL)


def _is_mask(mask: str) -> bool:
    return mask == "0" or "*" in mask or "?" in mask


def _matches(ctx: Context, mask: str) -> list[tuple[str, User, str]]:
    """The asker and those it shares a channel with whose nick matches ``mask``."""
    me = ctx.me
    pattern = None if mask in ("*", "0") else _mask(mask)
    seen: dict[str, User] = {me.key: me.whois(me.name)}
    for room in me.my_rooms():
        try:
            members = me.who(room).members
        except errors.ChatError:
            continue
        for member in members:
            seen.setdefault(member.key, member)
    return [("*", user, "") for key, user in sorted(seen.items())
            if pattern is None or pattern.fullmatch(key)]


def _rows(ctx: Context, mask: str) -> list[tuple[str, User, str]]:
    """(channel or ``*``, user, channel prefixes) for each user ``mask`` names."""
    session = ctx.me
    if codec.is_channel(mask):
        room = session.who(mask)
        return [(channel(room.name), member, prefixes(ctx, member.operator, member.voiced))
                for member in room.members]
    if _is_mask(mask):
        return _matches(ctx, mask)
    return [("*", session.whois(mask), "")]


def who(ctx: Context, mask: str = "*", options: str = "", *_: str) -> None:
    wanted, _percent, fields = options.partition("%")
    try:
        rows = _rows(ctx, mask)
    except errors.ChatError:
        rows = []  # WHO of nobody (or of a channel one may not see) is an empty list
    if "o" in wanted:
        rows = [row for row in rows if row[1].server_operator]
    for chan, user, marks in rows:
        if _percent:
            _whox_line(ctx, fields, chan, user, marks)
        else:
            ctx.send(irc.RPL_WHOREPLY, chan, username(user), codec.USER_HOST, ctx.server_name,
                     user.name, flags(user, marks), f"0 {realname(ctx, user)}")
    ctx.send(irc.RPL_ENDOFWHO, mask, "End of WHO list")


def _whox_line(ctx: Context, fields: str, chan: str, user: User, marks: str) -> None:
    """354 with the fields asked for (``fields``: letters, then ``,token``)."""
    letters, _, token = fields.partition(",")
    token = token[:TOKEN_LENGTH] if token.isdigit() else "0"
    values = {
        "t": token, "c": chan, "u": username(user), "i": HIDDEN_IP, "h": codec.USER_HOST,
        "s": ctx.server_name, "n": user.name, "f": flags(user, marks), "d": "0",
        "l": str(int(user.idle)) if isinstance(user, UserView) else "0",
        "a": "0" if user.guest else user.name, "o": "n/a", "r": realname(ctx, user),
    }
    ctx.send(codec.RPL_WHOSPCRPL, *(values[letter] for letter in WHOX_ORDER
                                    if letter in letters))
