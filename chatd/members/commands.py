"""The member service's AMP commands, shared by the server, the remote directory and
chatd-admin, so both ends always agree on names, arguments and errors.

A connection begins with a challenge-response in which each end proves it knows the shared
secret without sending it (chatd.members.secret): ``Challenge`` carries the client's nonce and
is answered with the service's nonce and proof; only once that proof checks out does the client
send ``Prove``, and only once the service accepted that does either end send or believe
anything else. A chat daemon says ``watch`` in its Challenge, and the service then sends it
``AccountEnded`` whenever an account is deleted or locked, so the daemon ends that account's
sessions; one that also says ``rooms`` is sent ``RoomDefined`` and ``RoomDeleted`` for each
persistent room another client created, changed or deleted, once that is durable. The
service is the one authority for room definitions (``LoadRooms``, ``CreateRoom``,
``SaveRoom``, ``DeleteRoom``). Domain errors cross the wire as declared AMP errors, so the
chat daemon re-raises the very exception class (with its message) that the directory raised,
and maps it to its own reply codes.
"""

from __future__ import annotations

from typing import Any

from twisted.protocols import amp

from chatd.kernel.errors import (
    AccountLocked,
    BadName,
    BadPassword,
    BadText,
    NameTaken,
    NoSuchRoom,
    NoSuchUser,
    RateLimited,
    ServerBusy,
    StorageFailed,
    WrongCredentials,
)
from chatd.kernel.records import RoomRecord


class BadSecret(Exception):
    """The client's proof shows another secret; the connection will be closed."""


class NotAuthenticated(Exception):
    """A command came before the client proved it knows the secret."""


class OldHello(Exception):
    """A client of an older version sent the secret itself (``Hello``): refused, so that it
    is upgraded before it sends the secret to whatever holds the service's address."""


_ERRORS: dict[type[Exception], bytes] = {
    NotAuthenticated: b"NOT_AUTHENTICATED",
    NameTaken: b"NAME_TAKEN",
    BadName: b"BAD_NAME",
    BadText: b"BAD_TEXT",
    BadPassword: b"BAD_PASSWORD",
    WrongCredentials: b"WRONG_CREDENTIALS",
    AccountLocked: b"ACCOUNT_LOCKED",
    RateLimited: b"RATE_LIMITED",
    ServerBusy: b"BUSY",
    StorageFailed: b"STORAGE_FAILED",
    NoSuchUser: b"NO_SUCH_ACCOUNT",
    NoSuchRoom: b"NO_SUCH_ROOM",
}

Arguments = list[tuple[bytes, amp.Argument]]
_NOTHING: Arguments = []
_HELLO_ERRORS: dict[type[Exception], bytes] = {
    BadSecret: b"BAD_SECRET", NotAuthenticated: b"NOT_AUTHENTICATED",
}
# ``id`` is optional so that a chat daemon can talk to a member service that predates
# account ids (its accounts then own no rooms; upgrade the member service first).
_ACCOUNT: Arguments = [
    (b"name", amp.Unicode()),
    (b"key", amp.Unicode()),
    (b"id", amp.Unicode(optional=True)),
]
_INFO: Arguments = [
    (b"name", amp.Unicode()),
    (b"key", amp.Unicode()),
    (b"locked", amp.Boolean()),
    (b"created", amp.Float()),
    (b"scheme", amp.Unicode()),
    (b"id", amp.Unicode(optional=True)),
]

_MAYBE_ACCOUNT: Arguments = [
    (b"name", amp.Unicode(optional=True)),
    (b"key", amp.Unicode(optional=True)),
    (b"id", amp.Unicode(optional=True)),
]
_PAGE: Arguments = [(b"accounts", amp.AmpList(_INFO))]

# Accounts per ListAccounts page: well under AMP's 64 KiB limit per value.
PAGE = 200


