"""People and server queries: WHO, WHOIS, AWAY, MOTD, LUSERS, and the welcome burst."""

from __future__ import annotations

from functools import lru_cache

from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.channels import prefixes
from chatd.frontends.irc.codec import channel
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.rendering import real_name
from chatd.frontends.irc.replies import NICK
from chatd.kernel import errors
from chatd.kernel.views import MemberView, UserView

# WHOIS's away line for a user whose node is out of reach (and not away).
UNREACHABLE = "on another chatd node, out of reach right now"


def _real_name(ctx: Context, name: str, guest: bool) -> str:
    return real_name(ctx.realnames, name, not guest)


def _who_line(ctx: Context, user: MemberView | UserView, chan: str, marks: str) -> None:
    # Gone (G) too while the user's node is out of reach: IRC has no other flag for it.
    flags = ("G" if user.away or user.unreachable else "H") + marks
    ctx.send(irc.RPL_WHOREPLY, chan, user.name, codec.USER_HOST, ctx.server_name, user.name, flags,
             f"0 {_real_name(ctx, user.name, user.guest)}")


def who(ctx: Context, mask: str = "*", *_: str) -> None:
    session = ctx.me
    try:
        if codec.is_channel(mask):
            room = session.who(mask)
            for member in room.members:
                _who_line(ctx, member, channel(room.name),
                          prefixes(ctx, member.operator, member.voiced))
        elif mask not in ("*", "0"):
            _who_line(ctx, session.whois(mask), "*", "")
    except errors.ChatError:
        pass  # WHO of nobody is an empty list, not an error
    ctx.send(irc.RPL_ENDOFWHO, mask, "End of WHO list")


def whois(ctx: Context, *params: str) -> None:
    nick = params[-1].split(",")[0]
    try:
        user = ctx.me.whois(nick)
    except errors.ChatError as error:
        ctx.error(error, NICK, nick, "WHOIS")
    else:
        ctx.send(irc.RPL_WHOISUSER, user.name, user.name, codec.USER_HOST, "*",
                 _real_name(ctx, user.name, user.guest))
        rooms = [prefixes(ctx, membership.operator, membership.voiced)
                 + channel(membership.room) for membership in user.rooms]
        if rooms:
            ctx.send(irc.RPL_WHOISCHANNELS, user.name, " ".join(rooms))
        ctx.send(irc.RPL_WHOISSERVER, user.name, ctx.server_name, "chatd")
        if user.away or user.unreachable:
            ctx.send(irc.RPL_AWAY, user.name, user.away or UNREACHABLE)
        ctx.send(irc.RPL_WHOISIDLE, user.name, str(int(user.idle)), str(int(user.signon)),
                 "seconds idle, signon time")
        if not user.guest:
            ctx.send(codec.RPL_WHOISACCOUNT, user.name, user.name, "is logged in as")
    ctx.send(irc.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")


def setname(ctx: Context, realname: str, *_: str) -> None:
    """SETNAME (ircv3.net setname): a new real name, told back to this client and to those
    sharing a channel with it that have the capability (RealNameChanged, ``deliver``)."""
    shown = codec.printable(realname)
    if not shown.strip() or len(realname) > codec.MAX_REALNAME:
        ctx.write(codec.message(ctx.server_name, "FAIL", "SETNAME", "INVALID_REALNAME",
                                f"A real name has 1 to {codec.MAX_REALNAME} characters"))
        return
    me = ctx.me
    ctx.realnames[me.key] = shown
    me.set_real_name(shown)


def away(ctx: Context, text: str = "", *_: str) -> None:
    # Shown to others in 301/WHOIS and to line users: the rules of a message (no escapes).
    text = codec.incoming_text(text)[0] if text else ""
    try:
        ctx.me.set_away(text)
    except errors.ChatError as error:
        ctx.error(error, None, "AWAY", "AWAY")
        return
    if text.strip():
        ctx.send(irc.RPL_NOWAWAY, "You have been marked as being away")
    else:
        ctx.send(irc.RPL_UNAWAY, "You are no longer marked as being away")


@lru_cache(maxsize=4)
def _greeting(server: str, motd: tuple[str, ...]) -> tuple[codec.Numerics, codec.Numerics]:
    """The welcome's 002-005, and the MOTD: the same for every client of ``server`` with
    this message of the day, so rendered once, not at every registration."""
    hello = codec.Numerics(
        server,
        (irc.RPL_YOURHOST, (f"Your host is {server}, running {codec.VERSION}",)),
        (irc.RPL_CREATED, ("This server speaks IRC to chatd's rooms",)),
        (irc.RPL_MYINFO, (server, codec.VERSION, "i" + codec.BOT_MODE, "biklmotv", "bklov")),
        (irc.RPL_ISUPPORT, (*codec.ISUPPORT, f"NETWORK={server}",
                            "are supported by this server")))
    if not motd:
        return hello, codec.Numerics(server, (irc.ERR_NOMOTD, ("MOTD File is missing",)))
    return hello, codec.Numerics(
        server, (irc.RPL_MOTDSTART, (f"- {server} Message of the day - ",)),
        *((irc.RPL_MOTD, (f"- {line}",)) for line in motd),
        (irc.RPL_ENDOFMOTD, ("End of /MOTD command.",)))


def motd(ctx: Context, *_: str) -> None:
    ctx.write(_greeting(ctx.server_name, ctx.motd)[1].to(ctx.client()))


def lusers(ctx: Context, *_: str) -> None:
    server = ctx.me.server_info()
    users = server.sessions
    ctx.send(irc.RPL_LUSERCLIENT, f"There are {users} users and 0 invisible on 1 servers")
    ctx.send(irc.RPL_LUSERCHANNELS, str(server.rooms), "channels formed")
    ctx.send(irc.RPL_LUSERME, f"I have {users} clients and 0 servers")


def welcome(ctx: Context) -> None:
    """What a client gets once registered: 001-005, then LUSERS and MOTD."""
    nick = ctx.me.name
    hello, motd_lines = _greeting(ctx.server_name, ctx.motd)
    ctx.send(irc.RPL_WELCOME, f"Welcome to the {ctx.server_name} IRC network, {nick}")
    ctx.write(hello.to(nick))
    lusers(ctx)
    ctx.write(motd_lines.to(nick))
