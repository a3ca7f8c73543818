"""The checkers of tokens: a valid room token for the room named with it logs in as that
session's seat in the room (``ITokenSeat``), which the realm hands out; a guest's resume
token logs in as the guest whose held seat it names (``chatd.core.seats``)."""

from __future__ import annotations

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.core.seats import Seats
from chatd.core.tokens import Grant, Tokens
from chatd.kernel.credentials import Identity, IResumeCredentials, ITokenCredentials
from chatd.kernel.errors import WrongCredentials
from chatd.kernel.names import fold


@implementer(ICredentialsChecker)
class TokenChecker:
    """A live token, presented with its own room's name. Cheap on purpose (a dictionary
    look-up): it answers every datagram from an address not yet validated."""

    credentialInterfaces = (ITokenCredentials,)

    def __init__(self, tokens: Tokens) -> None:
        self._tokens = tokens
        # One refusal for every bad token: a flood of them costs no traceback each.
        self._refusal = Failure(WrongCredentials("unknown, ended or expired token, or not "
                                                 "this room's"))

    def requestAvatarId(  # type: ignore[override]
        self, credentials: ITokenCredentials
    ) -> Deferred[Grant]:
        grant = self._tokens.find(credentials.token)
        if grant is None or grant.room_key != fold(credentials.room):
            return fail(self._refusal)
        return succeed(grant)


@implementer(ICredentialsChecker)
class ResumeChecker:
    """A guest's resume token whose seat is still held: the login is that guest's, and the
    realm's ``connect`` takes the seat (the token is used up there)."""

    credentialInterfaces = (IResumeCredentials,)

    def __init__(self, seats: Seats) -> None:
        self._seats = seats

    def requestAvatarId(  # type: ignore[override]
        self, credentials: IResumeCredentials
    ) -> Deferred[Identity]:
        name = self._seats.token_user(credentials.token)
        if name is None:
            return fail(WrongCredentials("unknown or used resume token, or its seat has "
                                         "ended; /nick NAME to start again"))
        return succeed(Identity(name, True, credentials.peer, resume=credentials.token))
