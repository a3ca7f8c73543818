"""twisted.cred checkers: each turns one kind of credentials into an Identity via the directory."""

from __future__ import annotations

from collections.abc import Callable

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred
from zope.interface import implementer

from chatd.auth.credentials import (
    IAccountCredentials,
    Identity,
    IGuestCredentials,
    ISignupCredentials,
)
from chatd.core.names import check_user_name
from chatd.core.records import Account
from chatd.errors import GuestsDisabled, NameTaken
from chatd.interfaces import IMemberDirectory

NameInUse = Callable[[str], bool]


def _account_identity(account: Account) -> Identity:
    return Identity(account.name, guest=False)


@implementer(ICredentialsChecker)
class AccountChecker:
    credentialInterfaces = (IAccountCredentials,)

    def __init__(self, directory: IMemberDirectory) -> None:
        self._directory = directory

    def requestAvatarId(  # type: ignore[override]  # avatar IDs are Identity, see realm
        self, credentials: IAccountCredentials
    ) -> Deferred[Identity]:
        return self._directory.authenticate(
            credentials.name, credentials.password, credentials.peer
        ).addCallback(_account_identity)


@implementer(ICredentialsChecker)
class SignupChecker:
    """Creates the account; refuses a name a guest is using right now."""

    credentialInterfaces = (ISignupCredentials,)

    def __init__(
        self,
        directory: IMemberDirectory,
        name_in_use: NameInUse,
        check_capacity: Callable[[], None],
    ) -> None:
        self._directory = directory
        self._name_in_use = name_in_use
        self._check_capacity = check_capacity

    def requestAvatarId(  # type: ignore[override]
        self, credentials: ISignupCredentials
    ) -> Deferred[Identity]:
        name = check_user_name(credentials.name)
        self._check_capacity()
        if self._name_in_use(name):
            raise NameTaken(f"{name} is in use by a guest right now; pick another name")
        return self._directory.signup(name, credentials.password).addCallback(
            _account_identity
        )


@implementer(ICredentialsChecker)
class GuestChecker:
    """A free nick that no account owns, while guests are allowed."""

    credentialInterfaces = (IGuestCredentials,)

    def __init__(
        self, directory: IMemberDirectory, name_in_use: NameInUse, allowed: bool
    ) -> None:
        self._directory = directory
        self._name_in_use = name_in_use
        self._allowed = allowed

    def requestAvatarId(  # type: ignore[override]
        self, credentials: IGuestCredentials
    ) -> Deferred[Identity]:
        if not self._allowed:
            raise GuestsDisabled(
                "this server requires an account: /signup NAME PASSWORD or /login NAME PASSWORD"
            )
        name = check_user_name(credentials.name)
        if self._name_in_use(name):
            raise NameTaken(f"{name} is in use right now; pick another name")

        def free(account: Account | None) -> Identity:
            if account is not None:
                raise NameTaken(
                    f"{name} is a registered name; /login {name} PASSWORD, or pick another"
                )
            return Identity(name, guest=True)

        return self._directory.lookup(name).addCallback(free)
