"""Who may become a server operator (the settings' declarations), and the server's address
bans: what the registry holds for ``chatd.core.operators``, apart from it so that the registry
names it without importing the operations that use the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.logger import Logger

from chatd.core.rooms import User
from chatd.kernel.interfaces import IAddressBans
from chatd.kernel.keys import OPERATORS
from chatd.kernel.names import fold
from chatd.kernel.settings import setting

log = Logger()


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    """Who may become an operator: accounts by name, and ``oper`` blocks (name, hash)."""

    accounts: tuple[str, ...] = setting(OPERATORS, "operators")
    blocks: tuple[tuple[str, str], ...] = setting(OPERATORS, "oper")


class Operators:
    """The server's operator declarations and its address bans (None: no ban store)."""

    def __init__(self, users: dict[str, User]) -> None:
        self._users = users  # the registry's online users
        self.accounts: frozenset[str] = frozenset()
        self.blocks: dict[str, str] = {}
        self.bans: IAddressBans | None = None

    def configure(self, settings: OperatorSettings) -> None:
        """New declarations (at start and each reload): an operator whose block or account
        is no longer declared stops being one now."""
        self.accounts = frozenset(fold(name) for name in settings.accounts)
        self.blocks = dict(settings.blocks)
        for user in self._users.values():
            if user.operator and not self.declared(user.operator, user.key):
                log.info("{user} is no longer a server operator: {name} is no longer declared",
                         user=user.name, name=user.operator)
                user.operator = ""

    def declared(self, name: str, user_key: str) -> bool:
        """Whether the user ``user_key`` may stay an operator it became as ``name``."""
        return name in self.blocks or (name == user_key and name in self.accounts)
