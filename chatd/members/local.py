"""The member directory itself: accounts in a journal file, checked with argon2id.

``twistd chatd`` uses it in-process by default; ``twistd chatd-members`` serves the very same
object over AMP to remote chat daemons and to ``chatd-admin``. Every answer is a Deferred, as
a remote directory's must be, so callers can't tell the two apart.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from chatd.kernel.credentials import MAX_PASSWORD
from chatd.kernel.errors import (
    AccountLocked,
    BadName,
    BadPassword,
    BadText,
    NameTaken,
    NoSuchUser,
    RateLimited,
    ServerBusy,
    WrongCredentials,
)
from chatd.kernel.interfaces import IMemberDirectory, IPasswordHasher
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.markers import is_marker
from chatd.kernel.names import check_user_name, fold, skeleton
from chatd.kernel.ratelimit import FailureLimiter, LoginThrottle
from chatd.kernel.records import Account
from chatd.kernel.settings import Settings, from_settings
from chatd.kernel.text import for_log
from chatd.storage.keyed import Fields, KeyedFile, fields_problem

log = Logger()

MIN_PASSWORD: int = DEFAULTS["min-password-length"]
DEFAULT_THROTTLE = LoginThrottle()

TOO_LATE = "the member service was too busy to make the account in time; try again soon"


def check_new_password(password: str, minimum: int = MIN_PASSWORD) -> str:
    if not minimum <= len(password) <= MAX_PASSWORD:
        raise BadPassword(
            f"a password has {minimum} to {MAX_PASSWORD} characters; choose another"
        )
    if any(not char.isprintable() for char in password):
        raise BadPassword("a password can't contain control characters")
    return password


def _wrong(_: object = None) -> NoReturn:
    raise WrongCredentials("wrong name or password")


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What an administrator sees of an account (never the hash itself)."""

    name: str
    key: str
    locked: bool
    created: float
    scheme: str
    id: str = ""


def _scheme(hashed: str) -> str:
    """``argon2id m=65536,t=3,p=4``: the algorithm and parameters of a PHC hash string."""
    parts = hashed.split("$")
    return f"{parts[1]} {parts[3]}" if len(parts) > 3 else "unknown"


# Older records may lack the creation time, the locked flag and the id (see legacy_id).
_ACCOUNT_REQUIRED: Fields = {"name": (str,), "hash": (str,)}
_ACCOUNT_OPTIONAL: Fields = {"created": (int, float), "locked": (bool,), "id": (str,),
                              "read": (dict,), "always_on": (bool,)}
# Read markers kept per account (conversation -> marker, chatd.kernel.markers): beyond this
# the stalest goes (a room deleted long ago, a conversation never read again). So few that
# all of them fit in one AMP value (ReadMarkers).
MAX_MARKERS = 400

Ended = Callable[[Account, str], None]


def new_account_id() -> str:
    """A new account's id: random, so no later account can have it."""
    return secrets.token_hex(8)


def legacy_id(key: str, record: dict[str, Any]) -> str:
    """The id of an account stored before accounts had ids: derived from its key and creation
    time, so it is the same at every load (and in chatd-admin) without a write at load; it is
    stored with the account's next change. An account made since has a random id, so a name
    registered again after a deletion never gets the old account's id."""
    seed = f"{key}\0{float(record.get('created', 0))!r}".encode()
    return hashlib.sha256(seed).hexdigest()[:16]


def account_problem(record: dict[str, Any]) -> str | None:
    """What makes a stored account unusable (a missing or mistyped field), or None: such a
    record is a damaged one, refused at load like a bad checksum."""
    problem = fields_problem(record, "account", _ACCOUNT_REQUIRED, _ACCOUNT_OPTIONAL)
    if problem is None and not all(
            isinstance(key, str) and isinstance(marker, str) and is_marker(marker)
            for key, marker in record.get("read", {}).items()):
        return f"the account's read markers are {record['read']!r:.40}"
    return problem


