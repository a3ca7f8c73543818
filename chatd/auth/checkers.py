"""twisted.cred checkers: each turns one kind of credentials into an Identity via the directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.cred.checkers import ICredentialsChecker
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from chatd.kernel.credentials import (
    IAccountCredentials,
    Identity,
    IGuestCredentials,
    ISignupCredentials,
    Signup,
)
from chatd.kernel.errors import GuestsDisabled, NameTaken, RateLimited
from chatd.kernel.interfaces import IMemberDirectory
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.names import ReservedNames, check_user_name
from chatd.kernel.ratelimit import FailureLimiter, WindowCounter
from chatd.kernel.records import Account

NameInUse = Callable[[str], bool]  # whether a guest has the name (or a look-alike) online


@dataclass(frozen=True, slots=True)
class SignupLimits:
    """New accounts per address, and overall, in any ``window`` seconds."""

    clock: IReactorTime
    per_address: int = DEFAULTS["signups-per-address"]
    overall: int = DEFAULTS["signups-total"]
    window: float = 600.0


def _account_identity(account: Account, peer: str, claimant: str = "", holder: str = ""
                      ) -> Identity:
    return Identity(account.name, guest=False, peer=peer, account_id=account.id,
                    claimant=claimant, holder=holder)


@implementer(ICredentialsChecker)
class AccountChecker:
    """A name and its password. With ``signup_on_login()`` (``signup-on-login``, asked at
    each login) a name that is not registered, nor looks like a registered one, is signed up
    with that password by ``signups``, within its limits, as seed 003 did."""

    credentialInterfaces = (IAccountCredentials,)

    def __init__(self, directory: IMemberDirectory,
                 signup_on_login: Callable[[], bool] = lambda: False,
                 signups: SignupChecker | None = None) -> None:
        self._directory = directory
        self._signup_on_login = signup_on_login
        self._signups = signups

    def requestAvatarId(  # type: ignore[override]  # avatar IDs are Identity, see realm
        self, credentials: IAccountCredentials
    ) -> Deferred[Identity]:
        signups = self._signups
        if signups is not None and self._signup_on_login():

            def known(account: Account | None) -> Deferred[Identity]:
                if account is None:
                    return signups.requestAvatarId(
                        Signup(credentials.name, credentials.password, credentials.peer))
                return self._authenticate(credentials)

            return self._directory.lookup(credentials.name).addCallback(known)
        return self._authenticate(credentials)

    def _authenticate(self, credentials: IAccountCredentials) -> Deferred[Identity]:
        return self._directory.authenticate(
            credentials.name, credentials.password, credentials.peer
        ).addCallback(_account_identity, credentials.peer,
                      credentials.claimant, credentials.holder)


@implementer(ICredentialsChecker)
class SignupChecker:
    """Creates the account; refuses a name a guest is using right now."""

    credentialInterfaces = (ISignupCredentials,)

    def __init__(
        self,
        directory: IMemberDirectory,
        name_in_use: NameInUse,
        check_capacity: Callable[[], None],
        limits: SignupLimits,
        exempt: Callable[[str], bool],
        reserved: ReservedNames,
    ) -> None:
        self._directory = directory
        self._name_in_use = name_in_use
        self._check_capacity = check_capacity
        self._exempt = exempt
        self._reserved = reserved
        self._per_address = WindowCounter(limits.clock, limits.per_address, limits.window)
        self._overall = WindowCounter(limits.clock, limits.overall, limits.window)

    def requestAvatarId(  # type: ignore[override]
        self, credentials: ISignupCredentials
    ) -> Deferred[Identity]:
        name = check_user_name(credentials.name)
        self._reserved.check(name)
        self._check_capacity()
        claimant = credentials.claimant
        # The guest signing up its own name is no obstacle (the core checks it holds it).
        if not claimant and self._name_in_use(name):
            raise NameTaken(f"{name}, or a name that looks like it, is in use by a guest right "
                            "now; pick another name")
        peer = credentials.peer
        limited = not self._exempt(peer)
        wait = max(self._overall.wait(""), self._per_address.wait(peer) if limited else 0)
        if wait:
            raise RateLimited(f"too many new accounts lately; try again in {wait:.0f} seconds")

        def created(account: Account) -> Identity:
            # Only accounts actually made count: a refused signup (409, 411, 502) doesn't.
            self._overall.record("")
            if limited:
                self._per_address.record(peer)
            return Identity(account.name, guest=False, peer=peer, account_id=account.id,
                            claimant=claimant)

        return self._directory.signup(name, credentials.password).addCallback(created)


@implementer(ICredentialsChecker)
class GuestChecker:
    """A free nick that no account owns, while guests are allowed.

    Whether a nick is refused as registered tells whether the account exists, so a nick that
    is, or looks like, a registered name counts against ``probes`` per address, as a failed
    login does; over the limit, the answer is 429 without asking the directory. Exempt
    addresses are not counted.

    ``registered``, given where the directory is in this process (the embedded accounts'
    ``registered``; None for the member service), answers at once: the checker then returns
    the Identity itself, which the Portal wraps, rather than a callback on the directory's
    Deferred, one fewer turn of the Deferred loop in every guest's login. ``allowed`` is
    asked at each login, so a reload of ``require-account`` applies to the next one.
    """

    credentialInterfaces = (IGuestCredentials,)

    def __init__(
        self,
        directory: IMemberDirectory,
        name_in_use: NameInUse,
        allowed: Callable[[], bool],
        probes: FailureLimiter,
        exempt: Callable[[str], bool],
        reserved: ReservedNames,
        registered: Callable[[str], Account | None] | None = None,
    ) -> None:
        self._directory = directory
        self._name_in_use = name_in_use
        self._allowed = allowed
        self._probes = probes
        self._exempt = exempt
        self._reserved = reserved
        self._registered = registered

    def requestAvatarId(  # type: ignore[override]
        self, credentials: IGuestCredentials
    ) -> Deferred[Identity] | Identity:
        if not self._allowed():
            raise GuestsDisabled(
                "this server requires an account: /signup NAME PASSWORD or /login NAME PASSWORD"
            )
        name = check_user_name(credentials.name)
        self._reserved.check(name)
        if self._name_in_use(name):
            raise NameTaken(f"{name}, or a name that looks like it, is in use right now; "
                            "pick another name")
        peer = credentials.peer
        limited = not self._exempt(peer)
        wait = self._probes.wait(peer) if limited else 0
        if wait:
            raise RateLimited(
                f"too many tries of registered names; try again in {wait:.0f} seconds"
            )

        def free(account: Account | None) -> Identity:
            if account is not None:
                if limited:
                    self._probes.failed(peer)
                raise NameTaken(
                    f"{name} is, or looks like, the registered name {account.name}; "
                    f"/login {account.name} PASSWORD, or pick another"
                )
            return Identity(name, guest=True, peer=peer)

        if self._registered is not None:
            return free(self._registered(name))
        return self._directory.lookup(name).addCallback(free)
