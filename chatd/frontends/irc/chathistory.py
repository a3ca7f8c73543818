"""History over IRC: replay after one's own JOIN, and the IRCv3 ``draft/chathistory``
command (LATEST, BEFORE, AFTER, AROUND, BETWEEN, TARGETS).

History lines are the messages as first sent (``PRIVMSG``, with ``ACTION`` for an emote),
rendered as for a client with no capabilities, with tags as the client negotiated them: ``time``
(``server-time``), ``msgid`` (``message-tags``), ``account`` (``account-tag``, for what an
account said) and ``batch`` (``batch``; the lines then come
inside ``BATCH +ref chathistory TARGET`` ... ``BATCH -ref``). A client that negotiated
``draft/chathistory`` asks for history itself, so (as the spec says) it gets no replay on
JOIN; one without ``server-time`` gets replay with the time written into the text, or none
(``history-replay-plain``), and so does (the time in the text, besides the tag) one with
``server-time`` but not ``message-tags``, such as irssi (``_shows_server_time``). Access is
the core's: a channel one is not in, or a nick one has
no private history with, answers ``FAIL CHATHISTORY INVALID_TARGET`` or an empty batch.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import replace

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import channel, message, tagged
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.rendering import event_tags
from chatd.frontends.rendering import parse_timestamp, timestamp
from chatd.kernel import errors
from chatd.kernel.events import Event, Said
from chatd.kernel.history import MAX_REQUEST, HistoryQuery, Ref

# Batch references: unique within the process, so within every connection.
_batches = itertools.count(1)

_SUBCOMMANDS = {"LATEST": 3, "BEFORE": 3, "AFTER": 3, "AROUND": 3, "BETWEEN": 4, "TARGETS": 3}


def _open_batch(ctx: Context, kind: str, *params: str) -> str | None:
    if "batch" not in ctx.registration.caps:
        return None
    ref = f"h{next(_batches)}"
    ctx.write(message(ctx.server_name, "BATCH", f"+{ref}", kind, *params))
    return ref


def _close_batch(ctx: Context, ref: str | None) -> None:
    if ref is not None:
        ctx.write(message(ctx.server_name, "BATCH", f"-{ref}"))


def send_history(ctx: Context, target: str, events: Sequence[Event]) -> None:
    """``events`` as tagged lines, in a ``chathistory`` batch when the client has batch."""
    caps = ctx.registration.caps
    ref = _open_batch(ctx, "chathistory", target)
    for event in events:
        tags = {"batch": ref} if ref is not None else {}
        tags.update(event_tags(event, caps))
        ctx.write(tagged(tags, event.encoded(ctx.plain_render)))
    _close_batch(ctx, ref)


def _plain(event: Event) -> Event:
    """A message with its time in front of its text, for a client that can't read tags."""
    if not isinstance(event, Said):
        return event
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.at))
    return replace(event, text=f"[{stamp} UTC] {event.text}", wire={})


def _shows_server_time(caps: frozenset[str]) -> bool:
    """Whether a client can be trusted to show a replayed line at its ``time`` tag.

    ``server-time`` alone does not say so: irssi 1.4 negotiates it (with multi-prefix,
    extended-join and away-notify, never message-tags or batch) and keeps the tag, but shows
    it only with ``/set show_server_time on`` (default off, fe-text/textbuffer-formats.c):
    a replayed backlog looked just said. Clients that display tags negotiate
    ``message-tags`` too (WeeChat, gamja, Kiwi IRC, The Lounge, Halloy); the others get the
    time in the text as well, as a client without server-time does."""
    return "server-time" in caps and "message-tags" in caps


def replay(ctx: Context, room: str, count: int, plain: bool) -> None:
    """After our own JOIN of ``room``: what we have not read of it (the first ``count``
    messages after our read marker, or with none its last ``count``), as the caps allow,
    then a NOTICE saying how many more are unread and how to ask for them."""
    caps = ctx.registration.caps
    if not count or "draft/chathistory" in caps or ("server-time" not in caps and not plain):
        return
    try:
        events, more = ctx.me.unread_messages(room, count)
        last = events[-1].id if events else ctx.me.read_marker(room)
    except errors.ChatError:
        return
    if not _shows_server_time(caps):
        events = [_plain(event) for event in events]
    if events:
        send_history(ctx, channel(room), events)
    if more:
        ctx.write(message(ctx.server_name, "NOTICE", channel(room),
                          f"{more} more unread; CHATHISTORY AFTER {channel(room)} msgid={last} "
                          f"{min(more, MAX_REQUEST)} asks for them"))


