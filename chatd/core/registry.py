"""The registry as the operations see it: what a session's operations and the room
definitions may use of ``ChatServer`` (which satisfies this Protocol), declared in one
place so that no module reaches into the server's private state, and the modules that
``ChatServer`` imports need not import it back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from chatd.core.changes import RoomChanges
    from chatd.core.declarations import Operators
    from chatd.core.departures import Departures
    from chatd.core.ids import Ids
    from chatd.core.presence import Presence
    from chatd.core.rooms import Room, Seat, User
    from chatd.core.seats import Seats
    from chatd.core.service import Limits
    from chatd.core.stats import Stats
    from chatd.core.tokens import Tokens
    from chatd.kernel.events import LeaveReason
    from chatd.kernel.interfaces import (
        IBus,
        IClusterGate,
        IFileStore,
        IHistoryStore,
        IMemberDirectory,
        IPasswordHasher,
        IRoomStore,
    )
    from chatd.kernel.names import ReservedNames
    from chatd.kernel.ratelimit import FailureLimiter, TokenBucket


class Registry(Protocol):
    """What of ``ChatServer`` the operations use."""

    store: IRoomStore
    hasher: IPasswordHasher
    directory: IMemberDirectory
    limits: Limits
    clock: IReactorTime
    bus: IBus
    history: IHistoryStore | None
    files: IFileStore | None
    reserved: ReservedNames
    links: Callable[[str], tuple[str, int]] | None
    gate: IClusterGate | None
    wrong_room_passwords: FailureLimiter
    stats: Stats
    users: dict[str, User]
    rooms: dict[str, Room]
    tokens: Tokens
    session_count: int
    remote_sessions: int
    peak: int
    local_peak: int
    departures: Departures
    next_id: Ids
    changes: RoomChanges
    operators: Operators
    seats: Seats
    presence: Presence

    def find_room(self, name: str) -> Room: ...

    def unreachable(self, user: User) -> bool: ...

    def find_user(self, name: str) -> User: ...

    def is_online(self, name: str) -> bool: ...

    def admit(self, user: User, room: Room) -> None: ...

    def remove(self, user: User, room: Room, reason: LeaveReason, message: str = "",
               by: str = "") -> None: ...

    def end_room(self, room: Room) -> None: ...

    def prune_history(self) -> None: ...

    def end_user(self, user: User, reason: str, leave: LeaveReason = ...,
                 message: str | None = None) -> None: ...

    def rename(self, user: User, new: str) -> None: ...

    def disconnect(self, session: Seat, reason: LeaveReason, message: str) -> None: ...

    def depart(self, user: User, reason: LeaveReason, message: str) -> None: ...

    def seat_ended(self, user_key: str) -> None: ...


class SessionState(Protocol):
    """What the operations use of a session (``chatd.core.session.Session`` keeps it): they
    are bound to it as its methods, and take it by this name so that no operation module
    imports the session module that imports them."""

    id: str
    server: Registry
    user: User
    current_room: Room | None
    closed: bool
    bucket: TokenBucket | None
    strikes: int

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> str: ...

    def quit(self, reason: LeaveReason = ..., message: str = "") -> None: ...
