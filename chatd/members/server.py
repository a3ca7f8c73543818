"""The member service's AMP server: the directory, behind a shared secret.

Until a connection has proved it knows the secret (``Challenge``, then ``Prove``: see
chatd.members.secret), every command is refused; a wrong proof is logged with the peer's
address and the connection closed, and so is the old ``Hello`` that sent the secret itself
(its client is told to upgrade). Chat daemons that asked to ``watch`` in their Challenge are
sent ``AccountEnded`` for each account deleted or locked,
once that is durable, so they end its sessions. Those that also asked for ``rooms`` are sent
``RoomDefined`` and ``RoomDeleted`` for each room definition another client created, changed or
deleted, once that is durable, in the order of the writes. A signup that
arrives after its ``not_after`` is refused unhashed; the directory checks it again right
before storing (see chatd.members.client for why); so is a room change.
"""

from __future__ import annotations

import hmac
from dataclasses import asdict
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from chatd.kernel.errors import ServerBusy
from chatd.kernel.records import Account, RoomRecord
from chatd.members import commands
from chatd.members.local import TOO_LATE, LocalDirectory
from chatd.members.rooms import RoomBook, check_definition
from chatd.members.secret import CLIENT, NONCE_BYTES, SERVER, new_nonce, proof_of

log = Logger()


def _account(account: Account | None) -> dict[str, Any]:
    if account is None:
        return {}
    return {"name": account.name, "key": account.key, "id": account.id}


