"""twistd plugins: ``twistd chatd``. Only names the tap module; nothing is imported until used."""

from twisted.application.service import ServiceMaker

chatd = ServiceMaker(
    "chatd",
    "chatd.tap",
    "A chat server: line protocol for telnet/netcat, accounts, rooms.",
    "chatd",
)