class Challenge(amp.Command):
    """The client's nonce; the answer is the service's nonce and its proof over both
    (chatd.members.secret.proof_of). ``watch``: once proved, send me AccountEnded (a chat
    daemon; chatd-admin doesn't). ``rooms``: send me RoomDefined and RoomDeleted too (a chat
    daemon whose room definitions are in the service)."""

    arguments = [(b"nonce", amp.String()), (b"watch", amp.Boolean(optional=True)),
                 (b"rooms", amp.Boolean(optional=True))]
    response = [(b"nonce", amp.String()), (b"proof", amp.String())]
    errors = _HELLO_ERRORS


class Prove(amp.Command):
    """The client's proof over both nonces, sent only once the service's checked out."""

    arguments = [(b"proof", amp.String())]
    response = _NOTHING
    errors = _HELLO_ERRORS


class Hello(amp.Command):
    """What versions before the challenge-response sent first, with the secret in it: the
    service answers OldHello (whatever came with it is not read), which such a client logs."""

    arguments = _NOTHING
    response = _NOTHING
    errors = {OldHello: b"OLD_HELLO"}


class Ping(amp.Command):
    """Answered at once, with no hashing or storage: proof the service is not stalled while
    a login waits its turn for a hash."""

    arguments = _NOTHING
    response = _NOTHING
    errors = _ERRORS


class Signup(amp.Command):
    """Make an account. ``not_after`` (wall-clock seconds since the epoch) is the last moment
    the service may store it: the caller reports the signup as not made only once that has
    passed, so the service refuses it after then instead. Absent (chatd-admin, older
    clients): no deadline."""

    arguments = [
        (b"name", amp.Unicode()),
        (b"password", amp.Unicode()),
        (b"not_after", amp.Float(optional=True)),
    ]
    response = _ACCOUNT
    errors = _ERRORS


class Authenticate(amp.Command):
    arguments = [(b"name", amp.Unicode()), (b"password", amp.Unicode()), (b"peer", amp.Unicode())]
    response = _ACCOUNT
    errors = _ERRORS


class ChangePassword(amp.Command):
    arguments = [(b"name", amp.Unicode()), (b"old", amp.Unicode()), (b"new", amp.Unicode())]
    response = _NOTHING
    errors = _ERRORS


class Lookup(amp.Command):
    arguments = [(b"name", amp.Unicode())]
    response = _MAYBE_ACCOUNT
    errors = _ERRORS


class ListAccounts(amp.Command):
    """One page of accounts, in key order, after ``after`` (empty: from the start)."""

    arguments = [(b"after", amp.Unicode())]
    response = _PAGE
    errors = _ERRORS


class ShowAccount(amp.Command):
    arguments = [(b"name", amp.Unicode())]
    response = _INFO
    errors = _ERRORS


class ResetPassword(amp.Command):
    arguments = [(b"name", amp.Unicode()), (b"password", amp.Unicode())]
    response = _NOTHING
    errors = _ERRORS


class SetLocked(amp.Command):
    arguments = [(b"name", amp.Unicode()), (b"locked", amp.Boolean())]
    response = _NOTHING
    errors = _ERRORS


class DeleteAccount(amp.Command):
    arguments = [(b"name", amp.Unicode())]
    response = _NOTHING
    errors = _ERRORS


class ReadMarkers(amp.Command):
    """Every read marker of the account ``key`` whose id is ``id`` (chatd.kernel.markers);
    at most chatd.members.local.MAX_MARKERS, so one AMP value holds them."""

    arguments = [(b"key", amp.Unicode()), (b"id", amp.Unicode())]
    response = [(b"markers", amp.AmpList([(b"conversation", amp.Unicode()),
                                          (b"marker", amp.Unicode())]))]
    errors = _ERRORS


class MarkRead(amp.Command):
    """Move the account's marker of ``conversation`` forward to ``marker`` (never back);
    the answer is the marker kept, once durable."""

    arguments = [(b"key", amp.Unicode()), (b"id", amp.Unicode()),
                 (b"conversation", amp.Unicode()), (b"marker", amp.Unicode())]
    response = [(b"marker", amp.Unicode())]
    errors = _ERRORS


class AlwaysOn(amp.Command):
    """The always-on choice of the account ``key`` whose id is ``id``: "on", "off", or ""
    (never set: the chat daemon's ``always-on`` decides)."""

    arguments = [(b"key", amp.Unicode()), (b"id", amp.Unicode())]
    response = [(b"on", amp.Unicode())]
    errors = _ERRORS