@implementer(IMemberDirectory)
class LocalDirectory:
    def __init__(
        self,
        file: KeyedFile,
        hasher: IPasswordHasher,
        clock: IReactorTime,
        throttle: LoginThrottle = DEFAULT_THROTTLE,
        min_password: int = MIN_PASSWORD,
    ) -> None:
        self._file = file
        # The fewest characters a new password may have (``min-password-length``).
        self.min_password = min_password
        self._hasher = hasher
        self._clock = clock
        self._by_account = FailureLimiter(clock, throttle.account_burst, throttle.account_interval)
        self._by_address = FailureLimiter(clock, throttle.address_burst, throttle.address_interval)
        self.configure(throttle)
        # Names whose signup is hashing; they count as taken.
        self._pending: set[str] = set()
        # skeleton -> account key: a new name may not look like a registered one.
        self._skeletons: dict[str, str] = {}
        # Told of every account deleted or locked (chat daemons end its sessions).
        self._watchers: list[Ended] = []

    def reloaded(self, settings: Settings) -> None:
        """A reload: the failed-login throttle and the shortest password, from ``settings``."""
        self.configure(from_settings(LoginThrottle, settings))
        self.min_password = settings.min_password_length

    def configure(self, throttle: LoginThrottle) -> None:
        """New throttle settings (a reload); what each key has used so far is kept."""
        self._by_account.burst, self._by_account.interval = (
            throttle.account_burst, throttle.account_interval)
        self._by_address.burst, self._by_address.interval = (
            throttle.address_burst, throttle.address_interval)

    def load(self) -> int:
        accounts = self._file.load(account_problem)
        for key, record in accounts.items():
            record.setdefault("id", legacy_id(key, record))
        self._skeletons = {skeleton(record["name"]): key for key, record in accounts.items()}
        return len(accounts)

    def watch(self, ended: Ended) -> None:
        self._watchers.append(ended)

    def _ended(self, key: str, record: dict[str, Any], why: str) -> None:
        account = _account(key, record)
        for ended in self._watchers:
            try:
                ended(account, why)
            except Exception:  # the change is durable: say so, and log what failed after it
                log.failure("ending the sessions of {key} failed", key=key)

    def _record(self, name: str) -> tuple[str, dict[str, Any]]:
        try:
            key = fold(check_user_name(name))
        except BadName:
            key = ""
        record = self._file.live.get(key)
        if record is None:
            raise NoSuchUser(f"there is no account called {name}")
        return key, record

    def _replace(self, key: str, **changes: Any) -> Deferred[None]:
        return self._file.put(key, {**self._file.live[key], **changes})

    # -- what the chat daemon asks -----------------------------------------------------

    def signup(
        self, name: str, password: str, not_after: float | None = None
    ) -> Deferred[Account]:
        """The new account; with ``not_after`` (this clock's seconds), stored only if the
        hash is done by then, as a remote caller reports the signup failed after it."""
        display = check_user_name(name)
        check_new_password(password, self.min_password)
        key = fold(display)
        if key in self._file.live or key in self._pending:
            raise NameTaken(f"the name {display} is registered already; /login or pick another")
        shape = skeleton(display)
        lookalike = self._skeletons.get(shape)
        if lookalike is not None:
            raise NameTaken(
                f"{display} looks too much like a registered name; pick another"
            )
        self._pending.add(key)
        self._skeletons[shape] = key
        created = self._clock.seconds()
        record = {"name": display, "hash": "", "created": created, "locked": False,
                  "id": new_account_id()}

        def store(hashed: str) -> Deferred[None]:
            if not_after is not None and self._clock.seconds() > not_after:
                raise ServerBusy(TOO_LATE)
            return self._file.put(key, {**record, "hash": hashed})

        def release(result: object) -> object:
            self._pending.discard(key)
            if key not in self._file.live:  # the signup failed: the look is free again
                self._skeletons.pop(shape, None)
            return result

        try:
            hashing = self._hasher.hash(password)
        except BaseException:
            release(None)
            raise
        d = hashing.addCallback(store).addBoth(release)
        log.info("account {name} signing up", name=display)
        return d.addCallback(lambda _: _account(key, record))

    def _verify(self, name: str, password: str, peer: str = "") -> Deferred[str]:
        """The account key if the password is right; WrongCredentials otherwise.

        Failures are throttled per account and per address; a throttled attempt is refused
        before any hashing, with the wait in the message.
        """
        try:
            key = fold(check_user_name(name))
        except BadName:
            key = ""
        wait = max(self._by_account.wait(key), self._by_address.wait(peer) if peer else 0)
        if wait:
            raise RateLimited(f"too many failed logins; try again in {wait:.0f} seconds")
        record = self._file.live.get(key)
        password = password[:MAX_PASSWORD + 1]  # bounded hashing (MAX_PASSWORD says why)

        def checked(ok: bool) -> str:
            if not ok:
                self._by_account.failed(key)
                if peer:
                    self._by_address.failed(peer)
                log.info("failed login for {name} from {peer}", name=for_log(name), peer=peer)
                _wrong()
            return key

        if record is None:
            return self._hasher.verify_nobody(password).addCallback(checked)
        return self._hasher.verify(record["hash"], password).addCallback(checked)

    def authenticate(self, name: str, password: str, peer: str = "") -> Deferred[Account]:
        def allowed(key: str) -> Account:
            record = self._file.live[key]
            if record.get("locked"):
                raise AccountLocked(f"the account {record['name']} is locked; ask an operator")
            if self._hasher.needs_rehash(record["hash"]):
                self._rehash(key, password)
            return _account(key, record)

        return self._verify(name, password, peer).addCallback(allowed)

    def _rehash(self, key: str, password: str) -> None:
        """Parameters were raised since this hash was made: rehash while we hold the password.
        The login does not wait for it."""
        d = self._hasher.hash(password).addCallback(lambda hashed: self._replace(key, hash=hashed))
        d.addCallback(lambda _: log.info("rehashed the password of {key}", key=key))
        d.addErrback(lambda f: log.failure("rehash of {key} failed", f, key=key))

    def change_password(self, name: str, old: str, new: str) -> Deferred[None]:
        check_new_password(new, self.min_password)
        return self._verify(name, old).addCallback(
            lambda key: self._hasher.hash(new).addCallback(
                lambda hashed: self._replace(key, hash=hashed)
            )
        )

    def lookup(self, name: str) -> Deferred[Account | None]:
        """The account called ``name`` or one that looks like it (so a guest can't take a
        look-alike of a registered name)."""
        return succeed(self.registered(name))

    def registered(self, name: str) -> Account | None:
        """``lookup``'s answer at once, for a caller in this process (the guest checker)."""
        # Every guest's login asks, and nearly all of them for a free name: no exceptions on
        # the way to that answer.
        live = self._file.live
        try:
            key = fold(check_user_name(name))
        except BadName:
            key = ""
        record = live.get(key)
        if record is None:
            key = self._skeletons.get(skeleton(name), "")
            record = live.get(key)
            if record is None:
                return None
        return _account(key, record)

    # -- read markers: kept in the account's record, so as durable as its password ------

    def _reader(self, key: str, account_id: str) -> dict[str, Any] | None:
        record = self._file.live.get(key)
        return record if record is not None and record["id"] == account_id else None

    def read_markers(self, key: str, account_id: str) -> Deferred[dict[str, str]]:
        """Every read marker of the account (none for an account that is not this one)."""
        record = self._reader(key, account_id)
        return succeed(dict(record.get("read", {})) if record is not None else {})

    def mark_read(self, key: str, account_id: str, conversation: str,
                  marker: str) -> Deferred[str]:
        """Move the account's marker of ``conversation`` to ``marker`` if that is further;
        the marker now kept, once durable. Markers never move back (NoSuchUser: the account
        is gone, or is another one of that name)."""
        if not is_marker(marker):
            raise BadText("a read marker is a message id")
        record = self._reader(key, account_id)
        if record is None:
            raise NoSuchUser("that account is gone")
        read: dict[str, str] = record.get("read", {})
        kept = read.get(conversation)
        if kept is not None and kept >= marker:
            return succeed(kept)
        read = {**read, conversation: marker}
        while len(read) > MAX_MARKERS:
            del read[min(read, key=read.__getitem__)]
        return self._replace(key, read=read).addCallback(lambda _: marker)

    # -- always-on: the account's own choice, kept in its record like the markers --------

    def always_on(self, key: str, account_id: str) -> Deferred[bool | None]:
        """Whether the account keeps its seat forever; None: it never said (the server's
        ``always-on`` decides)."""
        record = self._reader(key, account_id)
        return succeed(None if record is None else record.get("always_on"))

    def set_always_on(self, key: str, account_id: str, on: bool) -> Deferred[None]:
        """Store the account's choice, durably (NoSuchUser: the account is gone)."""
        record = self._reader(key, account_id)
        if record is None:
            raise NoSuchUser("that account is gone")
        if record.get("always_on") is on:
            return succeed(None)
        return self._replace(key, always_on=on)

    # -- what an administrator asks ----------------------------------------------------

    def _info(self, key: str, record: dict[str, Any]) -> AccountInfo:
        return AccountInfo(
            record["name"],
            key,
            bool(record.get("locked")),
            float(record.get("created", 0)),
            _scheme(record["hash"]),
            record["id"],
        )

    def accounts(self) -> list[AccountInfo]:
        return sorted(
            (self._info(k, r) for k, r in self._file.live.items()), key=lambda a: a.key
        )

    def show(self, name: str) -> AccountInfo:
        return self._info(*self._record(name))

    def reset_password(self, name: str, new: str) -> Deferred[None]:
        check_new_password(new, self.min_password)
        key, _ = self._record(name)
        log.info("password of {key} reset by an administrator", key=key)
        return self._hasher.hash(new).addCallback(lambda hashed: self._replace(key, hash=hashed))

    def set_locked(self, name: str, locked: bool) -> Deferred[None]:
        """Lock or unlock; once a lock is durable, the watchers end the account's sessions."""
        key, record = self._record(name)
        log.info("account {key} {what} by an administrator", key=key,
                 what="locked" if locked else "unlocked")
        d = self._replace(key, locked=locked)
        if locked:
            d.addCallback(lambda _: self._ended(key, record, "locked"))
        return d

    def delete(self, name: str) -> Deferred[None]:
        """Delete; once that is durable, the watchers end the account's sessions. Its rooms
        stay, owned by its id, which no account will have again: nobody owns them until an
        operator gives them to an account (chatd-admin give-room)."""
        key, record = self._record(name)
        log.info("account {key} deleted by an administrator", key=key)
        self._skeletons.pop(skeleton(record["name"]), None)
        return self._file.delete(key).addCallback(lambda _: self._ended(key, record, "deleted"))


def _account(key: str, record: dict[str, Any]) -> Account:
    return Account(record["name"], key, record["id"])
