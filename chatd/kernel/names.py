"""Names of users and rooms: one place that validates them and decides when two are the same.

Names are compared after NFKC normalisation and case folding (NFKC_Casefold in spirit), so
``Alice``, ``ALICE`` and ``Ａｌｉｃｅ`` (full-width) are one name. Only letters, digits,
combining marks and ``_ - .`` are allowed, which keeps out spaces, control characters, bidi
overrides, zero-width characters and the punctuation the wire formats use as separators.
Unicode's default-ignorable code points are refused too, although some are letters or marks
(Hangul fillers, variation selectors, the combining grapheme joiner): they render as nothing,
so ``Alice`` plus one of them would look exactly like ``Alice``.
"""

import re
import unicodedata

from chatd.kernel.errors import BadName

MAX_NAME_LENGTH = 32
# The most names one session watches the presence of (IRC's MONITOR limit).
MAX_WATCHED = 100
_PUNCTUATION = frozenset("_-.")

# Default_Ignorable_Code_Point (Unicode 15.1 DerivedCoreProperties.txt), which
# ``unicodedata`` does not expose.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


# A name that passes every rule below without needing them: ASCII letters, digits and _ - .,
# not starting with - or ., at most MAX_NAME_LENGTH long. ASCII text is its own NFKC form,
# holds no default-ignorable code point, and its only letters and digits are these.
_PLAIN_NAME = re.compile(f"[A-Za-z0-9_][A-Za-z0-9_.-]{{0,{MAX_NAME_LENGTH - 1}}}")


def fold(name: str) -> str:
    """The key two names are compared by."""
    if name.isascii():  # its own NFKC form, and casefold() of ASCII is lower()
        folded = name.lower()
        # A name that is its own key is kept once (a user holds both, for as long as it
        # is online), not twice.
        return name if folded == name else folded
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def _check(raw: str, what: str) -> str:
    # Every login checks a name (several times over): most are plain ASCII, settled by one
    # regular expression; the rest, and every name refused, go the whole way.
    if _PLAIN_NAME.fullmatch(raw):
        return raw
    name = unicodedata.normalize("NFKC", raw)
    if not name:
        raise BadName(f"a {what} name can't be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise BadName(f"a {what} name has at most {MAX_NAME_LENGTH} characters")
    first = unicodedata.category(name[0])
    if not (first[0] in "LN" or name[0] == "_"):
        raise BadName(f"a {what} name must start with a letter, a digit or _")
    invisible = _IGNORABLE.search(name)
    if invisible is not None:
        raise BadName(
            f"{what} names can't contain invisible characters (U+{ord(invisible.group()):04X})"
        )
    for char in name:
        category = unicodedata.category(char)
        if category[0] not in "LNM" and char not in _PUNCTUATION:
            raise BadName(
                f"{what} names may only use letters, digits and _ - . (not {char!r})"
            )
    return name


def check_user_name(raw: str) -> str:
    """Validate a user name; return its display form (NFKC)."""
    return _check(raw, "user")


def check_room_name(raw: str) -> str:
    """Validate a room name, accepting IRC's ``#room`` spelling; return its display form."""
    return _check(raw[1:] if raw.startswith("#") else raw, "room")


# Look-alikes folded by ``skeleton``: a documented subset of Unicode TR39's confusables, the
# Cyrillic and Greek letters that render like Latin ones, dotless i, and the digit/letter
# pairs that sans-serif fonts blur. Applied before case folding, so capital I can be l.
_LOOKALIKES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ѕ": "s", "і": "i", "ј": "j", "к": "k", "о": "o",
    "р": "p", "с": "c", "у": "y", "х": "x", "һ": "h", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ӏ": "l", "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o",
    "Р": "p", "С": "c", "Т": "t", "Х": "x", "Ү": "y", "Ѕ": "s", "І": "l", "Ј": "j",
    # Greek
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "χ": "x", "υ": "u",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "l", "Κ": "k", "Μ": "m",
    "Ν": "n", "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    # Latin and digits
    "ı": "i", "ɡ": "g", "I": "l", "1": "l", "0": "o",
})
# What ``skeleton`` does to ASCII text in one bytes.translate (the look-alikes, then the
# case folding): str.translate with the dict above costs a look-up per character, several
# times everything else a login does with its name.
_ASCII_SHAPES = bytes(
    ord(_LOOKALIKES.get(byte, chr(byte)).lower()) for byte in range(128)
) + bytes(range(128, 256))


