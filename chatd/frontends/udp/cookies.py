"""The challenge that proves an address receives before it is sent room traffic.

A cookie is an HMAC, under a secret made at start, of the source address, the token and the
current time slot: so the server keeps nothing for an address until it answers, and a cookie
is good only for the address and token it was sent for, for one to two slots. Sent to an
address that did not ask (a spoofed source), it is never seen by the spoofer, who can't
validate that address; and, no larger than the datagram that asked, it amplifies nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from twisted.internet.interfaces import IReactorTime

Address = tuple[str, int]

# 16 bytes of MAC: 22 characters of URL-safe base64.
MAC_BYTES = 16


class Cookies:
    __slots__ = ("_clock", "_period", "_secret")

    def __init__(self, clock: IReactorTime, period: float = 30.0) -> None:
        self._clock = clock
        self._period = period
        self._secret = secrets.token_bytes(32)

    def _mac(self, address: Address, token: str, slot: int) -> str:
        message = f"{address[0]}\0{address[1]}\0{token}\0{slot}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()[:MAC_BYTES]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def _slot(self) -> int:
        return int(self._clock.seconds() // self._period)

    def make(self, address: Address, token: str) -> str:
        return self._mac(address, token, self._slot())

    def check(self, address: Address, token: str, cookie: str) -> bool:
        """Whether ``cookie`` is one made for this address and token in this slot or the
        one before."""
        if not cookie.isascii():
            return False
        slot = self._slot()
        return any(hmac.compare_digest(cookie, self._mac(address, token, s))
                   for s in (slot, slot - 1))
