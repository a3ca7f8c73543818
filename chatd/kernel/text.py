"""What text may be relayed to other people's terminals.

Control characters (C0, DEL, C1) are refused rather than stripped: a message with an escape
sequence or a bare CR is either an attack on other terminals or a broken client, and in both
cases the sender should learn that nothing was sent. A tab is the one exception; it becomes a
space, since pasted text often carries one.

Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the line and
paragraph separators (U+2028, U+2029) are refused too: an unterminated override reorders what
the recipient's terminal shows after it (the next line, another sender's name), and a
separator breaks a line where the wire format says there is none. The marks U+200E/U+200F,
which reorder nothing beyond a character, and zero-width joiners (emoji) stay allowed.
"""

import re

from chatd.kernel.errors import BadText

MAX_TEXT_LENGTH = 1024
MAX_TOPIC_LENGTH = 300
# Unicode's Cc category (C0, DEL and C1), then the bidi and separator characters: one regex
# scan instead of a loop per character.
_REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


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
    refused = _REFUSED.search(text)
    if refused is not None:
        code = ord(refused.group())
        what = "control character" if code < 0x2000 else "bidi override or line separator"
        raise BadText(f"{what} U+{code:04X} can't be sent; remove it and retry")
    return text
