"""IRCv3 ``labeled-response``: the replies to a labeled command, sent as one labeled unit.

A client with the capability may tag a command ``@label=X``; everything the server sends in
answer carries the label: one line gets the tag, several go in a ``labeled-response`` batch
(whose opening line carries it), none is an ``ACK``. Handlers know nothing of this: the
protocol opens a ``Labeled`` reply context around a command and takes back what was written
to the client meanwhile (``IRCProtocol.labeled``), and this module makes the labeled unit of
it (``finish``). A private message to oneself is the one line written meanwhile that is not
a reply: it is written after the unit (``after``).
"""

from __future__ import annotations

from chatd.frontends.irc.codec import message, tagged


class Labeled:
    """One labeled command's reply context: its label, what was written in answer so far, and
    whether its handler is waiting (then replies come to ``lines``, not the outbox)."""

    __slots__ = ("after", "label", "lines", "waiting")

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[bytes] = []
        self.after: list[bytes] = []
        self.waiting = False


def _with_tags(tags: str, line: bytes) -> bytes:
    """``line`` with ``tags`` (already escaped, ``k=v;...``) before any tags it has."""
    if line.startswith(b"@"):
        return b"@" + tags.encode() + b";" + line[1:]
    return b"@" + tags.encode() + b" " + line


def finish(server: str, labeled: Labeled, batch_id: str, batch: bool) -> bytes:
    """The labeled unit of what ``labeled`` gathered: an ``ACK`` for nothing, the one line
    tagged, or a ``labeled-response`` batch named ``batch_id``. Without ``batch`` (the
    capability), several lines go unlabeled: the spec forbids a label on only one of them."""
    lines = [line + b"\r\n" for line in b"".join(labeled.lines).split(b"\r\n") if line]
    label = tagged({"label": labeled.label}, b"")[1:-1].decode()
    if not lines:
        return _with_tags(label, message(server, "ACK"))
    if len(lines) == 1:
        return _with_tags(label, lines[0])
    if not batch:
        return b"".join(lines)
    return b"".join((
        _with_tags(label, message(server, "BATCH", f"+{batch_id}", "labeled-response")),
        *(_with_tags(f"batch={batch_id}", line) for line in lines),
        message(server, "BATCH", f"-{batch_id}"),
    ))
