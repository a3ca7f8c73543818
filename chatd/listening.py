"""What a daemon says when one of its listeners can't be had: one line naming the option, the
endpoint and the cause, and exit status 1, for both twistd plugins.

twistd binds listeners in ``privilegedStartService``, before any service starts, and reports a
failure there as a traceback; and an endpoint string that does not parse surfaces as whatever
Python error its parser raised (``invalid literal for int() with base 10``). Both are turned
into words a person can act on here.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from twisted.application.service import IService, MultiService
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()


def endpoint_problem(error: BaseException) -> str:
    """Why an endpoint string was refused, in words (the parsers' own errors are terse)."""
    text = str(error)
    if isinstance(error, ValueError) and "invalid literal for int()" in text:
        return "the port must be a number (e.g. tcp:7777:interface=127.0.0.1)"
    if isinstance(error, ValueError) and text.startswith("Unknown endpoint type"):
        return f"{text}; use tcp:, ssl:, unix: (see the README's options)"
    if isinstance(error, OSError) and error.strerror:
        where = f" {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    return text or type(error).__name__


def listen_problem(program: str, option: str, description: str, reason: object) -> str:
    """Why ``description`` (given as ``--option``) could not be listened on, from
    CannotListenError's socket error."""
    code = getattr(reason, "errno", None)
    where = f"--{option} {description}"
    if reason == "Cannot acquire lock" or code == errno.EADDRINUSE:  # a unix lockfile, a port
        return (f"{where} is in use: {program} (or another program) is already running there; "
                f"stop it or choose another --{option}")
    if code == errno.EACCES:
        return (f"{where}: permission denied (ports below 1024 need root: start twistd as root "
                "with --uid and --gid, or choose a port above 1023)")
    if code == errno.EADDRNOTAVAIL:
        return f"{where}: this machine has no such address"
    return f"{where}: can't listen there: {getattr(reason, 'strerror', None) or reason}"


class ListenOrExit(MultiService):
    """Holds one listener, so that a port or socket that can't be had stops start-up with one
    line (``program: --option description ...``) and exit status 1, as a held data directory
    does, instead of twistd's traceback."""

    def __init__(self, program: str, option: str, description: str, service: IService) -> None:
        super().__init__()
        self.program = program
        self.option = option
        self.description = description
        service.setServiceParent(self)

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except CannotListenError as error:
            problem = listen_problem(self.program, self.option, self.description,
                                     error.socketError)
            raise SystemExit(f"{self.program}: {problem}") from None


class ListenOrWarn(ListenOrExit):
    """A listener the daemon can do without (one it chose itself, not one it was given): if
    it can't be had, a warning, and the daemon starts without it."""

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except (SystemExit, OSError) as error:
            for service in list(self):
                service.disownServiceParent()
            log.warn("{program}: {problem}; starting without it", program=self.program,
                     problem=str(error).removeprefix(f"{self.program}: "))


@implementer(IStreamServerEndpoint)
class Heard:
    """An endpoint that tells ``heard`` the port it listens on (its real port if 0 was
    asked for): how a web site's public URL is found when ``web-url`` is not given."""

    def __init__(self, endpoint: IStreamServerEndpoint,
                 heard: Callable[[IListeningPort], None]) -> None:
        self.endpoint = endpoint
        self.heard = heard

    def listen(self, factory: IProtocolFactory) -> Deferred[IListeningPort]:
        def heard(port: IListeningPort) -> IListeningPort:
            self.heard(port)
            return port

        listening: Deferred[IListeningPort] = self.endpoint.listen(factory)
        return listening.addCallback(heard)
