"""A node's presence in the cluster, without I/O: the ``Router`` its RedisBus asks.

It answers which nodes hold a user and which rooms have members here, applies what other
nodes publish to this node's core (through ``chatd.core.replica``), tells the others of this
node's sessions (``sessions_changed``, a ``sess`` note) and its whole state (``hello``), and
delivers here what this node makes of another node's change or end (``apply``). The Redis
connections, the heartbeat and the gate are ``chatd.cluster.node``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chatd.bus.redis import RedisBus
from chatd.core.replica import Local, Replica, room_state, user_state
from chatd.core.service import ChatServer
from chatd.kernel.events import AwayChanged, Event, Joined, ModeChanged, NickChanged, Notice
from chatd.kernel.interfaces import IDelivery
from chatd.kernel.names import fold


class Presence:
    """Made before the core, whose bus it gives (``bus``); ``follow`` then names the core
    that the other nodes' changes are applied to."""

    server: ChatServer
    replica: Replica

    def __init__(self, name: str, delivery: IDelivery, clock: Callable[[], float]) -> None:
        self.node_name = name
        self.delivery = delivery
        self.bus = RedisBus(name, self, clock)
        # This node's current token (see chatd.cluster.node), sent in its hello.
        self.token = ""
        # Other nodes: name -> the token of their last hello ("" if none heard yet).
        self.peers: dict[str, str] = {}
        # User key -> the sessions here the others were told of, and what they were told
        # the user is (still known once its last session here is gone).
        self._told: dict[str, int] = {}
        self._names: dict[str, dict[str, Any]] = {}
        # Called once this node hears a room's messages (the shared history reads it again),
        # and when a guest of this node took another name (old key, new key).
        self.on_subscribed: Callable[[str], object] = lambda room_key: None
        self.on_renamed: Callable[[str, str], object] = lambda old, new: None

    def follow(self, server: ChatServer) -> None:
        """The core this node runs, built with ``bus``."""
        self.server = server
        self.replica = Replica(server)

    def notice(self, text: str) -> None:
        """Tell every session here, once."""
        server = self.server
        for key in [user.key for user in server.users.values() if user.sessions]:
            self.delivery.user_event(key, Notice(text, id=server.next_id(),
                                                 at=server.clock.seconds()))

    def hello(self) -> None:
        self.bus.note({"k": "hello", "t": self.token,
                       "s": self.replica.local_state(self.node_name)})

    def known(self) -> set[str]:
        """Every other node this one has heard of."""
        known = set(self.peers)
        for user in self.server.users.values():
            known.update(user.remote)
        known.discard(self.node_name)
        return known

    def node_gone(self, node: str) -> None:
        """``node``'s heartbeat expired: its sessions end here."""
        self.peers.pop(node, None)
        self.server.unreachable_nodes.discard(node)
        self.apply(self.replica.node_gone(node))

    def apply(self, made: Local) -> None:
        """Deliver here what this node made of another's change, and follow the rooms."""
        for room_key, event in made:
            self.bus._deliver("room", room_key, event)
        for room_key in {room_key for room_key, _ in made}:
            self.bus.interest(room_key)

    # -- Router (what the bus asks) ----------------------------------------------------

    def annotate(self, room_key: str, event: Event) -> dict[str, Any] | None:
        kind = type(event)
        if kind is Joined:
            room = self.server.rooms.get(room_key)
            user = self.server.users.get(fold(event.who))  # type: ignore[attr-defined]
            if room is None or user is None:
                return None
            return {"room": room_state(room), "user": user_state(user)}
        if kind is ModeChanged and event.mode == "+k":  # type: ignore[attr-defined]
            room = self.server.rooms.get(room_key)
            return {"password_hash": room.password_hash} if room is not None else None
        return None

    def nodes_of(self, user_key: str) -> Iterable[str]:
        user = self.server.users.get(user_key)
        if user is None:
            # Gone from the core, maybe still attached here (SessionEnded follows the quit).
            return (self.node_name,)
        nodes = set(user.remote)
        if user.sessions:
            nodes.add(self.node_name)
        return nodes

    def local_interest(self, room_key: str) -> bool:
        room = self.server.rooms.get(room_key)
        return room is not None and any(user.sessions for user in room.members.values())

    def remote_room_event(self, node: str, room_key: str, event: Event,
                          extra: dict[str, Any]) -> bool:
        return self.replica.room_event(node, room_key, event, extra)

    def changed(self, node: str, event: Event) -> Iterable[str]:
        if type(event) is AwayChanged:
            return self._away(node, event)
        assert isinstance(event, NickChanged)
        old, new = fold(event.old), fold(event.new)
        if node:
            self.replica.renamed(event.old, event.new)
        elif old in self._told:
            self._told[new] = self._told.pop(old)
            self._names[new] = {**self._names.pop(old, {}), "name": event.new}
            self.on_renamed(old, new)
        told = {new}
        told.update(self._sharing(new))
        return sorted(told)

    def _away(self, node: str, event: AwayChanged) -> Iterable[str]:
        who = fold(event.who)
        if node:
            self.replica.away(event.who, event.away)
        return sorted(self._sharing(who) - {who})

    def _sharing(self, user_key: str) -> set[str]:
        """Who has sessions here and shares a room with ``user_key``."""
        user = self.server.users.get(user_key)
        told: set[str] = set()
        if user is not None:
            for room in user.rooms.values():
                told.update(key for key, member in room.members.items() if member.sessions)
        return told

    def subscribed(self, room_key: str) -> None:
        self.on_subscribed(room_key)

    def presence(self, node: str, note: dict[str, Any]) -> None:
        kind = note.get("k")
        if kind == "sess":
            self.peers.setdefault(node, "")
            self.apply(self.replica.sessions(node, note["u"], int(note["c"])))
        elif kind == "hello":
            self.peers[node] = str(note.get("t", ""))
            self.apply(self.replica.load(node, note.get("s") or {}))
            self.server.unreachable_nodes.discard(node)  # in step with it again
        elif kind == "ask":
            self.hello()

    # -- sessions here -------------------------------------------------------------------

    def was_guest(self, user_key: str) -> bool:
        """Whether the others were told of ``user_key`` as a guest of this node."""
        return bool(self._names.get(user_key, {}).get("guest"))

    def sessions_changed(self, user_key: str) -> None:
        """Delivery attached or detached a session of ``user_key``: tell the others how
        many sessions of it this node holds now."""
        server = self.server
        user = server.users.get(user_key)
        # A seat held here (chatd.core.seats) counts as a session: the others keep the user
        # in its rooms until the seat ends, or this node's heartbeat does.
        count = len(user.sessions) + server.seats.of(user_key) if user is not None else 0
        if user is not None:
            # An account already in rooms through another node: this node hears them now
            # (or, its last session here gone, may stop).
            for room_key in list(user.rooms):
                self.bus.interest(room_key)
        if user is not None:
            self._names[user_key] = user_state(user)
        state = self._names.get(user_key)
        if state is None or self._told.get(user_key, 0) == count:
            return
        if count:
            self._told[user_key] = count
        else:
            self._told.pop(user_key, None)
            self._names.pop(user_key, None)
        self.bus.note({"k": "sess", "u": state, "c": count})

