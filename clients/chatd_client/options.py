"""The client's command line, parsed into one frozen value before anything touches the network."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chatd.frontends.codes import DEFAULT_PORT


@dataclass(frozen=True, slots=True)
class ClientOptions:
    host: str
    port: int = DEFAULT_PORT
    tls: bool = False
    ca: Path | None = None
    raw: bool = False
    wait: float = 0.5
    connect_timeout: float = 10.0
    remember: bool = False
    udp: bool = False
    # --auto-get: fetch every file shared in a room into this directory (None: off).
    auto_get: Path | None = None


def _port(text: str) -> int:
    # argparse's type=int would accept 0 and 70000 and fail later with a vaguer socket error.
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _seconds(minimum: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not minimum <= value <= 3600:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number of seconds ({minimum:g}-3600)"
            )
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatd-client",
        description=(
            "Chat on a chatd server. On a terminal: line editing, history, colour, the current "
            "room in the prompt, passwords shown as *; type /help for the server's commands, "
            "/save FILE to write this session's transcript, /reconnect to connect again; a "
            "dropped connection is retried by itself. With stdin not a terminal, each input "
            "line is sent as typed and the server's lines are printed plainly, for scripts."
        ),
    )
    parser.add_argument("host", help="server host name or address")
    parser.add_argument("port", nargs="?", type=_port, default=DEFAULT_PORT,
                        help=f"server port (default {DEFAULT_PORT})")
    parser.add_argument("--tls", action="store_true",
                        help="connect with TLS and verify the server's certificate for HOST")
    parser.add_argument("--ca", type=Path, metavar="FILE",
                        help="with --tls: trust the CA certificate(s) in this PEM file instead "
                             "of the system's trust store")
    parser.add_argument("--raw", action="store_true",
                        help="without a terminal: print the server's lines exactly as received "
                             "(codes included)")
    parser.add_argument("--wait", type=_seconds(0), default=0.5, metavar="SECONDS",
                        help="without a terminal: how long to keep listening after stdin ends "
                             "(default 0.5)")
    parser.add_argument("--remember", action="store_true",
                        help="keep the passwords you type (/login, /signup, /passwd, locked "
                             "rooms) in this process's memory, so that after a dropped "
                             "connection the client logs in and rejoins by itself; without "
                             "it, it asks you to /login again (a guest's nick is always "
                             "taken again)")
    parser.add_argument("--udp", action="store_true",
                        help="send and receive the messages of the rooms you join over the "
                             "server's UDP channel (the client fetches a /token for each); "
                             "logging in, joining and commands stay on TCP")
    parser.add_argument("--auto-get", type=Path, metavar="DIR",
                        help="save every file shared in your rooms (111) into DIR as it is "
                             "shared, one after another, with the names and progress of "
                             "/get (default: off)")
    parser.add_argument("--connect-timeout", type=_seconds(0.1), default=10.0, metavar="SECONDS",
                        help="give up connecting after this long (default 10)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> ClientOptions:
    """Parse ``argv``; exits with a usage message (status 2) when it is wrong."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.ca is not None and not args.tls:
        parser.error("--ca only makes sense with --tls")
    return ClientOptions(host=args.host, port=args.port, tls=args.tls, ca=args.ca,
                         raw=args.raw, wait=args.wait, connect_timeout=args.connect_timeout,
                         remember=args.remember, udp=args.udp, auto_get=args.auto_get)
