"""The member service's AMP commands, shared by the server, the remote directory and
chatd-admin, so both ends always agree on names, arguments and errors.

A connection must send ``Hello`` with the shared secret before anything else; a chat daemon
says ``watch`` in it, and the service then sends it ``AccountEnded`` whenever an account is
deleted or locked, so the daemon ends that account's sessions. Domain errors
cross the wire as declared AMP errors, so the chat daemon re-raises the very exception
class (with its message) that the directory raised, and maps it to its own reply codes.
"""

from __future__ import annotations

from twisted.protocols import amp

from chatd.kernel.errors import (
    AccountLocked,
    BadName,
    BadPassword,
    NameTaken,
    NoSuchUser,
    RateLimited,
    ServerBusy,
    StorageFailed,
    WrongCredentials,
)


class BadSecret(Exception):
    """The client presented the wrong shared secret; the connection will be closed."""


class NotAuthenticated(Exception):
    """A command came before a successful Hello."""


_ERRORS: dict[type[Exception], bytes] = {
    NotAuthenticated: b"NOT_AUTHENTICATED",
    NameTaken: b"NAME_TAKEN",
    BadName: b"BAD_NAME",
    BadPassword: b"BAD_PASSWORD",
    WrongCredentials: b"WRONG_CREDENTIALS",
    AccountLocked: b"ACCOUNT_LOCKED",
    RateLimited: b"RATE_LIMITED",
    ServerBusy: b"BUSY",
    StorageFailed: b"STORAGE_FAILED",
    NoSuchUser: b"NO_SUCH_ACCOUNT",
}

Arguments = list[tuple[bytes, amp.Argument]]
_NOTHING: Arguments = []
_HELLO_ERRORS: dict[type[Exception], bytes] = {BadSecret: b"BAD_SECRET"}
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


class Hello(amp.Command):
    """``watch``: send me AccountEnded (a chat daemon; chatd-admin and older daemons don't)."""

    arguments = [(b"secret", amp.Unicode()), (b"watch", amp.Boolean(optional=True))]
    response = _NOTHING
    errors = _HELLO_ERRORS


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
