"""The web protocol's wire format, with no transport: JSON objects, one per WebSocket message.

It is the line protocol in JSON, one to one: the browser sends ``{"line": "/join lobby"}``
(what a person would type), and every message it gets back is what a line client would get,
``{"code": 201, "text": "welcome guest ann: ..."}``, with a multi-line reply's continuation lines in
``lines`` and an event's fields in ``event`` (the event's own ``to_dict``, less the sender's
session id); a message from history is a 110 with the kept message's fields.
``docs/protocol.md`` has examples. An event's ``text`` is the line protocol's
rendering of it, so the two can never disagree.
"""

from __future__ import annotations

import json
from typing import Any

from chatd.frontends.codes import Code
from chatd.frontends.interpreter import Reply
from chatd.frontends.rendering import render_event, render_history
from chatd.kernel.events import Event, ModeChanged, to_dict

# Fields of an event a browser is not told: the sending session's id (used for echo), and the
# id of the room a message was said in (where history keeps it; the room's name says which).
_PRIVATE_FIELDS = ("origin", "room_id", "seat")
# Longest request id echoed back, in characters (an id is the client's to choose).
MAX_ID = 64


class BadRequest(ValueError):
    """A message that is not ``{"line": TEXT}`` (with an optional ``id``)."""


# Made once: ``json.dumps`` with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dump(message: dict[str, Any]) -> bytes:
    return _ENCODER.encode(message).encode()


def _fields(event: Event) -> dict[str, Any]:
    fields = to_dict(event)
    for name in _PRIVATE_FIELDS:
        fields.pop(name, None)
    # A message's client-only tags and bot mark (IRC's) only when it has them: a page
    # that knows nothing of them sees the fields it always saw.
    if fields.get("tags", 0) is None:
        del fields["tags"]
    if fields.get("bot") is False:
        del fields["bot"]
    if isinstance(event, ModeChanged) and event.mode == "+k":
        fields["arg"] = ""  # the room's new password: the line protocol does not tell it
    return fields


def render_payload(event: Event) -> bytes:
    """An event as one JSON message. Pass this function itself to ``Event.encoded``."""
    line = render_event(event).decode()  # "CODE TEXT\r\n"
    return _dump({"code": int(line[:3]), "event": _fields(event), "text": line[4:-2]})


def history_payload(event: Event) -> bytes:
    """A kept message as a 110 event: the line protocol's 110 text (``TIME ID`` then the live
    line's text) and the message's own fields, so a browser shows it as it showed it live,
    marked as history by its code."""
    line = render_history(event).decode()  # "110 TEXT\r\n"
    return _dump({"code": int(Code.HISTORY), "event": _fields(event), "text": line[4:-2]})


def reply_payload(reply: Reply, request: object = None) -> bytes:
    """The final reply to a request, echoing its ``id`` if it had one."""
    message: dict[str, Any] = {"code": int(reply.code), "text": reply.text}
    if reply.lines:
        message["lines"] = list(reply.lines)
    if request is not None:
        message["id"] = request
    return _dump(message)


def notice_payload(code: Code, text: str) -> bytes:
    """A message from the connection itself: the greeting (220), a closing notice (109)."""
    return _dump({"code": int(code), "text": text})


def parse_request(payload: bytes) -> tuple[str, object]:
    """``(line, id)`` from a browser's message; BadRequest says what is wrong with it."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest('not JSON; send {"line": TEXT}') from None
    if not isinstance(message, dict) or not isinstance(message.get("line"), str):
        raise BadRequest('expected {"line": TEXT}')
    request = message.get("id")
    if request is not None and not (
        (isinstance(request, int) and not isinstance(request, bool) and abs(request) < 2**53)
        or (isinstance(request, str) and len(request) <= MAX_ID)
    ):
        raise BadRequest(f"id must be a number or a string of at most {MAX_ID} characters")
    line: str = message["line"]
    if "\n" in line or "\r" in line:
        raise BadRequest("one line per message: no CR or LF")
    return line, request
