"""Domain errors: what the core and the member directory refuse, and why.

Each carries a human sentence that tells the user what to do next. Adapters translate the
class (never the text) into their own reply codes, in one table each.
"""


class ChatError(Exception):
    """A request was refused; ``str(error)`` is the sentence shown to the user."""


class BadSyntax(ChatError):
    """The command's arguments do not parse."""


class BadName(ChatError):
    """A user or room name breaks the naming rules."""


class BadPassword(ChatError):
    """A new password breaks the password policy."""


class BadText(ChatError):
    """Text that can't be relayed: invalid UTF-8, control characters, too long."""


class NameTaken(ChatError):
    """The name is registered, online, or an existing room."""


class NoSuchRoom(ChatError):
    """No room by that name."""


class NoSuchUser(ChatError):
    """Nobody by that name is online."""


class NotInRoom(ChatError):
    """The session is not a member of the room it named (or of any room)."""


class NotAllowed(ChatError):
    """The user lacks the right: not the owner, a guest doing an account's thing, ..."""


class TooManyRooms(NotAllowed):
    """The user is in ``max-rooms-per-user`` rooms already."""


class TooManyWatched(NotAllowed):
    """A session's presence watch list (IRC's MONITOR) would pass ``MAX_WATCHED`` names."""


class Banned(ChatError):
    """A ban of the room matches the user."""


class InviteOnly(ChatError):
    """The room is invite-only (+i) and the user was not invited."""


class AlreadyInRoom(ChatError):
    """The user named is in the room already (an invitation to it is pointless)."""


class RoomFull(ChatError):
    """The room is at its member limit."""


class WrongRoomPassword(ChatError):
    """The room is locked and the password given was missing or wrong."""


class WrongCredentials(ChatError):
    """Unknown account or wrong password; deliberately does not say which."""


class AlreadyNamed(ChatError):
    """The session already has a name; signup, login and nick are for anonymous sessions."""


class NotNamed(ChatError):
    """The command needs a logged-in session (or a guest nick)."""


class TooManySessions(ChatError):
    """The account already has ``max-sessions-per-account`` sessions."""


class GuestsDisabled(ChatError):
    """The server is configured with ``require-account``."""


class ServerFull(ChatError):
    """``max-users`` sessions are already logged in."""


class ServerBusy(ChatError):
    """Too much password hashing is already queued; retry shortly."""


class StorageFailed(ChatError):
    """A durable write failed; the change was not made."""


class StartupError(Exception):
    """The daemon can't start: the data directory is locked, unreadable, or corrupt."""


class AccountLocked(ChatError):
    """An administrator locked the account."""


class RateLimited(ChatError):
    """Too many failed logins for this account or from this address, or messages sent too
    fast; wait."""


class Flooding(RateLimited):
    """Messages kept coming although each was refused: the session is disconnected."""


class AccountsUnavailable(ChatError):
    """The member service can't be reached; logins and signups fail until it is back."""


class NoSuchMessage(ChatError):
    """No kept message has that id in that conversation (never said there, aged out of
    history, redacted already, or history is off)."""


class NoSuchFile(ChatError):
    """No shared file has that id (never shared, expired, or not this server's)."""


class FileTooLarge(ChatError):
    """A file over the server's maximum file size."""


class QuotaExceeded(ChatError):
    """Storing the file would pass the sender's, the room's or the whole store's quota."""


class BadUpload(ChatError):
    """An upload did not arrive as declared (a SHA-256 mismatch, bytes past its SIZE)."""


class UploadTooSlow(ChatError):
    """An upload's bytes did not all come within its deadline (``upload-min-rate``): it
    was cut, so a sender that stalls can't hold its quota and its part file."""
