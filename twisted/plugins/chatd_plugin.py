"""twistd plugins: ``twistd chatd`` and ``twistd chatd-members``. Only names the tap modules;
nothing is imported until used."""

from twisted.application.service import ServiceMaker

chatd = ServiceMaker(
    "chatd",
    "chatd.tap",
    "A chat server: line protocol for telnet/netcat, accounts, rooms.",
    "chatd",
)
chatd_members = ServiceMaker(
    "chatd-members",
    "chatd.members.tap",
    "The chatd member service: accounts over AMP for chat daemons started with --members.",
    "chatd-members",
)
