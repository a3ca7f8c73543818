"""Channel commands: JOIN, PART, KICK, INVITE, TOPIC, NAMES, LIST, TOKEN, and the greeting
after one's own JOIN."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.words.protocols import irc

from chatd.frontends.irc import codec, markers
from chatd.frontends.irc.codec import channel, message, source
from chatd.frontends.irc.context import Context, each
from chatd.frontends.irc.replies import CHANNEL
from chatd.kernel import errors
from chatd.kernel.events import Joined
from chatd.kernel.names import fold
from chatd.kernel.views import RoomView


def join(ctx: Context, channels: str, keys: str = "", *_: str) -> Deferred[None] | None:
    session = ctx.me
    if channels == "0":
        for name in session.my_rooms():
            session.leave(name)
        return None
    names = channels.split(",")
    passwords = keys.split(",") if keys else []
    pairs = [(name, passwords[i] if i < len(passwords) else "")
             for i, name in enumerate(names) if name]
    # Our own JOIN, topic and names arrive through deliver(), as for other sessions.
    return each(ctx, CHANNEL, None, lambda name, key: session.join(name, key or None), pairs,
                "JOIN")


def part(ctx: Context, channels: str, reason: str = "", *_: str) -> Deferred[None]:
    return each(ctx, CHANNEL, None, lambda name: ctx.me.leave(name, message=reason),
                [(name,) for name in channels.split(",") if name], "PART")


def token(ctx: Context, name: str, *_: str) -> None:
    """chatd's own ``TOKEN #room``: a token to speak in the channel over the UDP channel,
    answered with ``NOTICE nick :TOKEN #room TOKEN PORT SECONDS``."""
    port = ctx.udp_port
    if port is None:
        raise errors.NotAllowed("this server has no UDP channel")
    view = ctx.me.token(name)
    ctx.write(message(ctx.server_name, "NOTICE", ctx.client(),
                      f"TOKEN {channel(view.room)} {view.token} {port} {view.lifetime:g}"))


def kick(ctx: Context, name: str, nicks: str, reason: str = "", *_: str) -> Deferred[None]:
    """KICK #room nick[,nick] [:reason]; the room's Left (KICK) event is the answer."""

    def one(nick: str) -> None:
        try:
            ctx.me.kick(name, nick, reason)
        except errors.NotInRoom:
            ctx.send(irc.ERR_USERNOTINCHANNEL, nick, channel(name.lstrip("#")),
                     "They aren't on that channel")

    return each(ctx, CHANNEL, name, one, [(nick,) for nick in nicks.split(",") if nick],
                "KICK")


def invite(ctx: Context, nick: str, name: str, *_: str) -> None:
    """INVITE nick #room: 341 to us, INVITE to them (the core's Invited event). The other
    refusals name the channel: 442 not on it, 482 invite-only and not an operator."""
    try:
        user = ctx.me.invite(name, nick)
    except errors.AlreadyInRoom:
        ctx.send(irc.ERR_USERONCHANNEL, nick, name, "is already on channel")
    except errors.NoSuchUser:
        ctx.send(irc.ERR_NOSUCHNICK, nick, "No such nick/channel")
    except errors.ChatError as error:
        ctx.error(error, CHANNEL, name, "INVITE")
    else:
        ctx.send(irc.RPL_INVITING, user.name, name)


def topic(ctx: Context, name: str, *text: str) -> Deferred[None] | None:
    session = ctx.me
    if text:
        return session.set_topic(name, text[0])
    send_topic(ctx, session.room(name), query=True)
    return None


def send_topic(ctx: Context, room: RoomView, query: bool = False) -> None:
    """332 and, when known, 333 (who set it when); or 331 to a query of a room without."""
    if room.topic:
        ctx.send(irc.RPL_TOPIC, channel(room.name), room.topic)
        if room.topic_by:
            ctx.send(codec.RPL_TOPICWHOTIME, channel(room.name), source(room.topic_by),
                     str(int(room.topic_at)))
    elif query:
        ctx.send(irc.RPL_NOTOPIC, channel(room.name), "No topic is set")


def names(ctx: Context, channels: str = "", *_: str) -> None:
    session = ctx.me
    for name in channels.split(",") if channels else []:
        try:
            room = session.who(name)
        except errors.ChatError:
            # Unknown, or locked and we are not in it: as IRC does for a secret channel.
            ctx.send(irc.RPL_ENDOFNAMES, name, "End of /NAMES list")
        else:
            send_names(ctx, room)
    if not channels:
        ctx.send(irc.RPL_ENDOFNAMES, "*", "End of /NAMES list")


def prefixes(ctx: Context, operator: bool, voiced: bool) -> str:
    """A member's status prefix: the highest one, or (multi-prefix) all of them."""
    marks = ("@" if operator else "") + ("+" if voiced else "")
    return marks if "multi-prefix" in ctx.caps else marks[:1]


def send_names(ctx: Context, room: RoomView) -> None:
    full = "userhost-in-names" in ctx.caps
    listed = [prefixes(ctx, member.operator, member.voiced)
              + (source(member.name) if full else member.name) for member in room.members]
    ctx.write(codec.name_lines(ctx.server_name, ctx.client(), channel(room.name), listed,
                               "@" if "s" in room.modes else "="))


def greet(ctx: Context, room_name: str) -> None:
    """After our own JOIN: the topic and the names, as IRC clients expect."""
    try:
        room = ctx.me.who(room_name)
    except errors.ChatError:
        return
    send_topic(ctx, room)
    send_names(ctx, room)


def rejoined(ctx: Context) -> None:
    """A new session of an account that is in rooms already (on another device) is in them
    too, and so is a session that took a held seat: tell the client, as if it had joined each
    (JOIN, the read marker, topic, names), or it would get the rooms' traffic without a
    window to show it in."""
    me = ctx.me
    for name in me.my_rooms():
        ctx.write(ctx.render(Joined(name, me.name, not me.guest, at=ctx.now())))
        markers.on_join(ctx, name)
        greet(ctx, name)


def list_rooms(ctx: Context, channels: str = "", *_: str) -> None:
    wanted = {fold(name.lstrip("#")) for name in channels.split(",") if name}
    ctx.send(irc.RPL_LISTSTART, "Channel", "Users  Name")
    for room in ctx.me.rooms():
        if not wanted or room.key in wanted:
            ctx.send(irc.RPL_LIST, channel(room.name), str(room.count), room.topic)
    ctx.send(irc.RPL_LISTEND, "End of /LIST")
