"""The IRC frontend: irssi, WeeChat and other IRC clients in the same rooms as everyone else.

The wire protocol is the modern IRC client protocol (modern.ircdocs.horse) as far as chatd's
rooms can express it; ``docs/irc.md`` lists what is supported. Registration is how an IRC
server does it: ``NICK`` and ``USER`` make a guest; ``PASS``, SASL ``PLAIN`` or the IRCv3
``REGISTER`` draft log in to (or create) an account, all through the one Portal.

Lines are framed by ``ChatConnection``, not by ``twisted.words``' server ``dataReceived``
(which decodes each TCP chunk as strict UTF-8 and buffers without a limit): every line is
bounded, each is decoded on its own (latin-1 if it is not UTF-8), and commands run one at a
time per connection, queueing behind a login that is still hashing.

The package, from the wire inwards:

* ``codec``: parse a line, format a server line within 512 bytes, render events (pure);
* ``registration``: NICK/USER/PASS/CAP/AUTHENTICATE/REGISTER as a sans-IO state machine;
* ``commands``: the table of commands, each with its handler and error target kind;
  handlers grouped by concern in ``channels``, ``messages``, ``modes`` and ``queries``,
  each taking a ``context.Context``;
* ``replies``: domain errors as numerics, in one place;
* ``protocol``: ``IRCProtocol`` (the thin glue) and ``IRCFactory``; ``options``: its keys
  and settings; ``FRONTEND`` (here): its entry in ``chatd.frontends.registry``.
"""

from chatd.frontends.entry import Frontend
from chatd.frontends.irc.commands import COMMANDS
from chatd.frontends.irc.options import KEYS, Options
from chatd.frontends.irc.protocol import IRCFactory, IRCProtocol

# The IRCv3 WebSocket transport's subprotocols: a web site carries IRC under them.
FRONTEND = Frontend(name="irc", keys=KEYS, options=Options.from_settings, factory=IRCFactory,
                    subprotocols=("text.ircv3.net", "binary.ircv3.net"))

__all__ = ["COMMANDS", "FRONTEND", "IRCFactory", "IRCProtocol", "Options"]
