"""The avatar every frontend drives: one logged-in connection (``IChatSession``).

``Session`` holds a connection's state (its user, its current room, its message rate,
whether it has ended) and nothing else: each operation is a function of the module that
owns its concern, bound here as a method. The class body is the map from the contract's
roles to those modules; binding the functions themselves (rather than methods that call
them) keeps a room message's path (``say``) free of an extra call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zope.interface import implementer

from chatd.core import (
    account,
    listing,
    membership,
    moderation,
    operators,
    reading,
    redaction,
    sharing,
    talk,
)
from chatd.core.rooms import Room, User
from chatd.kernel.errors import BadText
from chatd.kernel.events import LeaveReason
from chatd.kernel.interfaces import IChatSession
from chatd.kernel.ratelimit import TokenBucket
from chatd.kernel.text import clean_text
from chatd.kernel.views import Missed

if TYPE_CHECKING:
    from chatd.core.registry import Registry


@implementer(IChatSession)
class Session:
    """One logged-in connection: the avatar every frontend drives (``IChatSession``)."""

    __slots__ = ("backlog", "bucket", "closed", "current_room", "id", "server", "strikes",
                 "user")

    def __init__(self, server: Registry, user: User, id: str, limited: bool) -> None:
        self.id = id
        self.server = server
        self.user = user
        self.current_room: Room | None = None
        self.closed = False
        self.bucket = (
            TokenBucket(server.limits.messages_burst, server.clock.seconds()) if limited else None
        )
        self.strikes = 0
        # What a resumed seat missed (chatd.core.seats), until the frontend takes it.
        self.backlog: tuple[Missed, ...] = ()

    # -- ISessionInfo ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def key(self) -> str:
        return self.user.key

    @property
    def guest(self) -> bool:
        return self.user.guest

    @property
    def bot(self) -> bool:
        return self.user.bot

    @property
    def current(self) -> str | None:
        return None if self.current_room is None else self.current_room.name

    whois = listing.whois
    whowas = listing.whowas
    server_info = listing.server_info

    # -- ISeatResume (chatd.core.seats) -----------------------------------------------

    def missed(self) -> tuple[Missed, ...]:
        """What this session's resumed seat missed, once (empty for a fresh login)."""
        backlog, self.backlog = self.backlog, ()
        return backlog

    def resume_token(self) -> str:
        """A one-use token that resumes this guest's seat after a drop (``/resume``)."""
        return self.server.seats.issue(self)

    def quit(self, reason: LeaveReason = LeaveReason.LOST, message: str = "") -> None:
        """End this session; the first reason given is the one the rooms hear."""
        if self.closed:
            return
        self.closed = True
        try:
            message = clean_text(message) if message.strip() else ""
        except BadText:
            message = ""
        # Not logged here: the frontend's one line for the closed connection names the
        # session and this reason (a second line per logout cost as much as the first).
        self.server.disconnect(self, reason, message)

    # -- IRoomMember (chatd.core.membership, chatd.core.listing) ----------------------

    rooms = listing.rooms
    room = listing.room
    who = listing.who
    my_rooms = listing.my_rooms
    shares_room = listing.shares_room
    is_room = listing.is_room
    join = membership.join
    leave = membership.leave
    token = membership.token
    create = membership.create

    # -- IRoomModeration (chatd.core.moderation; delete is membership's) -------------

    set_topic = moderation.set_topic
    set_limit = moderation.set_limit
    lock = moderation.lock
    unlock = moderation.unlock
    op = moderation.op
    voice = moderation.voice
    set_flag = moderation.set_flag
    kick = moderation.kick
    ban = moderation.ban
    unban = moderation.unban
    bans = moderation.bans
    invite = moderation.invite
    delete = membership.delete

    # -- ITalk and IHistoryReader (chatd.core.talk) -----------------------------------

    say = talk.say
    message = talk.message
    tag_room = talk.tag_room
    tag_user = talk.tag_user

    # -- IPresenceWatch (chatd.core.listing; the lists are chatd.core.presence's) ----

    watch = listing.watch
    unwatch = listing.unwatch
    watching = listing.watching
    send_delay = talk.send_delay
    history = talk.history
    private_history = talk.private_history
    history_targets = talk.history_targets

    # -- IRedaction (chatd.core.redaction) --------------------------------------------

    redact = redaction.redact
    redact_private = redaction.redact_private
    # -- IReadMarkers (chatd.core.reading) --------------------------------------------

    read_marker = reading.read_marker
    mark_read = reading.mark_read
    unread_messages = reading.unread_messages

    # -- IFileSharing (chatd.core.sharing) --------------------------------------------

    send_file = sharing.send_file
    open_file = sharing.open_file
    file_link = sharing.file_link

    # -- IAccountSettings (chatd.core.account) ----------------------------------------

    rename = account.rename
    change_password = account.change_password
    set_away = account.set_away
    set_always_on = account.set_always_on
    always_on = property(account.always_on)

    # -- IServerOperator (chatd.core.operators) ---------------------------------------

    is_operator = property(operators.is_operator)
    wallops_mode = property(operators.wallops_mode)
    oper = operators.oper
    deoper = operators.deoper
    set_wallops = operators.set_wallops
    kill = operators.kill
    wallops = operators.wallops
    announce = operators.announce
    close_room = operators.close_room
    kline = operators.kline
    unkline = operators.unkline
    klines = operators.klines
    describe = account.describe
    set_real_name = account.set_real_name
    set_bot = account.set_bot
