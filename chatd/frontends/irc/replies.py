"""Domain errors as IRC replies: the one place where a ``ChatError`` becomes a numeric.

The same error means different things depending on what the failed command named: a
``BadName`` for ``NICK`` is 432, for ``REGISTER`` a ``FAIL BAD_ACCOUNT_NAME``, for anything
else a bad channel (403). Each command declares that *target kind* in the command table; this
module turns (error, kind) into the reply, and nothing else does.
"""

from __future__ import annotations

from twisted.words.protocols import irc

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import message, numeric
from chatd.kernel import errors

# What a failed command's first parameter names, which decides the numeric for some errors.
NICK, CHANNEL, TARGET, SASL, REGISTER = "nick", "channel", "target", "sasl", "register"
# A server operator's command (chatd.frontends.irc.operators).
OPER = "oper"

# (error, what the target is) -> the numeric (or FAIL code) and whether the target is sent.
# (error, None) is the fallback for any target; anything else is 400 ERR_UNKNOWNERROR.
NUMERICS: dict[tuple[type[errors.ChatError], str | None], tuple[str, bool]] = {
    (errors.BadName, NICK): (irc.ERR_ERRONEUSNICKNAME, True),
    (errors.BadName, REGISTER): ("BAD_ACCOUNT_NAME", True),
    (errors.BadName, None): (irc.ERR_NOSUCHCHANNEL, True),
    (errors.NameTaken, NICK): (irc.ERR_NICKNAMEINUSE, True),
    (errors.NameTaken, REGISTER): ("ACCOUNT_EXISTS", True),
    (errors.BadPassword, REGISTER): ("WEAK_PASSWORD", True),
    (errors.NoSuchRoom, TARGET): (irc.ERR_NOSUCHNICK, True),
    (errors.NoSuchRoom, None): (irc.ERR_NOSUCHCHANNEL, True),
    (errors.NoSuchUser, None): (irc.ERR_NOSUCHNICK, True),
    (errors.NotInRoom, TARGET): (irc.ERR_CANNOTSENDTOCHAN, True),
    (errors.NotInRoom, None): (irc.ERR_NOTONCHANNEL, True),
    (errors.BadText, TARGET): (irc.ERR_CANNOTSENDTOCHAN, True),
    (errors.NotAllowed, CHANNEL): (irc.ERR_CHANOPRIVSNEEDED, True),
    (errors.NotAllowed, TARGET): (irc.ERR_CANNOTSENDTOCHAN, True),
    (errors.NotAllowed, NICK): (codec.ERR_NICKLOCKED, False),
    (errors.NotAllowed, OPER): (irc.ERR_NOPRIVILEGES, False),
    (errors.Banned, None): (irc.ERR_BANNEDFROMCHAN, True),
    (errors.InviteOnly, None): (irc.ERR_INVITEONLYCHAN, True),
    (errors.TooManyRooms, None): (irc.ERR_TOOMANYCHANNELS, True),
    (errors.RoomFull, None): (irc.ERR_CHANNELISFULL, True),
    (errors.WrongRoomPassword, None): (irc.ERR_BADCHANNELKEY, True),
    (errors.WrongCredentials, SASL): (codec.ERR_SASLFAIL, False),
    (errors.WrongCredentials, None): (irc.ERR_PASSWDMISMATCH, False),
    (errors.GuestsDisabled, None): (irc.ERR_PASSWDMISMATCH, False),
    (errors.TooManySessions, SASL): (codec.ERR_SASLFAIL, False),
    (errors.ServerBusy, SASL): (codec.ERR_SASLFAIL, False),
    (errors.ServerBusy, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.StorageFailed, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.AccountsUnavailable, SASL): (codec.ERR_SASLFAIL, False),
    (errors.AccountsUnavailable, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.AccountLocked, SASL): (codec.ERR_SASLFAIL, False),
    (errors.RateLimited, SASL): (codec.ERR_SASLFAIL, False),
    (errors.RateLimited, REGISTER): ("RATE_LIMITED", True),
    (errors.NotAllowed, REGISTER): ("TEMPORARILY_UNAVAILABLE", True),
    (errors.NotAllowed, SASL): (codec.ERR_SASLFAIL, False),
    (errors.NameTaken, SASL): (codec.ERR_SASLFAIL, False),
    (errors.RateLimited, None): ("RATE_LIMITED", True),
}

_UNKNOWN = (codec.ERR_UNKNOWNERROR, False)

# The texts IRC servers send with these numerics (modern.ircdocs.horse). The core's sentences
# advise line-protocol commands ("/join den PASSWORD", "/rooms lists them"), which an IRC
# user can't type; for these the numeric says it all, so the usual text goes with it.
_TEXTS = {
    irc.ERR_BADCHANNELKEY: "Cannot join channel (+k)",
    irc.ERR_CHANNELISFULL: "Cannot join channel (+l)",
    irc.ERR_NOSUCHCHANNEL: "No such channel",
    irc.ERR_NOSUCHNICK: "No such nick/channel",
    irc.ERR_TOOMANYCHANNELS: "You have joined too many channels",
    irc.ERR_NOTONCHANNEL: "You're not on that channel",
    irc.ERR_CHANOPRIVSNEEDED: "You're not channel operator",
    irc.ERR_BANNEDFROMCHAN: "Cannot join channel (+b)",
    irc.ERR_INVITEONLYCHAN: "Cannot join channel (+i)",
    irc.ERR_NOPRIVILEGES: "Permission Denied- You're not an IRC operator",
}


def code_for(error: errors.ChatError, kind: str | None) -> tuple[str, bool]:
    """The numeric (or FAIL code) for ``error`` after a command naming a ``kind``, and
    whether the reply repeats the target."""
    return NUMERICS.get((type(error), kind), NUMERICS.get((type(error), None), _UNKNOWN))


def error_line(server: str, client: str, error: errors.ChatError, kind: str | None,
               target: str, command: str) -> tuple[str, bytes]:
    """The reply to ``error``: its numeric or FAIL code, and the line ``server`` sends
    ``client``."""
    code, with_target = code_for(error, kind)
    if code == codec.ERR_UNKNOWNERROR:
        return code, numeric(server, code, client, command, str(error))
    if not code[0].isdigit():
        return code, message(server, "FAIL", command, code, target, str(error))
    text = _TEXTS.get(code, str(error))
    if with_target:
        return code, numeric(server, code, client, target, text)
    return code, numeric(server, code, client, text)
