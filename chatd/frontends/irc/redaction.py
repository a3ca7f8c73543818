"""IRCv3 ``draft/message-redaction`` (https://ircv3.net/specs/extensions/message-redaction):
``REDACT <target> <msgid> [:reason]`` deletes a message, the core deciding who may
(``chatd.core.redaction``: its sender, an operator of its channel, a server operator).

Everyone who shares the conversation and negotiated the capability gets
``:redactor!u@h REDACT <target> <msgid> [:reason]``, the redactor too; a client without it
gets nothing (the spec forbids sending it REDACT). The target is the channel, or for a private
message the nick it was sent to, as its PRIVMSG named it. A refusal is a standard reply:
``FAIL REDACT INVALID_TARGET <target>``, ``REDACT_FORBIDDEN <target> <msgid>`` or
``UNKNOWN_MSGID <target> <msgid>``. History (replay, CHATHISTORY) never shows the message
again.
"""

from __future__ import annotations

from chatd.frontends.irc import codec
from chatd.frontends.irc.codec import channel, message, source, tagged
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.rendering import tags
from chatd.kernel import errors
from chatd.kernel.events import Redacted

CAP = "draft/message-redaction"


def redact(ctx: Context, target: str, msgid: str, reason: str = "", *_: str) -> None:
    session = ctx.me
    try:
        if codec.is_channel(target):
            session.redact(target, msgid, reason)
        else:
            session.redact_private(target, msgid, reason)
    except errors.NoSuchMessage:
        _fail(ctx, "UNKNOWN_MSGID", target, msgid, "This message does not exist or is too old")
    except errors.NotAllowed:
        _fail(ctx, "REDACT_FORBIDDEN", target, msgid, "You are not authorised to delete "
              "this message")
    except (errors.NotInRoom, errors.NoSuchRoom, errors.BadName, errors.NoSuchUser):
        _fail(ctx, "INVALID_TARGET", target, "You cannot delete messages from " + target)
    except errors.BadText as error:
        ctx.write(message(ctx.server_name, "FAIL", "REDACT", "INVALID_PARAMS", target,
                          str(error)))


def _fail(ctx: Context, code: str, *params: str) -> None:
    ctx.write(message(ctx.server_name, "FAIL", "REDACT", code, *params))


def redact_line(event: Redacted, caps: frozenset[str]) -> bytes:
    """The REDACT line for a client with ``caps``; nothing without the capability."""
    if CAP not in caps:
        return b""
    target = channel(event.room) if event.room else event.recipient
    params = (target, event.message_id, event.why) if event.why else (target,
                                                                      event.message_id)
    return tagged(tags(caps, event.at), message(source(event.who), "REDACT", *params))