def skeleton(name: str) -> str:
    """What ``name`` looks like: two names with one skeleton can be mistaken for each other
    (``paypal``, ``pаypal`` with a Cyrillic а, ``PAYPAL``, ``paypa1``)."""
    text = name if name.isascii() else unicodedata.normalize("NFKC", name)
    if text.isascii():
        text = text.encode().translate(_ASCII_SHAPES).decode()
    else:
        text = fold(text.translate(_LOOKALIKES))
    text = text.replace("rn", "m")
    # The server keeps each online user's skeleton: a name that is its own skeleton (most
    # are) is kept once, not twice.
    return name if text == name else text


# Names a guest or a new account may not take, because people would mistake whoever has one
# for the server or its staff. ``reserved-names`` in the settings replaces this list.
DEFAULT_RESERVED = (
    "chatd", "server", "services", "system", "admin", "administrator", "root", "operator",
    "oper", "ircop", "sysop", "moderator", "staff", "support", "help", "info", "security",
    "abuse", "postmaster", "webmaster", "hostmaster", "nickserv", "chanserv", "memoserv",
    "operserv", "hostserv", "botserv", "saslserv", "global", "nobody", "anonymous",
    "everyone", "here", "channel",
)


class ReservedNames:
    """Reserved names, compared by their folded form and by how they look."""

    __slots__ = ("_folded", "_shapes")

    def __init__(self, names: tuple[str, ...] = DEFAULT_RESERVED) -> None:
        self._folded = frozenset(fold(name) for name in names)
        self._shapes = frozenset(skeleton(name) for name in names) | frozenset(
            skeleton(name.upper()) for name in names
        )

    def check(self, name: str) -> None:
        """Raise BadName if ``name`` is, or looks like, a reserved name."""
        if fold(name) in self._folded or skeleton(name) in self._shapes:
            raise BadName(f"{name} is reserved for the server; pick another name")


MAX_FILE_NAME_LENGTH = 100
# Characters a file name never keeps: path separators, and what a shell or a terminal would
# take for something else. Control, format (bidi overrides, zero-width) and separator
# characters are dropped by category below.
_FILE_UNSAFE = frozenset('/\\:*?"<>|')


def clean_file_name(raw: str) -> str:
    """A shared file's display name: safe to show and to save under, on any system.

    The name is only ever shown and offered as a download name; the store never builds a
    path from it. Still, a client saving it must not be tricked: path separators and shell or
    Windows metacharacters become ``_``; control, format (bidi, zero-width) and line or
    paragraph separator characters and default-ignorables are dropped; leading dots and
    spaces go (no hidden files, no ``..``); the result is NFC and at most
    ``MAX_FILE_NAME_LENGTH`` characters, keeping a short extension. BadName if nothing is
    left."""
    text = unicodedata.normalize("NFC", raw)
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or _IGNORABLE.match(char):
            continue
        kept.append("_" if char in _FILE_UNSAFE else " " if char.isspace() else char)
    name = re.sub(r"\.{2,}", ".", "".join(kept)).strip().lstrip(".").strip()
    if len(name) > MAX_FILE_NAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and 0 < len(extension) <= 10:
            name = stem[:MAX_FILE_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            name = name[:MAX_FILE_NAME_LENGTH].rstrip()
    if not name or name.strip("._ ") == "":
        raise BadName(f"{raw[:40]!r} is not a usable file name")
    return name
