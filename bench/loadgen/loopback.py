"""Where the benchmark's sockets go: loopback only, on ports the kernel says are free, with
as many descriptors as the hard limit allows (capacity opens thousands)."""

from __future__ import annotations

import resource
import socket

HOST = "127.0.0.1"


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit; the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    """A TCP port on ``HOST`` that nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    """A UDP port on ``HOST`` that nothing is bound to now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])
