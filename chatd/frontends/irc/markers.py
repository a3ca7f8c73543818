"""IRCv3 ``draft/read-marker`` (https://ircv3.net/specs/extensions/read-marker): ``MARKREAD
target [timestamp=...]`` reads or moves the account's read marker of a channel or a private
conversation (chatd.core.reading), which every other session of the account hears as a
``MARKREAD`` and a JOIN is followed by (before NAMES' end). IRC speaks of markers as times;
chatd keeps the id of the last message read, and a time as the last id of its millisecond
(chatd.kernel.markers), so a time set is the time read back, to the millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from chatd.frontends.irc.codec import channel, is_channel, message
from chatd.frontends.irc.context import Context
from chatd.frontends.rendering import parse_timestamp
from chatd.kernel.errors import ChatError
from chatd.kernel.events import ReadMoved
from chatd.kernel.markers import marker_at, marker_ms

CAP = "draft/read-marker"


def stamp(marker: str | None) -> str:
    """A marker as MARKREAD's parameter: ``timestamp=...`` (server-time's form), or ``*``."""
    if marker is None:
        return "*"
    ms = marker_ms(marker)
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return f"timestamp={moment.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}Z"


def markread_line(server: str, target: str, marker: str | None) -> bytes:
    return message(server, "MARKREAD", target, stamp(marker))


def _fail(ctx: Context, code: str, *context: str) -> None:
    text = {"NEED_MORE_PARAMS": "Missing parameters", "INVALID_PARAMS": "Invalid timestamp",
            "INVALID_TARGET": "Invalid target"}[code]
    ctx.write(message(ctx.server_name, "FAIL", "MARKREAD", code, *context, text))


def _name(target: str) -> tuple[str, bool]:
    """The core's name of a MARKREAD target, and whether it is a private conversation."""
    return (target[1:], False) if is_channel(target) else (target, True)


def markread(ctx: Context, target: str | None = None, given: str | None = None,
             *_: str) -> Deferred[None] | None:
    if not target:
        _fail(ctx, "NEED_MORE_PARAMS")
        return None
    name, private = _name(target)
    if given is None:
        try:
            kept = ctx.me.read_marker(name, private)
        except ChatError:
            kept = None
        ctx.write(markread_line(ctx.server_name, target, kept))
        return None
    kind, _equals, text = given.partition("=")
    at = parse_timestamp(text) if kind == "timestamp" and text else None
    if at is None:
        _fail(ctx, "INVALID_PARAMS", target, given)
        return None
    try:
        moving = ctx.me.mark_read(name, marker_at(round(at * 1000)), private)
    except ChatError:
        _fail(ctx, "INVALID_TARGET", target)
        return None

    def answered(kept: str | None) -> None:
        ctx.write(markread_line(ctx.server_name, target, kept))

    def refused(failure: Failure) -> None:
        failure.trap(ChatError)
        _fail(ctx, "INVALID_TARGET", target)

    return moving.addCallbacks(answered, refused)


def moved(server: str, event: ReadMoved) -> bytes:
    """Another session of the account moved a marker: MARKREAD, as the spec has it."""
    return markread_line(server, event.target if event.private else channel(event.target),
                         event.marker)


def on_join(ctx: Context, room: str) -> None:
    """After our own JOIN (before NAMES): the channel's marker, to a client with the cap."""
    if CAP not in ctx.caps:
        return
    try:
        kept = ctx.me.read_marker(room)
    except ChatError:
        kept = None
    ctx.write(markread_line(ctx.server_name, channel(room), kept))
