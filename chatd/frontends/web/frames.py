"""A server's WebSocket text frames, made once per payload: the web format's own rendering.

A browser's output is the JSON payloads of ``codec``, each one whole text message. A frame a
server sends is never masked (RFC 6455, section 5.1) and compression is off (``site``), so a
payload's frame is the same bytes for every browser: the web format (``WEB_FORMAT`` in
``protocol``) renders an event straight into its frame, delivery makes it once per room
message (``Event.encoded``) and every browser's ``Outbox`` takes those bytes as they are. No
autobahn call is made per delivery, or per message: autobahn still does the handshake, reads
the browser's frames and sends its control frames (pings, pongs, the close).
"""

from __future__ import annotations

import struct

from chatd.frontends.codes import Code
from chatd.frontends.interpreter import Reply
from chatd.frontends.web.codec import (
    history_payload,
    notice_payload,
    render_payload,
    reply_payload,
)
from chatd.kernel.events import Event

_FIN_TEXT = 0x81  # FIN set, opcode 1 (text); no RSV bits: no extension is in use
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """``payload`` (UTF-8 text) as one final, unmasked text frame (RFC 6455, 5.2): a 7-bit
    length up to 125 bytes, then 126 and 16 bits, then 127 and 64 bits."""
    size = len(payload)
    if size < 126:
        return _SHORT.pack(_FIN_TEXT, size) + payload
    if size < 0x10000:
        return _MEDIUM.pack(_FIN_TEXT, 126, size) + payload
    return _LONG.pack(_FIN_TEXT, 127, size) + payload


def render_frame(event: Event) -> bytes:
    """A live event's frame. Pass this function itself to ``Event.encoded``: one per event."""
    return text_frame(render_payload(event))


def history_frame(event: Event) -> bytes:
    return text_frame(history_payload(event))


def reply_frame(reply: Reply, request: object = None) -> bytes:
    return text_frame(reply_payload(reply, request))


def notice_frame(code: Code, text: str) -> bytes:
    return text_frame(notice_payload(code, text))