class MemberServerProtocol(amp.AMP):
    transport: Any  # a connected stream transport

    def __init__(
        self,
        directory: LocalDirectory,
        secret: str,
        clock: IReactorTime,
        watchers: set[MemberServerProtocol] | None = None,
        rooms: RoomBook | None = None,
        room_watchers: set[MemberServerProtocol] | None = None,
    ) -> None:
        super().__init__()
        self._directory = directory
        self._rooms = rooms
        # The connections told of changed room definitions (the factory's set), once they ask.
        self._room_watchers = set() if room_watchers is None else room_watchers
        # The connections told of ended accounts (the factory's set), once they ask.
        self._watchers = set() if watchers is None else watchers
        self._secret = secret
        self._clock = clock
        # Both nonces once the client sent its Challenge, and what it asked for in it.
        self._nonces: tuple[bytes, bytes] | None = None
        self._wants = (False, False)
        self._trusted = False

    def _peer(self) -> str:
        return str(self.transport.getPeer()) if self.transport else "?"

    def _check(self) -> None:
        if not self._trusted:
            raise self._refuse(
                commands.NotAuthenticated("prove you know the shared secret first"),
                "a member command before the client proved it knows the secret")

    def _refuse(self, error: Exception, why: str) -> Exception:
        """Log ``why`` in one line; close once the error reply has been written."""
        log.warn("{why} from {peer}; closing", why=why, peer=self._peer())
        self._clock.callLater(0, self.transport.loseConnection)
        return error

    @commands.Challenge.responder
    def challenge(self, nonce: bytes, watch: bool | None = None,
                  rooms: bool | None = None) -> dict[str, Any]:
        if self._nonces is not None:
            raise self._refuse(commands.NotAuthenticated("one Challenge per connection"),
                               "a second member-service Challenge")
        if len(nonce) != NONCE_BYTES:
            raise self._refuse(commands.BadSecret(f"a nonce has {NONCE_BYTES} bytes"),
                               "a member-service Challenge with a malformed nonce")
        mine = new_nonce()
        self._nonces = (nonce, mine)
        self._wants = (bool(watch), bool(rooms))
        return {"nonce": mine, "proof": proof_of(self._secret, SERVER, nonce, mine)}

    @commands.Prove.responder
    def prove(self, proof: bytes) -> dict[str, Any]:
        if self._nonces is None or self._trusted:
            raise self._refuse(commands.NotAuthenticated("send Challenge first, then Prove"),
                               "a member-service Prove out of turn")
        expected = proof_of(self._secret, CLIENT, *self._nonces)
        if not hmac.compare_digest(proof, expected):
            raise self._refuse(commands.BadSecret("wrong secret"),
                               "wrong member-service secret (the client's proof shows "
                               "another secret file)")
        self._trusted = True
        watch, rooms = self._wants
        if watch:
            self._watchers.add(self)
        if rooms:
            self._room_watchers.add(self)
        log.info("member client connected from {peer}", peer=self._peer())
        return {}

    @commands.Hello.responder
    def hello(self) -> dict[str, Any]:
        raise self._refuse(
            commands.OldHello("this member service proves the secret without sending it, "
                              "which this client predates: upgrade it"),
            "a member client of an older version (it sent the secret itself)")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._watchers.discard(self)
        self._room_watchers.discard(self)
        super().connectionLost(reason)

    @commands.Ping.responder
    def ping(self) -> dict[str, Any]:
        self._check()
        return {}

    @commands.Signup.responder
    def signup(
        self, name: str, password: str, not_after: float | None = None
    ) -> Deferred[dict[str, Any]]:
        self._check()
        if not_after is not None and self._clock.seconds() > not_after:
            # It waited here (the service was stopped, or busy) past the moment its caller
            # reports it not made: no hash for a signup nobody waits for.
            raise ServerBusy(TOO_LATE)
        return self._directory.signup(name, password, not_after).addCallback(_account)

    @commands.Authenticate.responder
    def authenticate(self, name: str, password: str, peer: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.authenticate(name, password, peer).addCallback(_account)

    @commands.ChangePassword.responder
    def change_password(self, name: str, old: str, new: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.change_password(name, old, new).addCallback(lambda _: {})

    @commands.Lookup.responder
    def lookup(self, name: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.lookup(name).addCallback(_account)

    @commands.ListAccounts.responder
    def list_accounts(self, after: str) -> dict[str, Any]:
        self._check()
        page = [a for a in self._directory.accounts() if a.key > after][: commands.PAGE]
        return {"accounts": [asdict(info) for info in page]}

    @commands.ShowAccount.responder
    def show_account(self, name: str) -> dict[str, Any]:
        self._check()
        return asdict(self._directory.show(name))

    @commands.ResetPassword.responder
    def reset_password(self, name: str, password: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.reset_password(name, password).addCallback(lambda _: {})

    @commands.SetLocked.responder
    def set_locked(self, name: str, locked: bool) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.set_locked(name, locked).addCallback(lambda _: {})

    @commands.DeleteAccount.responder
    def delete_account(self, name: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.delete(name).addCallback(lambda _: {})

    @commands.ReadMarkers.responder
    def read_markers(self, key: str, id: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.read_markers(key, id).addCallback(
            lambda markers: {"markers": [{"conversation": conversation, "marker": marker}
                                         for conversation, marker in markers.items()]})

    @commands.MarkRead.responder
    def mark_read(self, key: str, id: str, conversation: str,
                  marker: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.mark_read(key, id, conversation, marker).addCallback(
            lambda kept: {"marker": kept})

    @commands.AlwaysOn.responder
    def always_on(self, key: str, id: str) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.always_on(key, id).addCallback(
            lambda on: {"on": "" if on is None else "on" if on else "off"})

    @commands.SetAlwaysOn.responder
    def set_always_on(self, key: str, id: str, on: bool) -> Deferred[dict[str, Any]]:
        self._check()
        return self._directory.set_always_on(key, id, on).addCallback(lambda _: {})

    # -- room definitions --------------------------------------------------------------

    def _book(self, not_after: float | None = None) -> RoomBook:
        self._check()
        if self._rooms is None:
            raise ServerBusy("this member service keeps no room definitions")
        if not_after is not None and self._clock.seconds() > not_after:
            # Its caller reports it not made from then on: don't make it.
            raise ServerBusy("the member service was too busy to change the room in time; "
                             "nothing changed; try again soon")
        return self._rooms

    @commands.LoadRooms.responder
    def load_rooms(self, after: str) -> dict[str, Any]:
        page: list[dict[str, Any]] = []
        size = 0
        for record in self._book().records():
            if record.key <= after:
                continue
            size += _size(record)
            if page and size > commands.ROOM_PAGE_BYTES:
                return {"rooms": page, "more": True}
            page.append(commands.room_arguments(record))
        return {"rooms": page, "more": False}

    @commands.CreateRoom.responder
    def create_room(self, not_after: float | None = None,
                    **room: Any) -> Deferred[dict[str, Any]]:
        book = self._book(not_after)
        return book.create(_checked(room), self).addCallback(lambda _: {})

    @commands.SaveRoom.responder
    def save_room(self, not_after: float | None = None,
                  **room: Any) -> Deferred[dict[str, Any]]:
        book = self._book(not_after)
        return book.save(_checked(room), self).addCallback(lambda _: {})

    @commands.DeleteRoom.responder
    def delete_room(self, key: str, not_after: float | None = None) -> Deferred[dict[str, Any]]:
        return self._book(not_after).delete(key, self).addCallback(lambda _: {})


def _checked(room: dict[str, Any]) -> RoomRecord:
    """A definition sent to be stored, refused (BadName, BadText) unless chat could have made
    it: a client of the service can't put control characters in front of line clients."""
    record = commands.room_record(room)
    check_definition(record)
    return record


def _size(record: RoomRecord) -> int:
    """A generous estimate of a room's bytes in a LoadRooms answer (UTF-8 of every field,
    and AMP's length prefixes)."""
    texts = [record.key, record.name, record.owner, record.password_hash or "", record.topic,
             record.owner_id, record.modes, *record.bans]
    return sum(len(text.encode()) + 4 for text in texts) + 200


class MemberServerFactory(ServerFactory):
    def __init__(self, directory: LocalDirectory, secret: str, clock: IReactorTime,
                 rooms: RoomBook | None = None) -> None:
        self.directory = directory
        self.secret = secret
        self.clock = clock
        self.rooms = rooms
        self.watchers: set[MemberServerProtocol] = set()
        self.room_watchers: set[MemberServerProtocol] = set()
        directory.watch(self._ended)
        if rooms is not None:
            rooms.watch(self._room_changed)

    def _ended(self, account: Account, why: str) -> None:
        """Tell every watching chat daemon (no answer is asked: one that is gone is gone); a
        deleted account's rooms then have no owner."""
        log.info("telling {count} chat daemons that {key} was {why}",
                 count=len(self.watchers), key=account.key, why=why)
        for protocol in list(self.watchers):
            protocol.callRemote(commands.AccountEnded, name=account.name, key=account.key,
                                id=account.id, why=why)
        if why == "deleted" and self.rooms is not None:
            self.rooms.disown(account.id)

    def _room_changed(self, key: str, record: RoomRecord | None, origin: object) -> None:
        """Tell every chat daemon that asked, but the one that made the change (it applies
        the change itself, once acknowledged)."""
        told = [protocol for protocol in list(self.room_watchers) if protocol is not origin]
        log.info("telling {count} chat daemons that room {key} was {what}", count=len(told),
                 key=key, what="deleted" if record is None else "defined")
        for protocol in told:
            if record is None:
                protocol.callRemote(commands.RoomDeleted, key=key)
            else:
                protocol.callRemote(commands.RoomDefined, **commands.room_arguments(record))

    def buildProtocol(self, addr: Any) -> MemberServerProtocol:
        protocol = MemberServerProtocol(self.directory, self.secret, self.clock, self.watchers,
                                        self.rooms, self.room_watchers)
        protocol.factory = self
        return protocol
