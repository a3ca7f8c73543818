"""What text may be relayed to other people's terminals.

Control characters (C0, DEL, C1) are refused rather than stripped: a message with an escape
sequence or a bare CR is either an attack on other terminals or a broken client, and in both
cases the sender should learn that nothing was sent. A tab is the one exception; it becomes a
space, since pasted text often carries one.
"""

import re

from chatd.errors import BadText

MAX_TEXT_LENGTH = 1024
# Unicode's Cc category, exactly: C0, DEL and C1. One regex scan instead of a loop per char.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def for_log(text: str, limit: int = 64) -> str:
    """``text`` safe to put in a log line: control characters escaped, length capped."""
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def clean_text(text: str) -> str:
    """Return ``text`` ready to relay, or raise BadText saying what is wrong with it."""
    text = text.replace("\t", " ")
    if not text.strip():
        raise BadText("nothing to send: the message is empty")
    if len(text) > MAX_TEXT_LENGTH:
        raise BadText(f"a message has at most {MAX_TEXT_LENGTH} characters")
    control = _CONTROL.search(text)
    if control is not None:
        raise BadText(
            f"control character U+{ord(control.group()):04X} can't be sent; remove it and retry"
        )
    return text
