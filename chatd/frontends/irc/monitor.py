"""IRCv3 MONITOR (ircv3.net/specs/extensions/monitor): a client's list of nicks whose
coming online and going it hears, as 730 RPL_MONONLINE and 731 RPL_MONOFFLINE.

The list is the session's presence watch list in the core (``IChatSession.watch``); the
core's ``PresenceChanged`` events reach ``IRCProtocol.deliver``, which shows them with
``presence_line``. Subcommands: ``+`` and ``-`` (targets separated by commas), ``C`` (clear),
``L`` (list: 732, 733) and ``S`` (status: 730/731 for each). The limit is ISUPPORT's
``MONITOR``; past it, 734 ERR_MONLISTFULL. A target that is no valid nick (a mask) is
answered offline and not kept: it could never come online.
"""

from __future__ import annotations

from twisted.words.protocols import irc

from chatd.frontends.irc.codec import numeric, source
from chatd.frontends.irc.context import Context
from chatd.kernel import errors
from chatd.kernel.events import PresenceChanged
from chatd.kernel.names import MAX_WATCHED, check_user_name

RPL_MONONLINE = "730"
RPL_MONOFFLINE = "731"
RPL_MONLIST = "732"
RPL_ENDOFMONLIST = "733"
ERR_MONLISTFULL = "734"
# Targets per 730-732 line: enough to stay far inside 512 bytes with 32-character nicks.
PER_LINE = 8


def _valid(name: str) -> bool:
    try:
        check_user_name(name)
    except errors.BadName:
        return False
    return True


def _lists(ctx: Context, code: str, items: list[str]) -> None:
    for start in range(0, len(items), PER_LINE):
        ctx.send(code, ",".join(items[start:start + PER_LINE]))


def _status(ctx: Context, statuses: list[tuple[str, str | None]]) -> None:
    _lists(ctx, RPL_MONONLINE, [source(now) for _, now in statuses if now is not None])
    _lists(ctx, RPL_MONOFFLINE, [name for name, now in statuses if now is None])


def monitor(ctx: Context, subcommand: str, targets: str = "", *_: str) -> None:
    session = ctx.me
    verb = subcommand.upper()
    names = [name for name in targets.split(",") if name]
    if verb == "+":
        valid = [name for name in names if _valid(name)]
        try:
            statuses = session.watch(valid)
        except errors.TooManyWatched:
            ctx.send(ERR_MONLISTFULL, str(MAX_WATCHED), targets, "Monitor list is full")
            return
        _status(ctx, statuses + [(name, None) for name in names if name not in valid])
    elif verb == "-":
        session.unwatch(names)
    elif verb == "C":
        session.unwatch(None)
    elif verb == "L":
        _lists(ctx, RPL_MONLIST, [name for name, _ in session.watching()])
        ctx.send(RPL_ENDOFMONLIST, "End of MONITOR list")
    elif verb == "S":
        _status(ctx, session.watching())
    else:
        ctx.send(irc.ERR_UNKNOWNCOMMAND, "MONITOR", f"Unknown MONITOR subcommand {verb}")


def presence_line(server: str, client: str, event: PresenceChanged) -> bytes:
    """A watched nick came online (730, its ``nick!user@host``) or went (731)."""
    if event.online:
        return numeric(server, RPL_MONONLINE, client, source(event.who))
    return numeric(server, RPL_MONOFFLINE, client, event.who)
