"""One node of a cluster: presence, heartbeat, the room gate, and what Redis's coming and
going means for the node's members.

``ClusterNode`` keeps the link to Redis (``chatd.cluster.link``) and the node's heartbeat,
runs its ``Presence`` (the RedisBus's ``Router``, without I/O), is a listener on the bus
(keeping this node's places in the rooms' member limits), and is the ``IClusterGate``
the core reserves a place at before a join.

Keys and channels in Redis (``PREFIX`` first):

* ``hb:NODE``: the node's heartbeat, its current token, expiring after ``heartbeat``
  seconds; refreshed every third of that. A node whose key is gone is dead: every other node
  ends its sessions and its members leave their rooms (``connection lost``).
* ``sessions``: a hash of NODE -> its sessions, for ``max-users``: ``RESERVE_SESSION``
  adds one to this node's if the live nodes' sum is below the limit; a logout takes it back;
  a (re)connected node sets its own to what it holds.
* ``guests``: a hash of a guest's key -> ``NODE|TOKEN`` of the node it is on: a login as a
  guest (``RESERVE_SESSION``) is refused the name while a live node holds it with its
  current token; a node gives its guests' names back at logout and renames, and puts them
  back when it (re)connects.
* ``members:ROOM``: a hash of ``NODE|USER`` -> that node's token: the room's members, for
  the member limit. ``RESERVE`` (a Lua script, so atomic) counts the distinct users whose
  node's heartbeat holds the token their field holds, drops the others (a dead node's, or a
  node's from before it lost Redis), and adds the joiner only if the room has space.
* presence notes on the presence channel: ``sess`` (a user's sessions here, now), ``hello``
  (the node's whole state, sent whenever it (re)connects) and ``ask`` (send me yours).

The token changes at every (re)connection, so whatever a node held before it lost Redis
stops counting at once, and its ``hello`` puts back what is true now.
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

import txredisapi
from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from chatd.bus.redis import PREFIX, PRESENCE, node_channel
from chatd.cluster.history import PUBLISH_KEEP, SharedHistory
from chatd.cluster.link import Quiet, RedisLink, command, post
from chatd.cluster.presence import Presence
from chatd.cluster.url import RedisURL
from chatd.core.service import ChatServer
from chatd.kernel.errors import NameTaken, RoomFull, ServerFull
from chatd.kernel.events import Event, Joined, Left
from chatd.kernel.interfaces import IBusListener, IChatMind, IClusterGate, IDelivery
from chatd.kernel.names import fold

log = Logger()

HEARTBEAT = PREFIX + "hb:"
MEMBERS = PREFIX + "members:"
SESSIONS = PREFIX + "sessions"
GUESTS = PREFIX + "guests"

RESERVE_SESSION = """
local fields = redis.call("HGETALL", KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if redis.call("EXISTS", ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call("HDEL", KEYS[1], fields[i])
  end
end
local mine = ARGV[1] .. "|" .. ARGV[6]
if ARGV[5] == "1" then
  local holder = redis.call("HGET", KEYS[2], ARGV[4])
  if holder and holder ~= mine then
    local sep = string.find(holder, "|", 1, true)
    local node = string.sub(holder, 1, sep - 1)
    if redis.call("GET", ARGV[3] .. node) == string.sub(holder, sep + 1) then return 2 end
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
if ARGV[5] == "1" then redis.call("HSET", KEYS[2], ARGV[4], mine) end
return 1
"""

# Give a guest name back, if this node (with this token) holds it.
RELEASE_NAME = """
if redis.call("HGET", KEYS[1], ARGV[1]) == ARGV[2] then redis.call("HDEL", KEYS[1], ARGV[1]) end
"""

RESERVE = """
local mine = ARGV[1] .. "|" .. ARGV[2]
local fields = redis.call("HGETALL", KEYS[1])
local alive, users, count = {}, {}, 0
for i = 1, #fields, 2 do
  local field, token = fields[i], fields[i + 1]
  local sep = string.find(field, "|", 1, true)
  local node, user = string.sub(field, 1, sep - 1), string.sub(field, sep + 1)
  if alive[node] == nil then alive[node] = redis.call("GET", ARGV[5] .. node) or false end
  if alive[node] == token then
    if not users[user] then users[user] = true; count = count + 1 end
  else
    redis.call("HDEL", KEYS[1], field)
  end
end
if not users[ARGV[2]] and count >= tonumber(ARGV[3]) then return 0 end
redis.call("HSET", KEYS[1], mine, ARGV[4])
return 1
"""

OUT_OF_REACH = ("the other chatd nodes are out of reach: you see and reach only this node's "
                "members until they are back")
BACK = "the other chatd nodes are reachable again"


@implementer(IClusterGate, IBusListener)
class ClusterNode(MultiService):
    """Made before the core, which it gives its bus (``bus``) and gate (itself); ``follow``
    then names the core, before the service starts."""

    server: ChatServer

    def __init__(self, reactor: Any, url: RedisURL, name: str, heartbeat: float,
                 delivery: IDelivery, history: SharedHistory | None = None) -> None:
        super().__init__()
        self.reactor = reactor
        self.node_name = name
        self.heartbeat = heartbeat
        self.presence = Presence(name, delivery, reactor.seconds)
        self.bus = self.presence.bus
        self.history = history
        self.presence.on_renamed = self._renamed
        if history is not None:
            history.commands = self._usable
            history.drops = self.bus.drops
            self.presence.on_subscribed = self._backfill
        # This node's sessions as ``sessions`` in Redis last counted them.
        self._counted = 0
        self.ready = False
        self._since = 0.0  # when the node was last in step with the others
        self._lost_once = False
        self.link = RedisLink(reactor, url, max(1.0, heartbeat / 2), self._connected,
                              self._lost, self.bus.received)
        self.link.setServiceParent(self)
        TimerService(heartbeat / 3, self.beat).setServiceParent(self)

    def follow(self, server: ChatServer) -> None:
        """The core built with this node's bus and gate."""
        self.server = server
        self.presence.follow(server)

    # -- the link ----------------------------------------------------------------------

    def _connected(self) -> None:
        subscriber = self.link.subscriber
        token = secrets.token_hex(8)
        answers = [subscriber.subscribe(PRESENCE),
                   subscriber.subscribe(node_channel(self.node_name))]

        def subscribed(results: list[tuple[bool, Any]]) -> None:
            commands = self.link.commands
            if not all(ok for ok, _ in results) or commands is None or self.link.subscriber is None:
                return  # the link went meanwhile; the next connection starts again
            self.presence.token = token
            commands.set(HEARTBEAT + self.node_name, token, pexpire=int(self.heartbeat * 1000))
            if self.history is not None:
                # Before any room message on this connection (Redis runs its commands in
                # order): each is then one EVALSHA, never sent again whole out of its turn.
                commands.execute_command("SCRIPT", "LOAD", PUBLISH_KEEP)
            self.bus.connected(partial(_publish, commands), self.link.subscriber.subscribe,
                               self.link.subscriber.unsubscribe,
                               None if self.history is None else self.history.publish)
            self.ready = True
            self._since = self.reactor.seconds()
            self._counted = self.server.session_count
            commands.hset(SESSIONS, self.node_name, self._counted)
            for user in list(self.server.users.values()):
                if user.guest and user.sessions:
                    commands.hset(GUESTS, user.key, f"{self.node_name}|{token}")
            for room in list(self.server.rooms.values()):
                self.bus.interest(room.key)
                for user in room.members.values():
                    if user.sessions:
                        commands.hset(MEMBERS + room.key, f"{self.node_name}|{user.key}", token)
            self.presence.hello()
            self.bus.note({"k": "ask"})
            if self._lost_once:
                self.presence.notice(BACK)
            log.info("cluster: node {name} in step with the others", name=self.node_name)

        DeferredList(answers, consumeErrors=True).addCallback(subscribed)

    def _lost(self) -> None:
        self.ready = False
        self.bus.disconnected()
        self._lost_once = True
        # Until each is heard again (its hello), /who and WHO mark its users unreachable.
        self.server.unreachable_nodes.update(self.presence.known())
        self.presence.notice(OUT_OF_REACH)

    def _usable(self) -> Any:
        """The command connection while the node is in step, else None."""
        return self.link.commands if self.ready else None

    # -- heartbeat and the others' ----------------------------------------------------

    def beat(self) -> Deferred[None] | None:
        """Refresh this node's heartbeat, and end the nodes whose heartbeat is gone."""
        commands = self.link.commands
        if commands is None or not self.ready or not commands.connected:
            return None
        commands.set(HEARTBEAT + self.node_name, self.presence.token,
                     pexpire=int(self.heartbeat * 1000))
        peers = sorted(self.presence.known())
        if not peers or self.reactor.seconds() - self._since < self.heartbeat:
            # Just (re)connected: the others may be reconnecting too (a restarted Redis
            # lost every heartbeat); give them one timeout to beat again.
            return None
        checked: Deferred[None] = commands.mget([HEARTBEAT + peer for peer in peers]).addCallback(
            self._alive, peers)
        return checked.addErrback(lambda failure: None)

    def _alive(self, tokens: list[str | None], peers: list[str]) -> None:
        for peer, token in zip(peers, tokens, strict=True):
            if token is None:
                log.warn("cluster: node {peer} stopped beating; its members leave", peer=peer)
                self.presence.node_gone(peer)

    def sessions_changed(self, user_key: str) -> None:
        """Delivery attached or detached a session of ``user_key``: a logout gives its
        place in ``max-users`` back, and the others hear of the user's sessions here."""
        server = self.server
        commands = self.link.commands
        if server.session_count < self._counted and commands is not None and self.ready:
            commands.hincrby(SESSIONS, self.node_name, server.session_count - self._counted)
        self._counted = server.session_count
        user = server.users.get(user_key)
        if user is None and self.presence.was_guest(user_key):
            self.release_name(user_key)
        self.presence.sessions_changed(user_key)

    # -- IBusListener: this node's places in the rooms' member limits -----------------

    def room_event(self, room_key: str, event: Event) -> None:
        commands = self.link.commands
        if commands is None or not self.ready:
            return
        kind = type(event)
        if kind is Joined:
            user = self.server.users.get(fold(event.who))  # type: ignore[attr-defined]
            if user is not None and user.sessions:
                commands.hset(MEMBERS + room_key, f"{self.node_name}|{user.key}",
                              self.presence.token)
        elif kind is Left:
            key = fold(event.who)  # type: ignore[attr-defined]
            user = self.server.users.get(key)
            if user is None or user.sessions or room_key not in user.rooms:
                commands.hdel(MEMBERS + room_key, f"{self.node_name}|{key}")

    def user_event(self, user_key: str, event: Event) -> None:
        pass

    # -- IClusterGate ----------------------------------------------------------------------

    def reserve(self, room_key: str, user_key: str, limit: int) -> Deferred[None]:
        commands = self.link.commands
        if commands is None or not self.ready:
            return succeed(None)  # Redis out of reach: this node's count alone decides

        def answered(result: object) -> None:
            if result != 1:
                room = self.server.rooms.get(room_key)
                name = room.name if room is not None else room_key
                raise RoomFull(f"{name} is full (limit {limit}); try later")

        def unreachable(failure: Failure) -> None:
            if failure.check(RoomFull):
                failure.raiseException()
            log.warn("cluster: no answer from Redis for a join ({why}); this node's count "
                     "decides", why=failure.getErrorMessage())

        reserved: Deferred[None] = commands.eval(
            RESERVE, [MEMBERS + room_key],
            [self.node_name, user_key, limit, self.presence.token, HEARTBEAT]).addCallback(answered)
        reserved.addErrback(unreachable)
        if self.history is not None and not self.presence.local_interest(room_key):
            # The room's first member here: its history is read before the join is answered,
            # so that the replay on join is the cluster's.
            reserved.addCallback(lambda _: self._backfill(room_key))
        return reserved

    def _backfill(self, room_key: str) -> Deferred[None]:
        """Read the shared history of the room held here under ``room_key``: the stream of
        that room (its id), never of an earlier room of its name."""
        room = self.server.rooms.get(room_key)
        if self.history is None or room is None:
            return succeed(None)
        return self.history.backfill(room.conversation)

    def release(self, room_key: str, user_key: str) -> None:
        commands = self.link.commands
        if commands is not None and self.ready:
            commands.hdel(MEMBERS + room_key, f"{self.node_name}|{user_key}")

    def reserve_session(self, user_key: str, guest: bool, max_users: int) -> Deferred[None]:
        commands = self.link.commands
        if commands is None or not self.ready:
            return succeed(None)  # Redis out of reach: this node's view alone decides

        def answered(result: object) -> None:
            if result == 2:
                raise NameTaken(f"{user_key} is in use right now; pick another name")
            if result != 1:
                raise ServerFull(f"the server is full ({max_users} logged in); try again later")
            self._counted += 1

        def unreachable(failure: Failure) -> None:
            if failure.check(ServerFull, NameTaken):
                failure.raiseException()
            log.warn("cluster: no answer from Redis for a login ({why}); this node's view "
                     "decides", why=failure.getErrorMessage())

        reserved: Deferred[None] = commands.eval(
            RESERVE_SESSION, [SESSIONS, GUESTS],
            [self.node_name, max_users, HEARTBEAT, user_key, int(guest), self.presence.token]
        ).addCallback(answered)
        return reserved.addErrback(unreachable)

    def release_session(self, user_key: str, guest: bool) -> None:
        commands = self.link.commands
        if commands is None or not self.ready:
            return
        if self._counted > self.server.session_count:
            self._counted -= 1
            commands.hincrby(SESSIONS, self.node_name, -1)
        user = self.server.users.get(user_key)
        if guest and (user is None or not user.sessions):
            self.release_name(user_key)

    def _renamed(self, old: str, new: str) -> None:
        self.release_name(old)
        self.claim_name(new)

    def release_name(self, user_key: str) -> None:
        """This node's guest ``user_key`` is gone or renamed: its name is free."""
        commands = self.link.commands
        if commands is not None and self.ready:
            commands.eval(RELEASE_NAME, [GUESTS],
                          [user_key, f"{self.node_name}|{self.presence.token}"])

    def claim_name(self, user_key: str) -> None:
        """This node holds the guest ``user_key`` (renamed to it, or after reconnecting)."""
        commands = self.link.commands
        if commands is not None and self.ready:
            commands.hset(GUESTS, user_key, f"{self.node_name}|{self.presence.token}")

    def stopService(self) -> Deferred[None]:
        commands = self.link.commands
        if commands is not None and self.ready:
            # Leave at once rather than after the heartbeat: the others end our sessions.
            commands.delete(HEARTBEAT + self.node_name)
        return super().stopService()


def _publish(commands: Any, channel: str, data: str) -> None:
    post(commands, _PUBLISHED, command(b"PUBLISH", channel.encode(), data.encode()))


def _lost_with_link(error: Exception) -> None:
    """A publish that got no answer: the link is going (and says so), or Redis refused it,
    which is logged."""
    if not isinstance(error, txredisapi.ConnectionError):
        log.warn("cluster: Redis refused a publish: {why}", why=str(error))


_PUBLISHED = Quiet(_lost_with_link)


@implementer(IDelivery)
class ClusterDelivery:
    """Delivery as the realm sees it: attaching and detaching sessions also tells the
    cluster (``ClusterNode.sessions_changed``)."""

    def __init__(self, inner: IDelivery, node: ClusterNode) -> None:
        self.inner = inner
        self.node = node

    def attach(self, user_key: str, session_id: str, mind: IChatMind) -> None:
        self.inner.attach(user_key, session_id, mind)
        self.node.sessions_changed(user_key)

    def detach(self, user_key: str, session_id: str) -> None:
        self.inner.detach(user_key, session_id)
        self.node.sessions_changed(user_key)

    def regroup(self, user_key: str) -> None:
        self.inner.regroup(user_key)

    def room_event(self, room_key: str, event: Event) -> None:
        self.inner.room_event(room_key, event)

    def user_event(self, user_key: str, event: Event) -> None:
        self.inner.user_event(user_key, event)
