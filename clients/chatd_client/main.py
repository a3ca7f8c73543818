"""``chatd-client HOST [PORT]``: the bundled line client's entry point.

Shape: Twisted does the networking (endpoints, TLS with service_identity, stdio) and
prompt_toolkit does the terminal. prompt_toolkit is built on asyncio, so the client installs
Twisted's asyncio reactor on one asyncio loop before anything imports the reactor; both then
run on that loop, and the terminal code awaits Twisted Deferreds with ``asFuture``. Running
prompt_toolkit in a thread beside the default reactor was the alternative; one loop means no
locks and no ``callFromThread`` on every line.

A person at a terminal (stdin and stdout both terminals) gets the prompt (``terminal``);
anything else gets the plain stdin/stdout mode (``batch``) that scripts and tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
import locale
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from twisted.internet.defer import Deferred

from chatd_client.connection import TrustError
from chatd_client.options import ClientOptions, parse_args


def _exit(status: int) -> NoReturn:
    # task.react turns SystemExit into the process's status; any plain result would be 0.
    raise SystemExit(status)


def _start(reactor: Any, options: ClientOptions, interactive: bool) -> Deferred[None]:
    from chatd_client import batch, terminal

    try:
        if interactive:
            future = asyncio.ensure_future(terminal.run(reactor, options))
            status: Deferred[int] = Deferred.fromFuture(future)
        else:
            status = batch.run(reactor, options)
    except TrustError as problem:
        sys.stderr.write(f"chatd-client: {problem}\n")
        _exit(2)
    return status.addCallback(_exit)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    # Times (of history) in the person's own format; Python starts in the C locale, and
    # keeps it when LANG names a locale this system lacks.
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_TIME, "")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Must precede every import of twisted.internet.reactor, ours and Twisted's.
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    from twisted.internet import task

    task.react(_start, [options, interactive])
