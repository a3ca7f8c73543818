"""Redaction: deleting a message already said (IRCv3 ``draft/message-redaction``).

The rule, in one place: a message's sender may redact it (an account's messages, from any of
its sessions; a guest's, from the session that said it, since a later guest may take the same
name), and so may an operator of the room it was said in, or a server operator. A private
message only its sender (or a server operator) may redact. The message must still be kept in
history: that is where its sender is known, and a message history never kept is shown nowhere
to take back.

The redaction is one ``Redacted`` event on the bus: history drops the message (memory, disk,
the cluster's stream), and each protocol tells its clients (IRC's ``REDACT``, the line
protocol's ``116``, the web page removes the message).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatd.core.access import check_open, member_room
from chatd.kernel.errors import BadText, NoSuchMessage, NotAllowed
from chatd.kernel.events import Event, Private, Redacted, Said
from chatd.kernel.history import private_key
from chatd.kernel.names import check_user_name, fold
from chatd.kernel.text import MAX_TOPIC_LENGTH, clean_text

if TYPE_CHECKING:
    from chatd.core.registry import SessionState


def is_server_operator(session: SessionState) -> bool:
    """Whether the session is a server operator's, who may redact any message. The server
    operators' work (OPER) sets ``operator`` on the session; until it does, nobody is one."""
    return bool(getattr(session, "operator", False))


def _reason(text: str) -> str:
    if not text.strip():
        return ""
    reason = clean_text(text).strip()
    if len(reason) > MAX_TOPIC_LENGTH:
        raise BadText(f"a redaction's reason has at most {MAX_TOPIC_LENGTH} characters")
    return reason


def _find(session: SessionState, key: str, message_id: str) -> Event:
    store = session.server.history
    found = None if store is None or not message_id else store.find(key, message_id)
    if found is None:
        raise NoSuchMessage(f"no message {message_id[:40]} is kept there; it may have aged "
                            "out of history or been redacted")
    return found


def _own(session: SessionState, said: Said) -> bool:
    user = session.user
    if fold(said.sender) != user.key:
        return False
    # An account's message: any session of that account. A guest's: the very session.
    return (said.account and not user.guest) or said.origin == session.id


def redact(session: SessionState, name: str | None, message_id: str, reason: str = "") -> None:
    check_open(session)
    room = member_room(session, name)
    said = _find(session, room.conversation, message_id)
    assert isinstance(said, Said)
    if not (_own(session, said) or room.is_operator(session.user)
            or is_server_operator(session)):
        raise NotAllowed(f"only its sender or an operator of {room.name} can redact that "
                         "message")
    server = session.server
    server.bus.to_room(room.key, Redacted(
        message_id, session.user.name, room=room.name, room_id=said.room_id,
        why=_reason(reason), id=server.next_id(), at=server.clock.seconds()))


def redact_private(session: SessionState, name: str, message_id: str, reason: str = "") -> None:
    check_open(session)
    peer = fold(check_user_name(name))
    user = session.user
    if user.guest or not user.account_id:
        raise NoSuchMessage("a guest's private messages are not kept; nothing to redact")
    private = _find(session, private_key(user.account_id, peer), message_id)
    assert isinstance(private, Private)
    if private.sender_id != user.account_id and not is_server_operator(session):
        raise NotAllowed("only its sender can redact a private message")
    server = session.server
    event = Redacted(message_id, user.name, sender=private.sender,
                     recipient=private.recipient, sender_id=private.sender_id,
                     recipient_id=private.recipient_id, why=_reason(reason),
                     id=server.next_id(), at=server.clock.seconds())
    # Both parties' sessions hear it (each keeps its copy of the conversation; the store
    # drops both on the first and finds nothing the second time).
    for key in dict.fromkeys((fold(private.recipient), fold(private.sender))):
        server.bus.to_user(key, event)
