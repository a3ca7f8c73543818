"""Talking: room and private messages, the session's message rate, and reading back what
was said (history).

``say`` is the hot path of the whole daemon (one call per room message, before the bus):
it stays one function with its checks inline, bound straight onto ``Session``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from chatd.core.access import check_open, member_room
from chatd.core.listing import user_view
from chatd.core.rooms import Room
from chatd.kernel.errors import Banned, Flooding, NotAllowed, NotInRoom, RateLimited
from chatd.kernel.events import Event, Private, Said, Tagged
from chatd.kernel.history import HistoryQuery, millis, private_key
from chatd.kernel.names import check_user_name, fold
from chatd.kernel.text import clean_text
from chatd.kernel.views import UserView

if TYPE_CHECKING:
    from chatd.core.registry import SessionState


def spend(session: SessionState) -> None:
    """One message's worth of the session's rate; RateLimited, then Flooding."""
    check_open(session)
    bucket = session.bucket
    if bucket is None:
        return
    limits = session.server.limits
    if bucket.take(limits.messages_burst, limits.messages_per_second,
                   session.server.clock.seconds()):
        session.strikes = 0
        return
    session.strikes += 1
    if session.strikes >= limits.flood_strikes:
        raise Flooding(f"disconnected for flooding ({session.strikes} messages too fast)")
    raise RateLimited(
        f"slow down: at most {limits.messages_per_second:g} messages a second "
        f"(bursts of {limits.messages_burst}); that one was not sent"
    )


def send_delay(session: SessionState) -> float:
    """Seconds until a message would be within the rate; 0 if now. Spends nothing."""
    if session.bucket is None:
        return 0.0
    limits = session.server.limits
    return session.bucket.wait(
        limits.messages_burst, limits.messages_per_second, session.server.clock.seconds())


def _talked_to(session: SessionState, name: str | None) -> Room:
    """The room a message goes to: one the user is in, or one that takes messages from
    outside (``takes_from``); a secret one it is not in is as if it were not there."""
    if name is None:
        return member_room(session, name)
    room = session.server.find_room(name)
    if room.key in session.user.rooms:
        return room
    if room.hides_from(session.user) or not room.takes_from(session.user):
        raise NotInRoom(f"you are not in {room.name}; /join it to talk there")
    return room


def say(session: SessionState, text: str, room_name: str | None = None, action: bool = False,
        notice: bool = False, tags: Mapping[str, str] | None = None) -> None:
    """Say ``text`` in a room this user is in (the current one by default), or in a named
    room without +n (no external messages) from outside it."""
    user = session.user
    room = _talked_to(session, room_name)
    if not room.may_speak(user):
        raise NotAllowed(f"{room.name} is moderated; only operators and voiced members talk")
    text = clean_text(text)
    spend(session)
    server = session.server
    now = user.active = server.clock.seconds()
    stats = server.stats
    stats.messages_in += 1
    stats.deliveries += len(room.members)
    server.bus.to_room(room.key, Said(room.name, user.name, text, action, session.id, notice,
                                      account=not user.guest, room_id=room.id, tags=tags,
                                      bot=user.bot, id=server.next_id(), at=now))


def message(session: SessionState, name: str, text: str, notice: bool = False,
            tags: Mapping[str, str] | None = None) -> UserView:
    """Send a private message to every session of an online user."""
    server = session.server
    user = server.find_user(name)
    text = clean_text(text)
    spend(session)
    me = session.user
    me.active = server.clock.seconds()
    server.stats.messages_in += 1
    server.stats.deliveries += 1
    sent = Private(me.name, user.name, text, me.account_id, user.account_id, notice, tags,
                   me.bot, id=server.next_id(), at=server.clock.seconds())
    server.bus.to_user(user.key, sent)
    return replace(user_view(session, user), sent_id=sent.id, sent_at=sent.at)


def tag_room(session: SessionState, tags: Mapping[str, str], room_name: str) -> None:
    """Send client-only tags with no text to a room this user is in (a typing notification,
    a reaction): a message's rules (moderation, the rate), none of its text."""
    room = member_room(session, room_name)
    user = session.user
    if not room.may_speak(user):
        raise NotAllowed(f"{room.name} is moderated; only operators and voiced members talk")
    spend(session)
    server = session.server
    server.bus.to_room(room.key, Tagged(user.name, dict(tags), room=room.name,
                                        origin=session.id, account=not user.guest, bot=user.bot,
                                        id=server.next_id(), at=server.clock.seconds()))


def tag_user(session: SessionState, tags: Mapping[str, str], name: str) -> UserView:
    """Send client-only tags with no text to every session of an online user."""
    server = session.server
    user = server.find_user(name)
    spend(session)
    me = session.user
    sent = Tagged(me.name, dict(tags), recipient=user.name, origin=session.id,
                  account=not me.guest, bot=me.bot, id=server.next_id(),
                  at=server.clock.seconds())
    server.bus.to_user(user.key, sent)
    return replace(user_view(session, user), sent_id=sent.id, sent_at=sent.at)


# -- history ---------------------------------------------------------------------------

def _readable_room(session: SessionState, name: str | None) -> Room:
    """The history access rule, in one place: only a room's members read its history, and
    not one banned since it joined (Banned). A member of a locked room gave its password
    to join, so its history is never read by someone who could not join."""
    room = member_room(session, name)
    if room.banned(session.user) is not None:
        raise Banned(f"you are banned from {room.name}")
    return room


def history(session: SessionState, name: str | None, query: HistoryQuery) -> list[Event]:
    room = _readable_room(session, name)
    store = session.server.history
    return [] if store is None else store.query(room.conversation, query)


def private_history(session: SessionState, name: str, query: HistoryQuery) -> list[Event]:
    """Only under this session's own account id: a guest has none, and nobody can name
    another account's conversations."""
    peer = fold(check_user_name(name))
    store = session.server.history
    user = session.user
    if store is None or user.guest or not user.account_id:
        return []
    return store.query(private_key(user.account_id, peer), query)


def history_targets(session: SessionState, start: float, end: float, limit: int
                    ) -> list[tuple[str, float]]:
    store = session.server.history
    if store is None:
        return []
    user = session.user
    names = {room.conversation: room.name for room in user.rooms.values()}
    prefix = ""
    if not user.guest and user.account_id:
        prefix = private_key(user.account_id, "")
    low, high = millis(start), millis(end)
    found = [
        (names.get(key, key[len(prefix):] if prefix and key.startswith(prefix) else key), at)
        for key, at in store.latest(list(names), prefix).items()
        if low < millis(at) < high
    ]
    return sorted(found, key=lambda item: item[1])[:limit]
