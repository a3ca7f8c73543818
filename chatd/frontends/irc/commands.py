"""The command table: every IRC command chatd answers, with its handler, its fewest
parameters, whether it needs registration, and what its first parameter names (the *target
kind* ``replies`` maps errors by). A table, not method lookups: what a client may send before
registering is declared here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred

from chatd.frontends.irc import (
    channels,
    chathistory,
    markers,
    messages,
    modes,
    monitor,
    operators,
    queries,
    redaction,
    who,
)
from chatd.frontends.irc.codec import message
from chatd.frontends.irc.context import Context
from chatd.frontends.irc.replies import CHANNEL, NICK, OPER, REGISTER, SASL, TARGET

# A handler returns None, or a Deferred when its reply is still to come.
Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Command:
    handler: Handler
    min_params: int = 0
    registered: bool = True
    target: str | None = None


# -- registration: the state machine decides, the protocol carries it out -------------------

def cap(ctx: Context, subcommand: str, *args: str) -> Deferred[Any] | None:
    return ctx.run(ctx.registration.cap(subcommand, *args,
                                        before_connect=ctx.register_before_connect))


def password(ctx: Context, given: str, *_: str) -> Deferred[Any] | None:
    return ctx.run(ctx.registration.password(given))


def nick(ctx: Context, name: str | None = None, *_: str) -> Deferred[Any] | None:
    """Before registration, part of registering; after, a guest's change of name (the
    core's NickChanged is the NICK line everyone sharing a channel, and we, see)."""
    if name is None or not ctx.registration.registered:
        return ctx.run(ctx.registration.nick(name))
    return ctx.me.rename(name)


def user(ctx: Context, username: str, _mode: str, _unused: str, realname: str, *_: str
         ) -> Deferred[Any] | None:
    return ctx.run(ctx.registration.user(username, realname))


def authenticate(ctx: Context, data: str, *_: str) -> Deferred[Any] | None:
    """SASL; after the welcome, a guest's login to an account, after which its session is
    the account's (renamed to it)."""
    registration = ctx.registration
    claimant = ctx.me.id if registration.registered else ""
    return ctx.run(registration.authenticate(data, claimant))


def register(ctx: Context, account: str, _email: str, given: str, *_: str
             ) -> Deferred[Any] | None:
    """draft/account-registration; after the welcome, a guest's signup of its nick, after
    which its session is the account's (the email is not asked for, nor kept)."""
    registration = ctx.registration
    claimant = ctx.me.id if registration.registered else ""
    return ctx.run(registration.register(account, given, claimant,
                                         before_connect=ctx.register_before_connect))


# -- the connection ------------------------------------------------------------------------

def ping(ctx: Context, token: str, *_: str) -> None:
    ctx.write(message(ctx.server_name, "PONG", ctx.server_name, token))


def pong(ctx: Context, *_: str) -> None:
    """Any line proves the client alive (the protocol reset its timer on input)."""


def quit_(ctx: Context, text: str = "", *_: str) -> None:
    ctx.quit(text)


COMMANDS: dict[str, Command] = {
    "CAP": Command(cap, 1, registered=False),
    "PASS": Command(password, 1, registered=False),
    "NICK": Command(nick, 0, registered=False, target=NICK),
    "USER": Command(user, 4, registered=False),
    "AUTHENTICATE": Command(authenticate, 1, registered=False, target=SASL),
    "REGISTER": Command(register, 3, registered=False, target=REGISTER),
    "PING": Command(ping, 1, registered=False),
    "PONG": Command(pong, 0, registered=False),
    "QUIT": Command(quit_, 0, registered=False),
    "JOIN": Command(channels.join, 1, target=CHANNEL),
    "PART": Command(channels.part, 1, target=CHANNEL),
    "KICK": Command(channels.kick, 2, target=CHANNEL),
    "INVITE": Command(channels.invite, 2, target=CHANNEL),
    "PRIVMSG": Command(messages.privmsg, 0, target=TARGET),
    "NOTICE": Command(messages.notice, 0, target=TARGET),
    "TAGMSG": Command(messages.tagmsg, 1, target=TARGET),
    "NAMES": Command(channels.names, 0, target=CHANNEL),
    "LIST": Command(channels.list_rooms, 0, target=CHANNEL),
    "TOPIC": Command(channels.topic, 1, target=CHANNEL),
    "TOKEN": Command(channels.token, 1, target=CHANNEL),
    "MODE": Command(modes.mode, 1, target=CHANNEL),
    "WHO": Command(who.who, 0, target=CHANNEL),
    "WHOIS": Command(queries.whois, 1, target=NICK),
    "WHOWAS": Command(queries.whowas, 0, target=NICK),
    "USERHOST": Command(queries.userhost, 1, target=NICK),
    "AWAY": Command(queries.away, 0),
    "SETNAME": Command(queries.setname, 1),
    "MOTD": Command(queries.motd, 0),
    "LUSERS": Command(queries.lusers, 0),
    "TIME": Command(queries.time_, 0),
    "INFO": Command(queries.info, 0),
    "CHATHISTORY": Command(chathistory.chathistory, 1),
    "REDACT": Command(redaction.redact, 2),
    "OPER": Command(operators.oper, 2, target=OPER),
    "KILL": Command(operators.kill, 1, target=OPER),
    "WALLOPS": Command(operators.wallops, 1, target=OPER),
    "KLINE": Command(operators.kline, 1, target=OPER),
    "UNKLINE": Command(operators.unkline, 1, target=OPER),
    "CLOSE": Command(operators.close, 1, target=OPER),
    "MARKREAD": Command(markers.markread, 0),
    "MONITOR": Command(monitor.monitor, 1),
}
