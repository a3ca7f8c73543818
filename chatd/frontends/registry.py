"""Every frontend the daemon can run: the one place a new frontend is added.

Each entry (``chatd.frontends.entry.Frontend``) brings its own keys; ``chatd.config`` adds
them to the settings and ``chatd.tap`` walks this tuple to build, serve, count, shut down and
reload each one.
"""

from __future__ import annotations

from chatd.frontends import irc, line, udp, web
from chatd.frontends.entry import Frontend

FRONTENDS: tuple[Frontend, ...] = (line.FRONTEND, irc.FRONTEND, web.FRONTEND, udp.FRONTEND)
