"""What the line protocol alone does to a line it receives: a terminal's editing undone.

The codes and the shape of lines are ``chatd.frontends.codes``, the wording of events
``chatd.frontends.rendering`` and the framing ``chatd.frontends.framing``: IRC, the web
frontend and the bundled client share those; this is what only a person at telnet needs.
"""

from __future__ import annotations

import re

# What a terminal's keys send: CSI (arrow keys ``ESC [ A``, Home, Delete ``ESC [ 3 ~``; also a
# sequence cut off by the end of the line) and SS3 (arrow keys in application mode,
# ``ESC O A``). Any other escape is left for the text rules to refuse (412).
_KEYS = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*(?:[@-~]|$)|O(?:[@-~]|$))")
_ERASE = (0x08, 0x7F)  # ^H and DEL: what a terminal's backspace key sends


def edit_line(line: bytes) -> bytes:
    """A line as a terminal in raw mode would have shown it: escape sequences (arrow keys)
    dropped, each ^H or DEL erasing the character before it (a whole UTF-8 character)."""
    # Bytes looked for as ints: ``0x1B in line`` is a memchr, ``b"\x1b" in line`` a
    # substring search, several times dearer, on every line received (docs/performance.md).
    if 0x1B in line:
        line = _KEYS.sub(b"", line)
    if 0x08 not in line and 0x7F not in line:
        return line
    out = bytearray()
    for byte in line:
        if byte in _ERASE:
            while out and 0x80 <= out[-1] < 0xC0:  # UTF-8 continuation bytes
                out.pop()
            if out:
                out.pop()
        else:
            out.append(byte)
    return bytes(out)
