"""Address masks for server bans: one rule for reading a mask and for matching an address,
shared by the core (which checks an operator's mask) and the ban store (which matches).

A mask is an address (``192.0.2.7``, ``2001:db8::1``), a network in CIDR form
(``192.0.2.0/24``), or a pattern with ``*`` and ``?`` over the address as text
(``192.0.2.*``). IRC's ``user@host`` form is accepted and read as its host: chatd knows no
user names of its clients (no ident), so ``*@192.0.2.7`` is ``192.0.2.7``.
"""

from __future__ import annotations

import ipaddress
from fnmatch import fnmatchcase

from chatd.kernel.errors import BadSyntax

# The longest mask kept: an IPv6 network is 43 characters.
MAX_MASK = 64
_PATTERN_CHARACTERS = frozenset("0123456789abcdef.:*?")


def address_mask(text: str) -> str:
    """``text`` as a stored mask (lower case, a network in its canonical form); BadSyntax
    if it is none."""
    mask = text.strip().rpartition("@")[2].lower()
    if not mask or len(mask) > MAX_MASK:
        raise BadSyntax(f"{text[:MAX_MASK]!r} is no address mask: give an address, a network "
                        "(192.0.2.0/24) or a pattern (192.0.2.*)")
    if "/" in mask:
        try:
            return str(ipaddress.ip_network(mask, strict=False))
        except ValueError:
            raise BadSyntax(f"{mask!r} is no network (CIDR)") from None
    if not set(mask) <= _PATTERN_CHARACTERS:
        raise BadSyntax(f"{mask!r} is no address mask: addresses are numbers (hosts are "
                        "not looked up)")
    if mask.strip("*?.:") == "":
        raise BadSyntax(f"{mask!r} would ban every address; ban a network (0.0.0.0/0) if "
                        "you mean it")
    return mask


def mask_matches(mask: str, host: str) -> bool:
    """Whether the address ``host`` is inside ``mask`` (a stored mask)."""
    if "/" in mask:
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(mask, strict=False)
        except ValueError:  # a unix socket's peer is no address
            return False
    return fnmatchcase(host.lower(), mask)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def ban_duration(text: str) -> float | None:
    """A ban's length in seconds, as an operator types it: minutes (``30``, IRC's KLINE
    unit) or a number with a unit (``45s``, ``30m``, ``2h``, ``7d``, ``1w``); ``0`` is
    until lifted. None if ``text`` is not a duration (then it is the mask)."""
    number, unit = (text[:-1], text[-1].lower()) if text[-1:].isalpha() else (text, "m")
    if not (number.isascii() and number.isdigit()) or unit not in _UNITS or len(number) > 9:
        return None
    return float(int(number) * _UNITS[unit])
