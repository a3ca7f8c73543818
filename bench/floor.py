#!/usr/bin/env python3
"""The floor under chatd's connect+login: a bare Twisted server that does only what every
login must (accept, a greeting, read one line, one reply, each sent straight to the socket,
as chatd's outbox does), with ``--log`` one twisted.logger line per login written by the
observer twistd uses. Measure it as chatd is measured (issue 18, goal 4):

    python bench/floor.py --port 7777 [--log FILE] &
    python bench/chatbench.py capacity --protocol line --connections 3000 --pid $! --port 7777

It speaks just enough of the line protocol for the benchmark: ``220`` on connect, ``201``
for each line. CPU per connection here is what Twisted's TCP transport (and the log line)
costs before any of chatd's own work.
"""

from __future__ import annotations

import argparse

from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.python.logfile import LogFile

log = Logger()


class Floor(Protocol):
    logging = False

    def connectionMade(self) -> None:
        self.transport.socket.send(b"220 ready\r\n")

    def dataReceived(self, data: bytes) -> None:
        if b"\n" in data:
            self.transport.socket.send(b"201 welcome\r\n")
            if self.logging:
                log.info("{name} logged in ({kind}) from {peer}", name="guest", kind="guest",
                         peer=self.transport.getPeer().host)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7777)
    parser.add_argument("--log", help="write one log line per login to this file")
    args = parser.parse_args()
    if args.log:
        Floor.logging = True
        globalLogBeginner.beginLoggingTo([textFileLogObserver(LogFile.fromFullPath(args.log))],
                                         redirectStandardIO=False)
    factory = Factory.forProtocol(Floor)
    factory.noisy = False
    serverFromString(reactor, f"tcp:{args.port}:interface=127.0.0.1:backlog=1024").listen(factory)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