class SetAlwaysOn(amp.Command):
    """Store the account's always-on choice, durably."""

    arguments = [(b"key", amp.Unicode()), (b"id", amp.Unicode()), (b"on", amp.Boolean())]
    response = _NOTHING
    errors = _ERRORS


class AccountEnded(amp.Command):
    """From the service to each watching chat daemon: this account was deleted or locked
    (``why``: "deleted" or "locked"), so end its sessions. ``id`` says which account, should
    the name have been registered again since."""

    arguments = [
        (b"name", amp.Unicode()),
        (b"key", amp.Unicode()),
        (b"id", amp.Unicode()),
        (b"why", amp.Unicode()),
    ]
    response = _NOTHING
    requiresAnswer = False


# A persistent room's definition (chatd.kernel.records.RoomRecord), field for field.
ROOM: Arguments = [
    (b"key", amp.Unicode()),
    (b"name", amp.Unicode()),
    (b"owner", amp.Unicode()),
    (b"limit", amp.Integer()),
    (b"password_hash", amp.Unicode(optional=True)),
    (b"topic", amp.Unicode()),
    (b"owner_id", amp.Unicode()),
    (b"bans", amp.ListOf(amp.Unicode())),
    (b"modes", amp.Unicode()),
    # Absent from an older chat daemon or member service: a room stored before room ids.
    (b"id", amp.Unicode(optional=True)),
]
# The last moment (the service's wall clock) the change may be stored: see Signup. Absent
# (chatd-admin): no deadline.
_NOT_AFTER: Arguments = [(b"not_after", amp.Float(optional=True))]

# Bytes of room definitions per LoadRooms page, as estimated by the server: well under AMP's
# 64 KiB per value, though one room with 100 long bans and a long topic is some 30 KiB.
ROOM_PAGE_BYTES = 32_000


class LoadRooms(amp.Command):
    """One page of room definitions, in key order, after ``after`` (empty: from the start);
    ``more`` says whether another page follows."""

    arguments = [(b"after", amp.Unicode())]
    response = [(b"rooms", amp.AmpList(ROOM)), (b"more", amp.Boolean())]
    errors = _ERRORS


class CreateRoom(amp.Command):
    """Store a new room; NameTaken if one has its key (made on another chat daemon)."""

    arguments = ROOM + _NOT_AFTER
    response = _NOTHING
    errors = _ERRORS


class SaveRoom(amp.Command):
    """Store a room's changed definition; NoSuchRoom if it was deleted meanwhile."""

    arguments = ROOM + _NOT_AFTER
    response = _NOTHING
    errors = _ERRORS


class DeleteRoom(amp.Command):
    arguments = [(b"key", amp.Unicode()), *_NOT_AFTER]
    response = _NOTHING
    errors = _ERRORS


class RoomDefined(amp.Command):
    """From the service to each chat daemon that asked for ``rooms`` but the one that made
    the change: this room was created or changed (durably); take its definition."""

    arguments = ROOM
    response = _NOTHING
    requiresAnswer = False


class RoomDeleted(amp.Command):
    """From the service to each such chat daemon: this room was deleted (durably)."""

    arguments = [(b"key", amp.Unicode())]
    response = _NOTHING
    requiresAnswer = False


def room_arguments(record: RoomRecord) -> dict[str, Any]:
    """A room definition as ROOM's arguments."""
    return {"key": record.key, "name": record.name, "owner": record.owner,
            "limit": record.limit, "password_hash": record.password_hash,
            "topic": record.topic, "owner_id": record.owner_id, "bans": list(record.bans),
            "modes": record.modes, "id": record.id}


def room_record(box: dict[str, Any]) -> RoomRecord:
    """ROOM's arguments (extra ones ignored) as a room definition."""
    return RoomRecord(box["key"], box["name"], box["owner"], box["limit"],
                      box.get("password_hash"), box["topic"], box["owner_id"],
                      tuple(box["bans"]), box["modes"], box.get("id") or "")
