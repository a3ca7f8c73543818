"""What the other nodes of a cluster hold, applied to this node's core.

The core stays synchronous and protocol-free: it never calls Redis. Instead, the cluster
(``chatd.cluster``) hands this module what other nodes published, in the order Redis
delivered it, and this module changes the core's registry to match, without publishing
anything (the event is already on its way to every node):

* a node's sessions of a user (``sessions``): the user is online here as a ``User`` with no
  local sessions and ``remote[node]`` set, so ``/msg``, WHOIS, guest-name uniqueness,
  ``max-sessions-per-account`` and ``max-users`` see it;
* a room event from another node (``room_event``): Joined/Left change the room's members,
  TopicSet the topic, ModeChanged the modes, and a room this node did not know is made from
  the state the Joined carried (``room_state``);
* a rename (``renamed``) and an away status (``away``);
* a node's whole state (``load``), when it says hello after (re)connecting, and its end
  (``node_gone``) when its heartbeat expired.

A user whose last session anywhere went leaves its rooms here with a Left that this module
makes (not published: every node makes its own for its own members), so a dead node leaves
no ghost members.
"""

from __future__ import annotations

from typing import Any

from chatd.core.rooms import FLAGS, Room, User
from chatd.core.service import ChatServer
from chatd.kernel.events import (
    Event,
    Joined,
    LeaveReason,
    Left,
    ModeChanged,
    TopicSet,
)
from chatd.kernel.names import fold

# A change this node makes itself: (room key, event) to deliver to its own members.
Local = list[tuple[str, Event]]


def room_state(room: Room) -> dict[str, Any]:
    """What another node needs to hold ``room``: its settings and its members' standing."""
    return {
        "name": room.name, "limit": room.limit, "owner": room.owner,
        "owner_id": room.owner_id, "password_hash": room.password_hash, "topic": room.topic,
        "bans": list(room.bans), "flags": room.modes, "operators": sorted(room.operators),
        "voiced": sorted(room.voiced), "id": room.id,
    }


def user_state(user: User) -> dict[str, Any]:
    return {"name": user.name, "guest": user.guest, "account_id": user.account_id,
            "away": user.away}


