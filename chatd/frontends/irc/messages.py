"""Talking: PRIVMSG and NOTICE to channels and nicks.

Only what a client sends passes here; what it receives is rendered once per event by
delivery (``codec.render_event``), never per recipient.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.words.protocols import irc

from chatd.frontends.irc import codec, operators
from chatd.frontends.irc.context import Context, each
from chatd.frontends.irc.rendering import tags
from chatd.frontends.irc.replies import TARGET
from chatd.kernel import errors
from chatd.kernel.events import Private, Tagged
from chatd.kernel.text import clean_text
from chatd.kernel.views import UserView

# PRIVMSG and NOTICE targets per line (TARGMAX in ISUPPORT).
MAX_TARGETS = 4


def _relay(ctx: Context, target: str, text: str, notice: bool = False) -> UserView | None:
    """Say ``text`` in a channel, or send it to a nick (the user it reached); a notice
    stays one for every recipient."""
    if target.startswith("$"):  # a server mask: the global notice
        operators.global_notice(ctx, text)
        return None
    session = ctx.me
    text, action = codec.incoming_text(text)
    client = ctx.client_tags
    if not codec.is_channel(target):
        user = session.message(target, text, notice, client)
        if "echo-message" in ctx.caps:
            # As the core relayed it (tabs made spaces), not as the client sent it; to
            # oneself too, where the delivery comes besides (as the spec says).
            _echo(ctx, Private(session.name, user.name, clean_text(text), notice=notice,
                               tags=client, bot=session.bot, id=user.sent_id,
                               at=user.sent_at or ctx.now()))
        return user
    # A channel message comes back through delivery when the client asked for echo-message.
    session.say(text, target, action=action, notice=notice, tags=client)
    return None


def _echo(ctx: Context, event: Private | Tagged) -> None:
    """echo-message for a private message or TAGMSG: the line the recipient got, as the
    sender sees it. (The core tells only the recipient, so it is made here, with the id and
    time the core gave the message, so the echo names it as CHATHISTORY does, and with its
    account-tag and the client's tags.)"""
    me = ctx.me
    line = codec.render_event(ctx.server_name, event)
    ctx.write(codec.tagged(tags(ctx.caps, event.at, event.id,
                                "" if me.guest else me.name, event.tags, event.bot), line))


def _privmsg_one(ctx: Context, target: str, text: str) -> None:
    user = _relay(ctx, target, text)
    if user is not None and user.away:
        ctx.send(irc.RPL_AWAY, user.name, user.away)


def privmsg_single(ctx: Context, target: str, text: str) -> None:
    """PRIVMSG to one target with some text, nearly every PRIVMSG: what ``each`` does for a
    list of one, without its Deferred chain (a fifth of an IRC message's cost). Also the
    end of ``IRCProtocol``'s fast path for ``PRIVMSG #channel :text``."""
    try:
        _privmsg_one(ctx, target, text)
    except Exception:
        ctx.refused(Failure(), TARGET, target, "PRIVMSG")


def privmsg_channel(ctx: Context, target: str, text: str) -> None:
    """``privmsg_single`` for a ``#channel`` target with no client-only tags, as
    ``IRCProtocol``'s fast path has it: ``_relay``'s channel case, without its calls."""
    try:
        action = False
        if not text.isprintable():  # a CTCP ACTION (\x01), or formatting codes
            text, action = codec.incoming_text(text)
        ctx.me.say(text, target, action=action, notice=False, tags=None)
    except Exception:
        ctx.refused(Failure(), TARGET, target, "PRIVMSG")


def privmsg(ctx: Context, targets: str = "", text: str = "", *_: str
            ) -> Deferred[None] | None:
    if not targets:
        ctx.send(irc.ERR_NORECIPIENT, "No recipient given (PRIVMSG)")
        return None
    if not text:
        ctx.send(irc.ERR_NOTEXTTOSEND, "No text to send")
        return None
    if targets.count(",") >= MAX_TARGETS:
        ctx.send(irc.ERR_TOOMANYTARGETS, targets, f"at most {MAX_TARGETS} targets")
        return None
    if "," not in targets:
        privmsg_single(ctx, targets, text)
        return None
    return each(ctx, TARGET, None, lambda target, said: _privmsg_one(ctx, target, said),
                [(target, text) for target in targets.split(",") if target], "PRIVMSG")


def tagmsg(ctx: Context, target: str, *_: str) -> None:
    """TAGMSG (message-tags): the client-only tags alone, to a channel or a nick, for the
    clients with message-tags (typing notifications, reactions). Without tags there is
    nothing to relay; a client typing gets no reply, as it would get none for a NOTICE."""
    client = ctx.client_tags
    if client is None:
        return
    session = ctx.me
    if codec.is_channel(target):
        # The echo comes back through delivery, as a channel message's does.
        session.tag_room(client, target)
        return
    user = session.tag_user(client, target)
    if "echo-message" in ctx.caps:
        _echo(ctx, Tagged(session.name, client, recipient=user.name, bot=session.bot,
                          id=user.sent_id, at=user.sent_at or ctx.now()))


def notice(ctx: Context, targets: str = "", text: str = "", *_: str) -> None:
    """Relayed like PRIVMSG, but (as IRC requires) no error is ever sent back."""
    for target in targets.split(",")[:MAX_TARGETS]:
        try:
            _relay(ctx, target, text, notice=True)
        except errors.ChatError:
            continue