def resumed(ctx: Context) -> None:
    """After the JOINs of a session that took a held seat (``channels.rejoined``): what the
    seat missed, per channel (and private conversation), each in a ``chathistory`` batch
    with the tags the client negotiated (``server-time``: each line's own time)."""
    for missed in ctx.me.missed():
        events = list(missed.events)
        if "server-time" not in ctx.registration.caps:
            events = [_plain(event) for event in events]
        send_history(ctx, channel(missed.target) if missed.room else missed.target, events)


def _fail(ctx: Context, code: str, *context: str) -> None:
    text = {"INVALID_PARAMS": "Invalid parameters",
            "INVALID_TARGET": "Messages could not be retrieved"}[code]
    ctx.write(message(ctx.server_name, "FAIL", "CHATHISTORY", code, *context, text))


def _reference(text: str, star: bool = False) -> Ref | None:
    """``timestamp=...`` or ``msgid=...`` (``*`` where ``star``); ValueError otherwise."""
    if star and text == "*":
        return None
    kind, _, value = text.partition("=")
    if kind == "msgid" and value:
        return value
    if kind == "timestamp":
        at = parse_timestamp(value)
        if at is not None:
            return at
    raise ValueError(text)


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(text)
    return min(int(text), MAX_REQUEST)


def chathistory(ctx: Context, subcommand: str, *params: str) -> None:
    verb = subcommand.upper()
    wanted = _SUBCOMMANDS.get(verb)
    if wanted is None:
        ctx.write(message(ctx.server_name, "FAIL", "CHATHISTORY", "INVALID_PARAMS", subcommand,
                          "Unknown command"))
        return
    if len(params) != wanted:
        ctx.write(message(ctx.server_name, "FAIL", "CHATHISTORY", "INVALID_PARAMS", verb,
                          "Insufficient parameters" if len(params) < wanted
                          else "Too many parameters"))
        return
    if verb == "TARGETS":
        _targets(ctx, *params)
        return
    target, *refs, count = params
    try:
        parsed = [_reference(ref, star=verb == "LATEST") for ref in refs]
        limit = _limit(count)
    except ValueError as error:
        ctx.write(message(ctx.server_name, "FAIL", "CHATHISTORY", "INVALID_PARAMS", verb,
                          str(error), "Invalid timestamp or msgid"))
        return
    query = HistoryQuery(verb.lower(), limit, *parsed)  # type: ignore[arg-type]
    session = ctx.me
    try:
        if codec.is_channel(target):
            events = session.history(target, query)
            name = channel(session.room(target).name)
        elif target == "*":
            raise errors.NotAllowed("no history across every conversation")
        else:
            events = session.private_history(target, query)
            name = target
    except errors.ChatError:
        _fail(ctx, "INVALID_TARGET", verb, target)
        return
    send_history(ctx, name, events)


def _targets(ctx: Context, start: str, end: str, count: str) -> None:
    try:
        first, second = _reference(start), _reference(end)
        limit = _limit(count)
        if not isinstance(first, float) or not isinstance(second, float):
            raise ValueError(start if not isinstance(first, float) else end)
    except ValueError as error:
        ctx.write(message(ctx.server_name, "FAIL", "CHATHISTORY", "INVALID_PARAMS", "TARGETS",
                          str(error), "Invalid timestamp"))
        return
    session = ctx.me
    low, high = sorted((first, second))
    found = session.history_targets(low, high, limit)
    ref = _open_batch(ctx, "draft/chathistory-targets")
    for name, at in found:
        shown = channel(name) if session.is_room(name) else name
        line = message(ctx.server_name, "CHATHISTORY", "TARGETS", shown, timestamp(at))
        ctx.write(tagged({"batch": ref} if ref else {}, line))
    _close_batch(ctx, ref)
