"""Files shared with a room: the upload that tells the room once the file is stored, and
the rule for reading one (a member of its room, now)."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from chatd.core.access import check_open, member_room
from chatd.core.rooms import Room
from chatd.kernel.errors import NoSuchFile, NotAllowed
from chatd.kernel.events import FileShared
from chatd.kernel.interfaces import IFileStore, IUpload
from chatd.kernel.names import clean_file_name
from chatd.kernel.views import FileView

if TYPE_CHECKING:
    from chatd.core.registry import Registry, SessionState

log = Logger()


def _files(session: SessionState) -> IFileStore:
    files = session.server.files
    if files is None:
        raise NotAllowed("file sharing is off on this server")
    return files


def send_file(session: SessionState, name: str, room_name: str | None, size: int,
              sha256: str | None = None) -> IUpload:
    """Start sharing a file with a room this user is in; the room hears of it once it is
    stored (``SharedUpload``)."""
    check_open(session)
    files = _files(session)
    room = member_room(session, room_name)
    user = session.user
    # Kept under the room's id: a later room of the same name never reaches these.
    upload = files.begin(room.conversation, room.name, user.key, user.name,
                         clean_file_name(name), size, sha256)
    return SharedUpload(upload, session.server, room)


def open_file(session: SessionState, file_id: str) -> tuple[FileView, BinaryIO]:
    """The rule for every protocol: a file is for the members of its room, now. Whoever
    leaves the room loses access to its files, as to its messages."""
    view = _readable(session, file_id)
    return view, _files(session).open(file_id)


def file_link(session: SessionState, file_id: str) -> tuple[str, int]:
    """A signed URL anyone holding it may fetch the file by, until it expires: made only
    for a member, under the rule of ``open_file``."""
    view = _readable(session, file_id)
    links = session.server.links
    if links is None:
        raise NotAllowed("no download links here: they need the web frontend and its "
                         "web-url; /get ID fetches the file")
    return links(view.id)


def _readable(session: SessionState, file_id: str) -> FileView:
    check_open(session)
    view = _files(session).find(file_id)
    if view is None:
        raise NoSuchFile(f"no file {file_id[:40]}; it may have expired")
    if not any(room.conversation == view.room_key for room in session.user.rooms.values()):
        raise NotAllowed(f"only the members of {view.room} can fetch its files")
    return view


@implementer(IUpload)
class SharedUpload:
    """An upload that tells its room once the file is stored."""

    __slots__ = ("_room", "_server", "_upload")

    def __init__(self, upload: IUpload, server: Registry, room: Room) -> None:
        self._upload = upload
        self._server = server
        self._room = room

    @property
    def size(self) -> int:
        return int(self._upload.size)

    @property
    def received(self) -> int:
        return int(self._upload.received)

    @property
    def pending(self) -> int:
        return int(self._upload.pending)

    def write(self, data: bytes) -> None:
        self._upload.write(data)

    def drained(self) -> Deferred[None]:
        return self._upload.drained()

    def abort(self) -> None:
        self._upload.abort()

    def finish(self) -> Deferred[FileView]:
        def shared(view: FileView) -> FileView:
            server = self._server
            log.info("{user} shared {name} ({size} bytes, {id}) with {room}", user=view.sender,
                     name=view.name, size=view.size, id=view.id, room=view.room)
            room = self._room
            if server.rooms.get(room.key) is room:
                server.bus.to_room(room.key, FileShared(
                    view.room, view.sender, view.name, view.size, view.id,
                    id=server.next_id(), at=server.clock.seconds()))
            return view

        return self._upload.finish().addCallback(shared)
