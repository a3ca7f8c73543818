"""The bus of a cluster: events cross nodes through Redis pub/sub, one PUBLISH per event.

Channels (``PREFIX`` then):

* ``presence``: every node listens. Room events other than messages (Joined, Left, topic,
  modes, ...), renames, and the nodes' presence notes (``Router.presence``): every node keeps
  who is in which room, even rooms it has no member in;
* ``room:KEY``: a room's messages (Said, FileShared); a node listens only while the room has
  members connected to it (``interest``);
* ``node:NAME``: events for users with sessions on that node (private messages, invitations,
  ends of sessions); the publisher sends one per node holding the user, usually one.

A message is a compact JSON array (chatd.bus.wire, which makes and reads it): the wire
format's version, the publishing node, then a room key or a user key with the event and
what other nodes need to apply it (``Router.annotate``), or a presence note. What arrives is
checked field by field (chatd.bus.wire) and dropped, counted, if it is not what a node
publishes on that channel: a bad message costs itself, never the next one.

Order: this node delivers its own events when Redis hands them back, not when they are
published, so every node delivers a room's events in the one order Redis put them in. The
cost is a round trip to Redis before a sender sees its own line. Two things keep that safe:
a room's messages wait (``MAX_WAITING`` at most) until this node's SUBSCRIBE to the room is
acknowledged, so its first member's first line comes back; and events published but not yet
back when the link to Redis drops (``in_flight``) are delivered here at once. While Redis is
out of reach (``down``) events are delivered here at once and published nowhere: the node
keeps serving its own members and queues nothing.

Nothing here imports a Redis client: the link hands ``up`` its publish and subscribe calls,
and calls ``received`` with what arrives, so this is tested without Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from zope.interface import implementer

from chatd.bus.wire import Drops, Envelope, Malformed, decode, encode_event, encode_note
from chatd.kernel.events import AwayChanged, Event, FileShared, NickChanged, Said
from chatd.kernel.history import room_conversation
from chatd.kernel.interfaces import IBus, IBusListener

PREFIX = "chatd:"
PRESENCE = PREFIX + "presence"
ROOMS = PREFIX + "room:"
# Room events that go on the room's own channel; the rest go on presence.
TRAFFIC = (Said, FileShared)
# Events about a user that the core hands to each user sharing a room with it: published once,
# on presence (every node applies them), and delivered by each node to its own (``changed``).
SHARED = (NickChanged, AwayChanged)
# Own messages held while a room's subscription is on its way; more are delivered at once.
MAX_WAITING = 1000
# Own events published and not yet back; more are delivered here at once (Redis is slow).
MAX_IN_FLIGHT = 10_000


def room_channel(room_key: str) -> str:
    return f"{ROOMS}{room_key}"


def node_channel(node: str) -> str:
    return f"{PREFIX}node:{node}"


class Router(Protocol):
    """What the bus asks of the cluster that runs it (chatd.cluster.node)."""

    def annotate(self, room_key: str, event: Event) -> dict[str, Any] | None:
        """What other nodes need besides ``event`` to apply it (a room's state)."""

    def nodes_of(self, user_key: str) -> Iterable[str]:
        """The nodes holding sessions of ``user_key`` (this one included)."""

    def local_interest(self, room_key: str) -> bool:
        """Whether the room has members with sessions on this node."""

    def remote_room_event(self, node: str, room_key: str, event: Event,
                          extra: dict[str, Any]) -> bool:
        """Apply another node's room event to this node's state, before delivery; False:
        not to be delivered here (it told of nothing this node did not know)."""

    def changed(self, node: str, event: Event) -> Iterable[str]:
        """Apply a rename or an away status (another node's if ``node`` is not empty); the
        user keys here to tell it to."""

    def presence(self, node: str, note: dict[str, Any]) -> None:
        """Another node's presence note (sessions, hello, ask)."""

    def subscribed(self, room_key: str) -> None:
        """This node now hears the room's messages."""


class Stats:
    """Counters for ``--metrics``."""

    __slots__ = ("lag", "lag_count", "local", "publishes", "receives")

    def __init__(self) -> None:
        self.publishes = 0
        self.receives = 0
        self.local = 0  # events delivered here without Redis (it was out of reach)
        self.lag = 0.0  # seconds from an event's time to its delivery here, summed
        self.lag_count = 0


@implementer(IBus)
class RedisBus:
    def __init__(self, node: str, router: Router, clock: Callable[[], float]) -> None:
        self.node = node
        self.router = router
        self.clock = clock
        self.stats = Stats()
        self.drops = Drops(clock)
        self._listeners: list[IBusListener] = []
        self._publish: Callable[[str, str], object] | None = None
        # A room message's publish: (channel, data, room key); the cluster's adds it to the
        # room's shared history in the same step (chatd.cluster.history).
        self._message: Callable[[str, str, str], object] | None = None
        self._subscribe: Callable[[str], Deferred[Any]] | None = None
        self._unsubscribe: Callable[[str], Deferred[Any]] | None = None
        # Room key -> own messages held until the subscription is acknowledged.
        self._waiting: dict[str, list[tuple[str, str, str, Event]]] = {}
        self._subscribed: set[str] = set()
        # Own events published and not back yet: (channel, the message as published) ->
        # (room or user, key, event).
        self.in_flight: dict[tuple[str, str], tuple[str, str, Event]] = {}
        # The last SHARED event published (the core hands it once per recipient).
        self._shared = ""

    @property
    def up(self) -> bool:
        return self._publish is not None

    def listen(self, listener: IBusListener) -> None:
        self._listeners.append(listener)

    # -- the link ----------------------------------------------------------------------

    def connected(self, publish: Callable[[str, str], object],
                  subscribe: Callable[[str], Deferred[Any]],
                  unsubscribe: Callable[[str], Deferred[Any]],
                  message: Callable[[str, str, str], object] | None = None) -> None:
        """Redis is reachable: publish and subscribe through these from now on (``message``
        for room messages, if given). The caller has subscribed to presence and this node's
        channel; rooms are subscribed by ``interest``."""
        self._publish, self._subscribe, self._unsubscribe = publish, subscribe, unsubscribe
        self._message = message or (lambda channel, data, room_key: publish(channel, data))
        self._subscribed.clear()

    def disconnected(self) -> None:
        """Redis is out of reach: what was published and not back is delivered here now,
        and from now on everything is delivered here at once."""
        self._publish = self._subscribe = self._unsubscribe = self._message = None
        self._subscribed.clear()
        held = [item for waiting in self._waiting.values() for item in waiting]
        self._waiting.clear()
        flying, self.in_flight = self.in_flight, {}
        for kind, key, event in [*flying.values(), *((k, r, e) for k, r, _, e in held)]:
            if type(event) in SHARED:
                for user_key in self.router.changed("", event):
                    self._deliver("user", user_key, event)
            else:
                self._deliver(kind, key, event)

    # -- publishing --------------------------------------------------------------------

    def to_room(self, room_key: str, event: Event) -> None:
        data = encode_event(self.node, "r", room_key, event, self.router.annotate(room_key, event))
        if type(event) in TRAFFIC:
            if room_key not in self._subscribed:
                self.interest(room_key)  # its first member here: subscribe first
            waiting = self._waiting.get(room_key)
            if waiting is not None and len(waiting) < MAX_WAITING:
                waiting.append(("room", room_key, data, event))
                return
            self._send(room_channel(room_key), data, "room", room_key, event)
        else:
            self._send(PRESENCE, data, "room", room_key, event)

    def to_user(self, user_key: str, event: Event) -> None:
        if type(event) in SHARED:
            first = event.id != self._shared
            self._shared = event.id
            if not self.up:
                if first:
                    list(self.router.changed("", event))
                self.stats.local += 1
                self._deliver("user", user_key, event)  # the core tells each recipient
                return
            if not first:
                return
            self._send(PRESENCE, encode_event(self.node, "u", user_key, event), "user",
                       user_key, event)
            return
        data = encode_event(self.node, "u", user_key, event)
        nodes = set(self.router.nodes_of(user_key))
        for node in sorted(nodes - {self.node}):
            if self._publish is not None:
                self._publish(node_channel(node), data)
                self.stats.publishes += 1
        if self.node in nodes:
            self._send(node_channel(self.node), data, "user", user_key, event)

    def note(self, note: dict[str, Any]) -> None:
        """Publish a presence note (nothing while Redis is out of reach)."""
        if self._publish is not None:
            self._publish(PRESENCE, encode_note(self.node, note))
            self.stats.publishes += 1

    def _send(self, channel: str, data: str, kind: str, key: str, event: Event) -> None:
        """Publish an event this node delivers when it comes back (here at once if Redis
        is out of reach or too far behind)."""
        if self._publish is None:
            self.stats.local += 1
            self._deliver(kind, key, event)
            return
        if type(event) is Said and self._message is not None:
            # Kept in the stream of the room it was said in, not of its name.
            self._message(channel, data, room_conversation(key, event.room_id))
        else:
            self._publish(channel, data)
        self.stats.publishes += 1
        if len(self.in_flight) < MAX_IN_FLIGHT:
            self.in_flight[channel, data] = (kind, key, event)
        else:
            self._deliver(kind, key, event)

    # -- subscriptions -----------------------------------------------------------------

    def interest(self, room_key: str) -> None:
        """Subscribe to the room's messages if it has members here, else unsubscribe."""
        if self._subscribe is None or self._unsubscribe is None:
            return
        wanted = self.router.local_interest(room_key)
        if wanted and room_key not in self._subscribed:
            self._subscribed.add(room_key)
            self._waiting[room_key] = []
            self._subscribe(room_channel(room_key)).addCallbacks(
                lambda _: self._acknowledged(room_key), lambda failure: None)
        elif not wanted and room_key in self._subscribed:
            self._subscribed.discard(room_key)
            self._flush(room_key)
            self._unsubscribe(room_channel(room_key)).addErrback(lambda failure: None)

    def _acknowledged(self, room_key: str) -> None:
        self._flush(room_key)
        self.router.subscribed(room_key)

    def _flush(self, room_key: str) -> None:
        for kind, key, data, event in self._waiting.pop(room_key, ()):
            self._send(room_channel(room_key), data, kind, key, event)

    # -- receiving ---------------------------------------------------------------------

    def received(self, channel: str, data: object) -> None:
        """A message Redis delivered on ``channel``: one that is not what a node publishes
        there is dropped and counted (``drops``, chatd.bus.wire).

        One of this node's own, byte for byte what it published on that channel, is known by
        that alone (``in_flight``): the event it holds is delivered, and nothing of what
        came from Redis is read but the match, so there is nothing to check."""
        if type(data) is bytes:
            with suppress(UnicodeDecodeError):  # if it is not UTF-8, decode says so
                data = data.decode("utf-8")
        if type(data) is str:
            flying = self.in_flight.pop((channel, data), None)
            if flying is not None:
                self.stats.receives += 1
                self._own(*flying)
                return
        try:
            envelope = decode(data)
            if not _fits(channel, envelope):
                raise Malformed(f"from {envelope.node}: not what a node publishes there")
        except Malformed as error:
            self.drops.drop(_where(channel), error)
            return
        self.stats.receives += 1
        node, event = envelope.node, envelope.event
        if event is None:
            if node != self.node and envelope.note is not None:
                self.router.presence(node, envelope.note)
            return
        if node == self.node:
            # Not one in flight: delivered here already (Redis was out of reach meanwhile),
            # or not this node's at all.
            return
        self._lag(event)
        if envelope.room:
            room_key = envelope.room
            if not self.router.remote_room_event(node, room_key, event, envelope.extra):
                return
            self._deliver("room", room_key, event)
            if type(event) not in TRAFFIC:
                self.interest(room_key)
        elif type(event) in SHARED:
            for user_key in self.router.changed(node, event):
                self._deliver("user", user_key, event)
        else:
            self._deliver("user", envelope.user, event)

    def _own(self, kind: str, key: str, event: Event) -> None:
        """This node's own event, back from Redis: delivered here now."""
        self._lag(event)
        if kind == "room":
            self._deliver("room", key, event)
            if type(event) not in TRAFFIC:
                self.interest(key)
        elif type(event) in SHARED:
            for user_key in self.router.changed("", event):
                self._deliver("user", user_key, event)
        else:
            self._deliver("user", key, event)

    def _lag(self, event: Event) -> None:
        if event.at:
            self.stats.lag += max(0.0, self.clock() - event.at)
            self.stats.lag_count += 1

    def _deliver(self, kind: str, key: str, event: Event) -> None:
        if kind == "room":
            for listener in self._listeners:
                listener.room_event(key, event)
        else:
            for listener in self._listeners:
                listener.user_event(key, event)


def _where(channel: str) -> str:
    """The kind of channel, for the count of what was dropped."""
    if channel == PRESENCE:
        return "presence"
    return "room" if channel.startswith(ROOMS) else "node"


def _fits(channel: str, envelope: Envelope) -> bool:
    """Whether ``envelope`` is what a node publishes on ``channel``: a room's messages on the
    room's own channel, other room events, renames, away changes and notes on presence, the
    rest of a user's events on its node's channel."""
    kind = type(envelope.event)
    if channel == PRESENCE:
        if envelope.event is None:
            return True
        return kind in SHARED if envelope.user else kind not in TRAFFIC and kind not in SHARED
    if channel.startswith(ROOMS):
        return kind in TRAFFIC and channel == room_channel(envelope.room)
    return envelope.event is not None and bool(envelope.user) and kind not in SHARED
