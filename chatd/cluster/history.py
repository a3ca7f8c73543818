"""Room history shared by the nodes of a cluster: a Redis stream per room.

Each room's messages are a stream ``history:ROOM``, written by the node its sender is on in
the same step as the message is published (``PUBLISH_KEEP``, a Lua script: PUBLISH, then
XADD trimmed to about ``history-max-count`` entries, the key expiring after
``history-max-age`` without a message), so the stream's order is the order every node
delivered the messages in, and a message costs one command. A node reads the stream into
memory when it takes a room's first local member (before the join is answered, so the replay
on join has it) and again once subscribed to the room (what was said in between is merged
in, by event id); from then on it keeps the room's messages as they arrive, like
``MemoryHistory``. So every node answers replay, ``/history`` and CHATHISTORY from the same
messages.

Reads stay synchronous and on the reactor thread (``IHistoryStore``): the core never waits
for Redis to read history. Private messages (``history-private``) are kept by the nodes that
deliver them, in memory. The stream is as durable as Redis is: turn on its persistence
(``appendonly yes``) if history must outlive a restart of Redis.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from txredisapi import ConnectionError, ResponseError

from chatd.bus.redis import PREFIX, room_channel
from chatd.bus.wire import Drops, Malformed, decode
from chatd.cluster.link import Quiet, bulk, post
from chatd.history.memory import MemoryHistory, Retention
from chatd.kernel.events import Event, Redacted, Said
from chatd.kernel.history import room_conversation

log = Logger()

STREAM = PREFIX + "history:"

PUBLISH_KEEP = """
redis.call("PUBLISH", KEYS[1], ARGV[1])
redis.call("XADD", KEYS[2], "MAXLEN", "~", ARGV[2], "*", "m", ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call("PEXPIRE", KEYS[2], ARGV[3]) end
"""
PUBLISH_KEEP_SHA = hashlib.sha1(PUBLISH_KEEP.encode()).hexdigest().encode()
# What every room message's EVALSHA (eight arguments) starts with: the command, the script,
# the count of keys.
_HEAD = b"*8\r\n" + bulk(b"EVALSHA", PUBLISH_KEEP_SHA, b"2")

# A redaction: delete the stream entry whose event has the id ARGV[1] (a scan of at most
# history-max-count entries, in Redis, once per redaction); the id is the 7th item of an
# envelope of chatd.bus.wire's version 2.
UNKEEP = """
for _, entry in ipairs(redis.call("XRANGE", KEYS[1], "-", "+")) do
  local ok, envelope = pcall(cjson.decode, entry[2][2])
  if ok and type(envelope) == "table" and envelope[1] == 2 and envelope[7] == ARGV[1] then
    redis.call("XDEL", KEYS[1], entry[1])
  end
end
"""


class SharedHistory(MemoryHistory):
    def __init__(self, clock: IReactorTime, retention: Retention) -> None:
        super().__init__(clock, retention)
        # The usable Redis command connection, or None (chatd.cluster.node sets it).
        self.commands: Callable[[], Any] = lambda: None
        # Room key -> the ids of the messages kept, so a message read twice is kept once.
        self._ids: dict[str, set[str]] = {}
        # Entries of a stream that are not room messages; a node shares its bus's.
        self.drops = Drops(clock.seconds)

    # -- keeping ---------------------------------------------------------------------------

    def room_event(self, room_key: str, event: Event) -> None:
        if type(event) is Said:
            self._keep(room_conversation(room_key, event.room_id), event)
        elif type(event) is Redacted:
            assert isinstance(event, Redacted)
            self.remove(room_conversation(room_key, event.room_id), event.message_id)

    def remove(self, key: str, message_id: str) -> bool:
        """A redacted message leaves this node's memory and, if it was kept here, the room's
        stream (``UNKEEP``), so a node that reads the stream later never has it back. Each
        node holding it does this (the event reaches every one); the later ones delete
        nothing."""
        removed = super().remove(key, message_id)
        ids = self._ids.get(key)
        if ids is not None:
            ids.discard(message_id)
        commands = self.commands()
        if removed and commands is not None and not key.startswith("~"):
            commands.eval(UNKEEP, [STREAM + key], [message_id]).addErrback(self._failed, key)
        return removed

    def publish(self, channel: str, data: str, room_key: str) -> bool:
        """Publish a room message (the bus's envelope ``data``) and add it to the stream of
        the room it was said in (``room_key`` is its ``room_conversation``: a later room of
        the same name has another stream), in one step; False while Redis is out of reach.
        Nothing waits for the reply (``link.post``): only an error is looked at."""
        commands = self.commands()
        if commands is None:
            return False
        retention = self.retention
        stream = (STREAM + room_key).encode()
        target, body = channel.encode(), data.encode()
        post(commands, _Published(self, commands, channel, room_key, data),
             b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n%s" % (
                 _HEAD, len(target), target, len(stream), stream, len(body), body,
                 bulk(str(retention.count).encode(), str(int(retention.age * 1000)).encode())))
        return True

    def _keep(self, key: str, event: Event) -> None:
        ids = self._ids.setdefault(key, set())
        if event.id in ids:
            return
        events = self.kept.get(key)
        if events is not None and len(events) == events.maxlen:
            ids.discard(events[0].id)
        ids.add(event.id)
        super()._keep(key, event)

    def expire(self, key: str) -> int:
        dropped = super().expire(key)
        if key not in self.kept:
            self._ids.pop(key, None)
        elif dropped:
            self._ids[key] = {event.id for event in self.kept[key]}
        return dropped

    def forget(self, key: str) -> None:
        """The room is gone on every node (its last member anywhere left, or it was
        deleted): each node that held it deletes its stream, which is idempotent."""
        self._drop(key)
        commands = self.commands()
        if commands is not None:
            commands.delete(STREAM + key).addErrback(self._failed, key)

    def retain_rooms(self, keys: set[str]) -> None:
        # Only what this node keeps: a room with no members here may live on other nodes.
        for key in [key for key in self.kept if not key.startswith("~") and key not in keys]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        """Forget the room here, in memory."""
        MemoryHistory.forget(self, key)
        self._ids.pop(key, None)

    def _failed(self, failure: Any, room_key: str) -> None:
        if failure.check(ConnectionError):
            return  # the link is going, and says so once
        log.warn("cluster: the shared history of {room}: {why}", room=room_key,
                 why=failure.getErrorMessage())

    # -- reading the stream ----------------------------------------------------------------

    def backfill(self, room_key: str) -> Deferred[None]:
        """Merge the room's stream into what this node keeps; fires when done (at once, and
        with nothing merged, while Redis is out of reach or fails)."""
        commands = self.commands()
        if commands is None or not self.retention.count:
            return succeed(None)
        read: Deferred[None] = commands.execute_command(
            "XREVRANGE", STREAM + room_key, "+", "-", "COUNT", self.retention.count
        ).addCallback(self._merge, room_key)
        return read.addErrback(self._failed, room_key)

    def _merge(self, entries: list[Any], room_key: str) -> None:
        read: list[Event] = []
        for entry in reversed(entries if isinstance(entries, list) else []):
            try:
                event = _entry(entry, room_key)
            except Malformed as error:
                self.drops.drop("history", f"{room_channel(room_key)}: {error}")
                continue
            read.append(event)
        if not read:
            return
        kept = self.kept.get(room_key, deque())
        seen = {event.id for event in read}
        merged = read + [event for event in kept if event.id not in seen]
        merged.sort(key=lambda event: event.at)
        self.kept[room_key] = deque(merged[-self.retention.count:], maxlen=self.retention.count)
        self._ids[room_key] = {event.id for event in self.kept[room_key]}


class _Published(Quiet):
    """The reply to one room message's EVALSHA: if Redis lost its scripts while connected
    (SCRIPT FLUSH; a restart reconnects, and the node loads it first), the message is sent
    again whole, and may then come after the ones sent meanwhile; another error is logged."""

    __slots__ = ("channel", "commands", "data", "history", "room_key")

    def __init__(self, history: SharedHistory, commands: Any, channel: str, room_key: str,
                 data: str) -> None:
        super().__init__(self._refused)
        self.history, self.commands = history, commands
        self.channel, self.room_key, self.data = channel, room_key, data

    def _refused(self, error: Exception) -> None:
        if isinstance(error, ResponseError) and "NOSCRIPT" in str(error):
            retention = self.history.retention
            self.commands.eval(PUBLISH_KEEP, [self.channel, STREAM + self.room_key], [
                self.data, retention.count, int(retention.age * 1000)]).addErrback(
                self.history._failed, self.room_key)
            return
        self.history._failed(Failure(error), self.room_key)


def _entry(entry: object, conversation: str) -> Said:
    """The room message a stream entry (``[ID, ["m", ENVELOPE]]``) holds; Malformed if it
    holds anything else, as from pub/sub, or a message of another room (``conversation`` is
    the stream's room: its key and id)."""
    if not (isinstance(entry, list | tuple) and len(entry) == 2
            and isinstance(entry[1], list | tuple) and len(entry[1]) == 2
            and entry[1][0] == "m"):
        raise Malformed("not a stream entry of chatd's")
    envelope = decode(entry[1][1])
    said = envelope.event
    if type(said) is not Said or room_conversation(envelope.room, said.room_id) != conversation:
        raise Malformed(f"from {envelope.node}: not a message of this room")
    return said
