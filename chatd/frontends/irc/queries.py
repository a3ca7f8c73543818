"""People and server queries: WHOIS, WHOWAS, USERHOST, AWAY, MOTD, LUSERS, TIME, INFO,
and the welcome burst (WHO is ``who``'s)."""

from __future__ import annotations

import time
from functools import lru_cache

from twisted.words.protocols import irc

from chatd.frontends.irc import codec, who
from chatd.frontends.irc.channels import prefixes
from chatd.frontends.irc.codec import channel
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.rendering import real_name
from chatd.frontends.irc.replies import NICK
from chatd.kernel import errors

# WHOIS's away line for a user whose node is out of reach (and not away).
UNREACHABLE = "on another chatd node, out of reach right now"
# USERHOST answers for this many nicks at most (RFC 1459 4.8.8).
USERHOST_MOST = 5
# What INFO says about the server.
INFO = (f"{codec.VERSION}: a chat daemon built on Twisted",
        "Rooms are shared with its line protocol, web page and UDP channel.",
        "Hosts are hidden; usernames start with ~ (no ident lookup).")


def whois(ctx: Context, *params: str) -> None:
    nick = params[-1].split(",")[0]
    try:
        user = ctx.me.whois(nick)
    except errors.ChatError as error:
        ctx.error(error, NICK, nick, "WHOIS")
    else:
        ctx.send(irc.RPL_WHOISUSER, user.name, who.username(user), codec.USER_HOST, "*",
                 who.realname(ctx, user))
        rooms = [prefixes(ctx, membership.operator, membership.voiced)
                 + channel(membership.room) for membership in user.rooms]
        if rooms:
            ctx.send(irc.RPL_WHOISCHANNELS, user.name, " ".join(rooms))
        ctx.send(irc.RPL_WHOISSERVER, user.name, ctx.server_name, "chatd")
        if user.server_operator:
            ctx.send(irc.RPL_WHOISOPERATOR, user.name, "is an IRC operator")
        if user.bot:
            ctx.send(codec.RPL_WHOISBOT, user.name, "is a bot")
        if user.away or user.unreachable:
            ctx.send(irc.RPL_AWAY, user.name, user.away or UNREACHABLE)
        ctx.send(irc.RPL_WHOISIDLE, user.name, str(int(user.idle)), str(int(user.signon)),
                 "seconds idle, signon time")
        if not user.guest:
            ctx.send(codec.RPL_WHOISACCOUNT, user.name, user.name, "is logged in as")
    ctx.send(irc.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")


def whowas(ctx: Context, nick: str = "", count: str = "", *_: str) -> None:
    """Who was online under a nick lately, newest first: ``count`` of them, or all when it
    is missing, 0 or negative (RFC 1459 4.5.3; a missing nick is 431, modern.ircdocs)."""
    if not nick:
        ctx.send(irc.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = nick.split(",")[0]
    most = int(count) if count.lstrip("-").isdigit() else 0
    departures = ctx.me.whowas(nick, most)
    if not departures:
        ctx.send(irc.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    for departure in departures:
        ident = departure.ident
        ctx.send(irc.RPL_WHOWASUSER, departure.name,
                 codec.shown_username(ident.username, departure.name), codec.USER_HOST, "*",
                 ident.realname or real_name({}, departure.name, not departure.guest))
        left = time.strftime("%a %b %d %H:%M:%S %Y UTC", time.gmtime(departure.left))
        ctx.send(irc.RPL_WHOISSERVER, departure.name, ctx.server_name, left)
    ctx.send(irc.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


def userhost(ctx: Context, *nicks: str) -> None:
    """302: ``nick=+~user@host`` for each of up to five nicks online (``*`` after an
    operator's nick, ``-`` for away)."""
    found = []
    for nick in nicks[:USERHOST_MOST]:
        try:
            user = ctx.me.whois(nick)
        except errors.ChatError:
            continue
        found.append(f"{user.name}{'*' if user.server_operator else ''}="
                     f"{'-' if user.away else '+'}{who.username(user)}@{codec.USER_HOST}")
    ctx.send(irc.RPL_USERHOST, " ".join(found))


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


# Tokens per 005 line: with the nick and the closing text, a line has at most 15 parameters
# (modern.ircdocs.horse, RPL_ISUPPORT), so the tokens are spread over several lines.
ISUPPORT_PER_LINE = 13


def _chunks(tokens: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [tokens[start:start + size] for start in range(0, len(tokens), size)]


@lru_cache(maxsize=4)
def _greeting(server: str, motd: tuple[str, ...]) -> tuple[codec.Numerics, codec.Numerics]:
    """The welcome's 002-005, and the MOTD: the same for every client of ``server`` with
    this message of the day, so rendered once, not at every registration."""
    hello = codec.Numerics(
        server,
        (irc.RPL_YOURHOST, (f"Your host is {server}, running {codec.VERSION}",)),
        (irc.RPL_CREATED, ("This server speaks IRC to chatd's rooms",)),
        (irc.RPL_MYINFO, (server, codec.VERSION, "iow" + codec.BOT_MODE, "biklmnostv", "bklov")),
        *((irc.RPL_ISUPPORT, (*tokens, "are supported by this server"))
          for tokens in _chunks((*codec.ISUPPORT, f"NETWORK={server}"), ISUPPORT_PER_LINE)))
    if not motd:
        return hello, codec.Numerics(server, (irc.ERR_NOMOTD, ("MOTD File is missing",)))
    return hello, codec.Numerics(
        server, (irc.RPL_MOTDSTART, (f"- {server} Message of the day - ",)),
        *((irc.RPL_MOTD, (f"- {line}",)) for line in motd),
        (irc.RPL_ENDOFMOTD, ("End of /MOTD command.",)))


def motd(ctx: Context, *_: str) -> None:
    ctx.write(_greeting(ctx.server_name, ctx.motd)[1].to(ctx.client()))


def lusers(ctx: Context, *_: str) -> None:
    """The counts (modern.ircdocs.horse LUSERS): every user is invisible (WHO masks show
    only who shares a channel); connections still registering are this frontend's; the
    other nodes of a cluster are not counted as servers (one network, one name)."""
    server = ctx.me.server_info()
    ctx.send(irc.RPL_LUSERCLIENT,
             f"There are 0 users and {server.sessions} invisible on 1 servers")
    unknown = ctx.unregistered()
    if unknown:
        ctx.send(irc.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    ctx.send(irc.RPL_LUSERCHANNELS, str(server.rooms), "channels formed")
    ctx.send(irc.RPL_LUSERME, f"I have {server.local} clients and 0 servers")
    ctx.send(codec.RPL_LOCALUSERS, str(server.local), str(server.local_peak),
             f"Current local users {server.local}, max {server.local_peak}")
    ctx.send(codec.RPL_GLOBALUSERS, str(server.sessions), str(server.peak),
             f"Current global users {server.sessions}, max {server.peak}")


def time_(ctx: Context, *_: str) -> None:
    """391 in modern.ircdocs' form: the server, the Unix time, the offset (0), the time."""
    now = ctx.now()
    ctx.send(irc.RPL_TIME, ctx.server_name, str(int(now)), "0",
             time.strftime("%A %B %d %Y -- %H:%M:%S +00:00", time.gmtime(now)))


def info(ctx: Context, *_: str) -> None:
    for line in INFO:
        ctx.send(irc.RPL_INFO, line)
    ctx.send(irc.RPL_ENDOFINFO, "End of INFO list")


def welcome(ctx: Context) -> None:
    """What a client gets once registered: 001-005, then LUSERS and MOTD."""
    nick = ctx.me.name
    hello, motd_lines = _greeting(ctx.server_name, ctx.motd)
    ctx.send(irc.RPL_WELCOME, f"Welcome to the {ctx.server_name} IRC network, {nick}")
    ctx.write(hello.to(nick))
    lusers(ctx)
    ctx.write(motd_lines.to(nick))
