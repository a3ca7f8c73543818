"""The member service's room definitions: the one durable copy every chat daemon shares.

Chat daemons started with ``--members`` keep no room file of their own: they load the
definitions from here at start and send every creation, change and deletion here. Each one is
made durable (the journal's fsync) before it is acknowledged, and then the watchers (the AMP
server, which tells every other chat daemon) hear of it, in the order the writes were made, so
every daemon that applies them in the order it hears them ends with the same definitions.

A definition is checked at each boundary it crosses (``check_definition``): the service refuses
one that chat could not have made, and a chat daemon drops one it is sent, so that neither a
client of the service nor a bad store puts control characters on line clients' screens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.python.failure import Failure

from chatd.kernel.errors import BadName, BadText
from chatd.kernel.names import check_room_name, check_user_name, fold
from chatd.kernel.records import NO_OWNER, RoomRecord
from chatd.kernel.text import MAX_TOPIC_LENGTH, clean_text, for_log
from chatd.storage.rooms import FileRoomStore

log = Logger()

# A room's key, its new definition (None: deleted), and who asked (told by another route).
Changed = Callable[[str, RoomRecord | None, object], None]


def check_definition(record: RoomRecord) -> None:
    """Raise BadName or BadText if ``record`` is not one chat could have made: its name and
    its owner's by the rules of chatd.kernel.names (the name in its display form, the key
    its folded form), its topic and ban masks by those of chatd.kernel.text."""
    shown = for_log(record.name)
    if check_room_name(record.name) != record.name or fold(record.name) != record.key:
        raise BadName(f"room {shown}: the name must be in its display form (no #, NFKC) "
                      "and the key its folded form")
    check_user_name(record.owner)
    texts = [("topic", record.topic)] if record.topic else []
    texts += [("ban mask", mask) for mask in record.bans]
    for what, text in texts:
        try:
            if clean_text(text) != text or text.strip() != text:
                raise BadText(f"leading or trailing blanks, or a tab, in {for_log(text)!r}")
        except BadText as error:
            raise BadText(f"room {shown}: its {what} is refused: {error}") from None
    if len(record.topic) > MAX_TOPIC_LENGTH:
        raise BadText(f"room {shown}: a topic has at most {MAX_TOPIC_LENGTH} characters")
    if any(" " in mask for mask in record.bans):
        raise BadText(f"room {shown}: a ban mask is one word")
    if record.modes and not (record.modes.isascii() and record.modes.isalpha()):
        raise BadText(f"room {shown}: its modes are letters")


class RoomBook:
    def __init__(self, store: FileRoomStore) -> None:
        self._store = store
        self._watchers: list[Changed] = []

    def load(self) -> int:
        """Read the room file (at start, before serving)."""
        return len(self._store.load())

    def records(self) -> list[RoomRecord]:
        return self._store.records()

    def watch(self, changed: Changed) -> None:
        self._watchers.append(changed)

    def _tell(self, key: str, record: RoomRecord | None, origin: object) -> None:
        for changed in self._watchers:
            try:
                changed(key, record, origin)
            except Exception:  # the change is durable: say so, and log what failed after it
                log.failure("telling of the change to room {key} failed", key=key)

    def create(self, record: RoomRecord, origin: object = None) -> Deferred[None]:
        """Store a new room (NameTaken if there is one), then tell the watchers."""
        def made(_: object) -> None:
            log.info("room {name} created, owned by {owner}", name=record.name,
                     owner=record.owner)
            self._tell(record.key, record, origin)

        return self._store.create(record).addCallback(made)

    def save(self, record: RoomRecord, origin: object = None) -> Deferred[None]:
        """Store a room's new definition (NoSuchRoom if it is gone), then tell the watchers."""
        return self._store.save(record).addCallback(
            lambda _: self._tell(record.key, record, origin))

    def delete(self, key: str, origin: object = None) -> Deferred[None]:
        """Forget a room (NoSuchRoom if it is gone), then tell the watchers."""
        def gone(_: object) -> None:
            log.info("room {key} deleted", key=key)
            self._tell(key, None, origin)

        return self._store.delete(key).addCallback(gone)

    def disown(self, account_id: str) -> Deferred[list[tuple[bool, Any]]]:
        """A deleted account's rooms keep their settings and have no owner (NO_OWNER), so
        nobody is shown as their owner, least of all whoever registers the name next; each
        change is told like any other."""
        owned = [record for record in self.records()
                 if account_id and record.owner_id == account_id]
        if owned:
            log.info("the deleted account {id} owned {rooms}: they have no owner now",
                     id=account_id, rooms=", ".join(record.name for record in owned))
        def failed(failure: Failure, room: str) -> None:
            log.failure("giving up the ownership of room {room} failed", failure, room=room)

        return DeferredList([self.save(replace(record, owner_id=NO_OWNER)).addErrback(
            failed, record.name) for record in owned])