class Replica:
    """Applies other nodes' state to one ChatServer."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server

    # -- users -------------------------------------------------------------------------

    def _user(self, node: str, state: dict[str, Any], count: int = 1) -> User:
        """The user ``state`` names, made online (as another node's) if it was not."""
        server = self.server
        key = fold(state["name"])
        user = server.users.get(key)
        if user is None:
            user = User(state["name"], key, bool(state.get("guest")),
                        str(state.get("account_id", "")), server.clock.seconds())
            user.away = str(state.get("away", ""))
            server.track(user)
        if node not in user.remote and count:
            self._count(user, node, count)
        return user

    def _count(self, user: User, node: str, count: int) -> None:
        old = user.remote.get(node, 0)
        user.count_remote(node, count)
        self.server.remote_sessions += count - old

    def sessions(self, node: str, state: dict[str, Any], count: int) -> Local:
        """``node`` now has ``count`` sessions of the user ``state`` names."""
        user = self.server.users.get(fold(state["name"]))
        if user is None:
            if not count:
                return []
            user = self._user(node, state, count)
        self._count(user, node, count)
        return self._gone(user, LeaveReason.QUIT)

    def _gone(self, user: User, reason: LeaveReason) -> Local:
        """If ``user`` has no session anywhere now, it leaves its rooms and goes offline."""
        if user.sessions or user.remote or self.server.users.get(user.key) is not user:
            return []
        made = [(room.key, self._leave(user, room, reason)) for room in list(user.rooms.values())]
        self.server.untrack(user)
        return made

    def node_gone(self, node: str) -> Local:
        """``node`` is dead (its heartbeat expired): its sessions end, its users who have
        none elsewhere leave their rooms (``connection lost``)."""
        made: Local = []
        for user in list(self.server.users.values()):
            if node in user.remote:
                self._count(user, node, 0)
                made += self._gone(user, LeaveReason.LOST)
        return made

    def renamed(self, old: str, new: str) -> bool:
        """Another node's guest ``old`` is called ``new``; False if it is unknown here."""
        user = self.server.users.get(fold(old))
        if user is None or user.name == new:
            return False
        self.server.renamed(user, new)
        return True

    def away(self, name: str, away: str) -> None:
        """Another node's user ``name`` is away with ``away`` (or back, empty)."""
        user = self.server.users.get(fold(name))
        if user is not None:
            user.away = away

    # -- rooms -------------------------------------------------------------------------

    def _room(self, room_key: str, state: dict[str, Any] | None) -> Room | None:
        server = self.server
        room = server.rooms.get(room_key)
        if room is None and state is not None:
            room = Room(state["name"], room_key, int(state["limit"]), state.get("owner"),
                        state.get("password_hash"), state.get("topic", ""),
                        state.get("owner_id", ""), tuple(state.get("bans", ())),
                        state.get("flags", ""), str(state.get("id", "")))
            server.rooms[room_key] = room
        elif room is not None and state is not None and not room.persistent:
            # One temporary room opened on two nodes at once: both take the earlier id, so
            # its history is one conversation (what was said under the later id in that
            # moment is dropped, not left where no room reaches it).
            theirs = str(state.get("id", ""))
            if theirs and theirs < room.id:
                if server.history is not None:
                    server.history.forget(room.conversation)
                room.identify(theirs)
        if room is not None and state is not None:
            room.operators.update(state.get("operators", ()))
            room.voiced.update(state.get("voiced", ()))
        return room

    def _join(self, user: User, room: Room) -> None:
        room.members[user.key] = user
        user.enter(room)
        for seat in user.sessions:
            if seat.current_room is None:
                seat.current_room = room

    def _leave(self, user: User, room: Room, reason: LeaveReason) -> Event:
        """Take ``user`` out of ``room`` here; the Left this node tells its members."""
        self._remove(user, room, reason)
        server = self.server
        return Left(room.name, user.name, reason, id=server.next_id(), at=server.clock.seconds())

    def _remove(self, user: User, room: Room, reason: LeaveReason) -> None:
        server = self.server
        if user.sessions:
            server.tokens.end_member([session.id for session in user.sessions], room.key,
                                     f"you are no longer in {room.name} ({reason.value})")
        room.members.pop(user.key, None)
        user.exit(room.key)
        room.forget(user.key)
        for seat in user.sessions:
            if seat.current_room is room:
                seat.current_room = next(iter(user.rooms.values()), None)
        if not room.members and (not room.persistent or reason is LeaveReason.DELETED):
            server.end_room(room)

    def room_event(self, node: str, room_key: str, event: Event,
                   extra: dict[str, Any]) -> bool:
        """Apply a room event ``node`` published (before it is delivered here); False if it
        is not to be delivered: a Left of someone not in the room here (a deleted persistent
        room's members are taken out by the node that deleted it and, hearing of it from the
        member service, by each node, so its members are told once)."""
        server = self.server
        kind = type(event)
        if kind is Joined:
            room = self._room(room_key, extra.get("room"))
            if room is not None:
                self._join(self._user(node, extra.get("user") or {"name": event.who}), room)  # type: ignore[attr-defined]
            return True
        room = server.rooms.get(room_key)
        if kind is Left:
            user = server.users.get(fold(event.who))  # type: ignore[attr-defined]
            if user is None or room_key not in user.rooms:
                return False
            if room is None:
                user.exit(room_key)
                return False
            self._remove(user, room, event.reason)  # type: ignore[attr-defined]
        elif room is None:
            return True
        elif kind is TopicSet:
            room.topic = event.topic  # type: ignore[attr-defined]
            room.topic_by, room.topic_at = event.who, event.at  # type: ignore[attr-defined]
        elif kind is ModeChanged:
            _mode(room, event.mode, event.arg, extra,  # type: ignore[attr-defined]
                  self.server.limits.default_room_limit)
        return True

    # -- a node's whole state ----------------------------------------------------------

    def local_state(self, node: str) -> dict[str, Any]:
        """This node's users (those with sessions here) and their rooms, for ``load``
        on the others."""
        users = []
        rooms: dict[str, dict[str, Any]] = {}
        seats = self.server.seats
        for user in self.server.users.values():
            # A seat held here is a session for the others (chatd.core.seats).
            count = len(user.sessions) + seats.of(user.key)
            if not count:
                continue
            users.append({**user_state(user), "count": count,
                          "rooms": sorted(user.rooms)})
            for room in user.rooms.values():
                if room.key not in rooms:
                    rooms[room.key] = room_state(room)
        return {"users": users, "rooms": rooms}

    def load(self, node: str, state: dict[str, Any]) -> Local:
        """``node``'s whole state (``local_state`` there): what this node knew of it is
        made to match, and its own members told who came and who went meanwhile."""
        server = self.server
        made: Local = []
        listed = {fold(entry["name"]): entry for entry in state.get("users", ())}
        for user in list(server.users.values()):
            if node in user.remote and user.key not in listed:
                self._count(user, node, 0)
                made += self._gone(user, LeaveReason.LOST)
        rooms = state.get("rooms", {})
        for entry in listed.values():
            user = self._user(node, entry, int(entry.get("count", 1)))
            self._count(user, node, int(entry.get("count", 1)))
            wanted = set(entry.get("rooms", ()))
            sole = not user.sessions and set(user.remote) == {node}
            if sole:
                for gone in [room for room in user.rooms.values() if room.key not in wanted]:
                    made.append((gone.key, self._leave(user, gone, LeaveReason.LOST)))
            for room_key in sorted(wanted - set(user.rooms)):
                found = self._room(room_key, rooms.get(room_key))
                if found is not None:
                    self._join(user, found)
                    made.append((room_key, Joined(found.name, user.name, id=server.next_id(),
                                                  at=server.clock.seconds())))
        return made


def _mode(room: Room, mode: str, arg: str, extra: dict[str, Any], default_limit: int) -> None:
    """Apply one ModeChanged (see chatd.core.moderation._settings) to ``room``; ``-l`` puts
    back ``default_limit``."""
    on, letter = mode[0] == "+", mode[1:]
    if len(letter) > 1 and all(flag in FLAGS for flag in letter):  # several flags at once
        (room.flags.update if on else room.flags.difference_update)(letter)
        return
    if len(mode) != 2:
        return
    if letter in ("o", "v"):
        keys = room.operators if letter == "o" else room.voiced
        (keys.add if on else keys.discard)(fold(arg))
    elif letter == "b":
        if on and arg not in room.bans:
            room.bans.append(arg)
        elif not on and arg in room.bans:
            room.bans.remove(arg)
    elif letter in FLAGS:
        (room.flags.add if on else room.flags.discard)(letter)
    elif letter == "l" and on and arg.isdigit():
        room.limit = int(arg)
    elif letter == "l" and not on:
        room.limit = default_limit
    elif letter == "k":
        room.password_hash = extra.get("password_hash") if on else None
