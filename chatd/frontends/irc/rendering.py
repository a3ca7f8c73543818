"""How an event looks to an IRC client, given the IRCv3 capabilities it enabled.

Six capabilities change the lines an event makes: ``server-time`` (a ``time`` tag),
``message-tags`` (a ``msgid`` tag and the sender's client-only tags on PRIVMSG, NOTICE
and TAGMSG), ``account-tag`` (an ``account``
tag on what a logged-in user sent or did), ``extended-join`` (``JOIN #room ACCOUNT :REAL
NAME``), ``away-notify`` (an ``AWAY`` after the JOIN of someone away) and ``account-notify``
(an ``ACCOUNT`` when a guest logs in to an account while connected). Every other
capability changes replies, never how an event is rendered.

Delivery renders an event once per render function (``Event.encoded``), so each set of
these capabilities gets one function, made once and shared by every connection with that set
(``Renderers``): a room of a hundred IRC clients with two sets costs two renders of a
message, not a hundred. A client with none of them renders with the frontend's plain
function (``Renderers.plain``), which history tags itself. The server's name is in some
lines (a NOTICE, a KICK of a deleted room), so the functions are the frontend's, never the
process's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from chatd.frontends.irc.codec import (
    channel,
    message,
    plain_renderer,
    source,
    tagged,
)
from chatd.frontends.rendering import timestamp
from chatd.kernel.events import Event, Invited, Joined, NickChanged, Private, Said, Tagged
from chatd.kernel.names import fold

Render = Callable[[Event], bytes]
# The events that are messages: they carry a msgid and the sender's client-only tags.
MESSAGES = frozenset({Said, Private, Tagged})

# The capabilities that change how an event is rendered.
OUTPUT_CAPS = frozenset({"server-time", "message-tags", "account-tag", "extended-join",
                         "away-notify", "account-notify"})


def tags(caps: Iterable[str], at: float, msgid: str = "", account: str = "",
         client: Mapping[str, str] | None = None, bot: bool = False) -> dict[str, str]:
    """The tags of a line, as ``caps`` allow: the sender's ``client``-only tags, ``bot``
    (bot-mode) and ``msgid`` (message-tags; a message's id), ``account`` (account-tag; the
    name, if the source is logged in) and ``time`` (server-time)."""
    out: dict[str, str] = dict(client) if client and "message-tags" in caps else {}
    if bot and "message-tags" in caps:
        out["bot"] = ""
    if account and "account-tag" in caps:
        out["account"] = account
    if msgid and "message-tags" in caps:
        out["msgid"] = msgid
    if "server-time" in caps:
        out["time"] = timestamp(at)
    return out


def account_of(event: Event) -> str:
    """The account an event's source is logged in to ("" for a guest, or if the event does
    not say). In chatd an account's user name is the account's name."""
    if type(event) is Said:
        return event.sender if event.account else ""
    if type(event) is Private:
        return event.sender if event.sender_id else ""
    if type(event) is Joined:
        return event.who if event.account else ""
    if type(event) is Invited:
        return event.by if event.account else ""
    if type(event) is Tagged:
        return event.sender if event.account else ""
    return ""


def event_tags(event: Event, caps: Iterable[str]) -> dict[str, str]:
    """The tags ``caps`` put on ``event``'s line: a message id only on messages (the ids
    CHATHISTORY knows)."""
    kind = type(event)
    if kind in MESSAGES:
        assert isinstance(event, Said | Private | Tagged)
        return tags(caps, event.at, event.id, account_of(event), event.tags, event.bot)
    return tags(caps, event.at, "", account_of(event))


def real_name(realnames: dict[str, str], name: str, account: bool) -> str:
    """The real name a user gave (USER; ``realnames`` by user key), or, for a user not on
    IRC, what it is."""
    return realnames.get(fold(name)) or ("chatd account" if account else "chatd guest")


def renderer(caps: frozenset[str], names: Callable[[str, bool], str], plain: Render) -> Render:
    """The render function of a client with ``caps`` (of OUTPUT_CAPS), on top of ``plain``
    (the render function of a client with none); ``names(name, account)`` is the real name
    extended-join shows for a user."""
    if not caps:
        return plain
    extended, away_notify = "extended-join" in caps, "away-notify" in caps
    account_notify = "account-notify" in caps

    def render(event: Event) -> bytes:
        tagging = event_tags(event, caps)
        if type(event) is NickChanged:
            return _nick_changed(event, tagging, account_notify, plain)
        if type(event) is not Joined:
            return tagged(tagging, event.encoded(plain))
        assert isinstance(event, Joined)
        who = event.who
        if extended:
            line = message(source(who), "JOIN", channel(event.room),
                           who if event.account else "*", names(who, event.account))
        else:
            line = event.encoded(plain)
        line = tagged(tagging, line)
        if away_notify and event.away:
            line += tagged(tagging, message(source(who), "AWAY", event.away))
        return line

    return render


def _nick_changed(event: NickChanged, tagging: dict[str, str], account_notify: bool,
                  plain: Render) -> bytes:
    """A NICK; a login to an account while connected is first an ``ACCOUNT`` from the name
    held until then (account-notify), then the NICK to the account's name, if it differs."""
    nick = event.encoded(plain)
    line = tagged(tagging, nick) if nick else b""
    if event.account and account_notify:
        line = tagged(tagging, message(source(event.old), "ACCOUNT", event.new)) + line
    return line


class Renderers:
    """One render function per set of output capabilities, made on first use. The IRC
    frontend keeps one, since extended-join's real names and the server's name are the
    frontend's."""

    __slots__ = ("_made", "_realnames", "plain")

    def __init__(self, server: str, realnames: dict[str, str]) -> None:
        self._realnames = realnames  # user key -> the real name USER gave
        self.plain = plain_renderer(server)
        self._made: dict[frozenset[str], Render] = {frozenset(): self.plain}

    def __call__(self, caps: Iterable[str]) -> Render:
        key = OUTPUT_CAPS.intersection(caps)
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = renderer(
                key, lambda name, account: real_name(self._realnames, name, account),
                self.plain)
        return made
