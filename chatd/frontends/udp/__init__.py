"""The UDP channel: room messages as datagrams, for members who log in and join over TCP
(the line protocol or IRC) and fetch a room token there (``/token ROOM``, ``TOKEN #room``).

``codec`` is the datagram format, ``cookies`` the challenge that validates an address,
``member`` one validated address in one room, ``protocol`` the frontend that routes each
datagram, ``endpoint`` the ``udp:`` listener strings. Off unless ``--udp ENDPOINT`` is given.
The port a token reply names is the first listener's (``token_port``), which the tap hands
the other frontends (``Facts``).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatd.frontends.entry import NO_FACTS, Facts, Frontend
from chatd.frontends.udp import endpoint
from chatd.frontends.udp.endpoint import udp_port
from chatd.frontends.udp.protocol import UdpFrontend
from chatd.kernel.settings import Key, Settings, listeners, seconds, whole

KEYS: dict[str, Key] = {
    "udp": listeners("UDP message channel listener, udp:PORT[:interface=ADDRESS] (repeatable; "
                     "off unless given)"),
    "udp-idle-timeout": Key(seconds, "drop a UDP member (it leaves the room) that sent nothing, "
                            "not even a keep-alive, for this many seconds (0: never)", 120.0),
    "udp-max-members": Key(whole(1, 1_000_000), "UDP members (validated address and token) at "
                           "once, all addresses", 10_000),
    "udp-members-per-address": Key(whole(1, 100_000), "UDP members at once per address", 16),
    "udp-max-datagram": Key(whole(64, 65507), "largest datagram accepted, in bytes; larger "
                            "ones are dropped", 1200),
}


@dataclass(frozen=True, slots=True)
class Options:
    idle_timeout: float = KEYS["udp-idle-timeout"].default
    max_members: int = KEYS["udp-max-members"].default
    members_per_address: int = KEYS["udp-members-per-address"].default
    max_datagram: int = KEYS["udp-max-datagram"].default

    @classmethod
    def from_settings(cls, settings: Settings, facts: Facts = NO_FACTS) -> Options:
        """The channel's Options; of the daemon's ``facts`` (its own port) it needs none."""
        return cls(
            idle_timeout=settings.udp_idle_timeout,
            max_members=settings.udp_max_members,
            members_per_address=settings.udp_members_per_address,
            max_datagram=settings.udp_max_datagram,
        )


def token_port(settings: Settings) -> int | None:
    """The UDP port a /token reply names: the first ``udp`` listener's, or None if off."""
    try:
        served = settings["udp"]
    except KeyError:  # settings without the UDP frontend's keys
        return None
    return udp_port(served[0]) if served else None


FRONTEND = Frontend(name="udp", keys=KEYS, options=Options.from_settings, factory=UdpFrontend,
                    endpoint=endpoint.parse)
