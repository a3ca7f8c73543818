"""The member service's shared secret: a file of mode 0600 that the service and every client
(chat daemons, chatd-admin) read, and the proof each end of a connection gives of knowing it.
Kept apart from both daemons' taps, which both need it.

The secret never crosses the wire, so whatever holds the service's address while the service
is down (another local process on its TCP port) learns nothing from a client. Each end sends
a fresh nonce, and each proves itself with an HMAC-SHA256, under the secret, of its role and
both nonces: the service first, so that a client sends nothing but its nonce to an impostor,
and believes nothing it says. The role in the HMAC keeps one end's proof from serving as the
other's; the nonces keep an old proof from serving again. What this can't stop is a process
that relays a connection to the real service and back (it never learns the secret, but it
reads and changes what passes): the unix socket, which only the service's user can bind,
rules that out, and stays the recommended form.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from chatd.kernel.errors import StartupError
from chatd.members import commands

log = Logger()

NONCE_BYTES = 32
SERVER = b"chatd-members service"
CLIENT = b"chatd-members client"


class NotTheService(Exception):
    """What answered at the member service's address did not prove it knows the secret."""


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def proof_of(secret: str, role: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """An end's proof that it knows ``secret``: both nonces have NONCE_BYTES, so the message
    reads one way only."""
    message = b"|".join((role, client_nonce, server_nonce))
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def greet(protocol: amp.AMP, secret: str, **wants: bool) -> Deferred[None]:
    """The client's side of a new connection's challenge-response (``wants``: Challenge's
    ``watch`` and ``rooms``). Fires once both ends proved themselves; fails with
    NotTheService if the service's proof is wrong (it was sent a nonce and nothing else),
    with BadSecret if the service found ours wrong."""
    mine = new_nonce()

    def check(answer: dict[str, Any]) -> Deferred[Any]:
        theirs = answer["nonce"]
        expected = proof_of(secret, SERVER, mine, theirs)
        if len(theirs) != NONCE_BYTES or not hmac.compare_digest(answer["proof"], expected):
            raise NotTheService(
                "what answers at the member service's address did not prove it knows the "
                "shared secret (another process holds the address, or the secret files "
                "differ); nothing was sent to it")
        return protocol.callRemote(commands.Prove, proof=proof_of(secret, CLIENT, mine, theirs))

    def old(failure: Failure) -> None:
        failure.trap(amp.UnhandledCommand)
        raise NotTheService(
            "the member service is of an older version, which takes the secret itself: "
            "upgrade chatd-members first; nothing was sent to it")

    greeted: Deferred[Any] = protocol.callRemote(commands.Challenge, nonce=mine, **wants)
    greeted.addErrback(old)
    greeted.addCallback(check)
    return greeted.addCallback(lambda _: None)


def read_secret(path: Path, create: bool = False) -> str:
    """The shared secret in ``path``, refusing a file that group or others can read; with
    ``create``, a missing file is made with a random secret first."""
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        log.info("created a new member-service secret in {path}", path=str(path))
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as error:
        raise StartupError(f"secret file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StartupError(f"secret file {path} is readable by others; chmod 600 it")
    if len(text) < 16:
        raise StartupError(f"secret file {path} holds fewer than 16 characters")
    return text


def secret_beside(endpoint: str) -> Path | None:
    """For a ``unix:`` member-service endpoint, the secret file the member daemon makes
    beside its socket; None for other endpoints."""
    if not endpoint.startswith("unix:"):
        return None
    return Path(endpoint[5:].split(":")[0].removeprefix("path=")).with_name("members.secret")
