"""What a connection presents to the Portal: an account login, a signup, or a guest nick.

Each carries the peer's address so checkers can rate-limit by source and logs can say where a
login came from. A signup is a credential too: creating the account is how it is checked, so
signing up costs one password hash and goes through the same Portal and Realm as a login.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.cred.credentials import ICredentials
from zope.interface import Attribute, implementer

# The most characters an account password may have, on every protocol. Long enough for
# passphrases and password managers (irctest's SASL tests sign up with 592), short enough that
# argon2's input stays small: a login with a longer password is checked as this many plus one
# characters (no account has one that long, so it fails as it would, at the same cost).
MAX_PASSWORD = 1024


class IAccountCredentials(ICredentials):
    name = Attribute("The account name, as typed.")
    password = Attribute("The password, as typed.")
    peer = Attribute("Where the connection comes from (text, for logs and limits).")
    claimant = Attribute("The id of the guest session logging in to the account while "
                         "connected (IRC's SASL after the welcome), which becomes the "
                         "account's; or empty.")
    holder = Attribute("The name that guest session holds (with ``claimant``).")


class ISignupCredentials(ICredentials):
    """The same fields as IAccountCredentials; checking them creates the account. Not a
    subinterface of it, or the Portal could hand a signup to the login checker."""

    name = Attribute("The account name asked for.")
    password = Attribute("The new password.")
    peer = Attribute("Where the connection comes from.")
    claimant = Attribute("The id of the guest session signing up the name it holds (IRC's "
                         "REGISTER after connecting), which becomes the account's; or empty.")


class IGuestCredentials(ICredentials):
    name = Attribute("The nick asked for.")
    peer = Attribute("Where the connection comes from.")


class ITokenCredentials(ICredentials):
    """A room token (``IChatSession.token``) presented on the UDP channel."""

    token = Attribute("The token, as sent.")
    room = Attribute("The room name sent with it: the token is valid for that room only.")
    peer = Attribute("Where the datagram comes from.")


class IResumeCredentials(ICredentials):
    """A guest's resume token (``IChatSession.resume_token``), presented after a drop."""

    token = Attribute("The token, as sent.")
    peer = Attribute("Where the connection comes from.")


@implementer(IAccountCredentials)
@dataclass(frozen=True)
class AccountLogin:
    name: str
    password: str = field(repr=False)
    peer: str = ""
    claimant: str = ""
    holder: str = ""


@implementer(ISignupCredentials)
@dataclass(frozen=True)
class Signup:
    name: str
    password: str = field(repr=False)
    peer: str = ""
    claimant: str = ""


@implementer(IGuestCredentials)
@dataclass(frozen=True)
class GuestNick:
    name: str
    peer: str = ""


@implementer(ITokenCredentials)
@dataclass(frozen=True)
class TokenUse:
    token: str = field(repr=False)
    room: str
    peer: str = ""


@implementer(IResumeCredentials)
@dataclass(frozen=True)
class ResumeSeat:
    token: str = field(repr=False)
    peer: str = ""


@dataclass(frozen=True, slots=True)
class Identity:
    """The avatar ID every checker returns: the display name, whether it is a guest, the
    address it logs in from (for the realm's exemption check), for an account its id
    (what owns rooms) and, for a guest's signup of its own name or its login to an account
    while connected, that guest session's id (``claimant``) and the name it holds (``holder``;
    empty: ``name``)."""

    name: str
    guest: bool
    peer: str = ""
    account_id: str = ""
    claimant: str = ""
    # A guest's resume token: the login takes the held seat it names (chatd.core.seats).
    resume: str = field(default="", repr=False)
    holder: str = ""
