"""Settings machinery shared by both daemons: keys, parsers, and defaults < TOML < command line.

A ``Key`` declares one setting once: how its value is parsed (which also validates it), its
help, its default, whether a SIGHUP reload can apply it, and how it looks on the command line
(a flag, a repeatable option, or ``--key VALUE``). Its TOML key is its name, its option is
``--`` plus that name. ``load_settings`` turns a table of keys, a TOML file and what the command
line gave into one frozen ``Settings``; a bad value raises ``ConfigError`` with one line naming
the key, which ``SettingsOptions`` (the twistd options built from a table) turns into a usage
error. The keys themselves are declared in ``chatd.kernel.keys`` (shared), the frontends,
``chatd.config`` and ``chatd.members.tap``.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from twisted.python import usage

from chatd.kernel.errors import BadName
from chatd.kernel.names import check_room_name, check_user_name


class ConfigError(ValueError):
    """A setting is missing, unknown, or out of range; the message names it."""


# -- parsers: each converts a TOML or command-line value, or raises ValueError saying why ----


def whole(low: int, high: int) -> Callable[[Any], int]:
    """A whole number from ``low`` to ``high``."""

    def parse(value: Any) -> int:
        # A float (TOML 5.5, or 5.0) is refused rather than truncated: 5.5 users is a typo.
        if isinstance(value, bool | float):
            raise ValueError(f"expected a whole number from {low} to {high}, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"expected a whole number from {low} to {high}, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {number}")
        return number

    return parse


def _number(value: Any, unit: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number {unit}, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number {unit}, got {value!r}") from None


def _between(low: float, high: float, unit: str, shown: str) -> Callable[[Any], float]:
    """A number ``unit`` from ``low`` to ``high``; ``shown`` is the range as the error says it."""

    def parse(value: Any) -> float:
        number = _number(value, unit)
        if not low <= number <= high:
            raise ValueError(f"expected {shown}, got {value!r}")
        return number

    return parse


# Seconds from 0 (off) to a week.
seconds = _between(0, 7 * 86400, "of seconds", "seconds from 0 (off) to 604800")
# Seconds from 0.1 to 60: how long to wait for an answer.
deadline = _between(0.1, 60, "of seconds", "seconds from 0.1 to 60")
# Seconds from 0 (no limit) to a century: how long something is kept.
age = _between(0, 100 * 365 * 86400, "of seconds", "seconds from 0 (no limit) to 3153600000")
# Seconds from 0.001 to 10: how long writes are gathered before they are made.
window = _between(0.001, 10, "of seconds", "seconds from 0.001 to 10")
# Events per second.
rate = _between(0.01, 1_000_000, "per second", "0.01 to 1000000 per second")


def boolean(value: Any) -> bool:
    """TOML true/false, or yes/no, on/off, 1/0 on the command line."""
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def endpoints(value: Any) -> tuple[str, ...]:
    """One endpoint string, or a list of them (checked by whoever listens on them)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected an endpoint string or a list of them")
    return tuple(items)


def networks(value: Any) -> tuple[str, ...]:
    """Addresses or networks (CIDR)."""
    items = endpoints(value)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an address or network (CIDR)") from None
    return items


def names(value: Any) -> tuple[str, ...]:
    """User names: a TOML list, or comma-separated on the command line."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected a list of names (comma-separated on the command line)")
    found = tuple(item.strip() for item in items if item.strip())
    for name in found:
        try:
            check_user_name(name)
        except BadName as error:
            raise ValueError(f"{name!r}: {error}") from None
    return found


def rooms(value: Any) -> tuple[str, ...]:
    """Room names, or ``*`` for every room: a TOML list, or comma-separated."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ValueError("expected room names or * (comma-separated on the command line)")
    found = tuple(item.strip() for item in items if item.strip())
    for room in found:
        if room != "*":
            try:
                check_room_name(room)
            except BadName as error:
                raise ValueError(f"{room!r}: {error}") from None
    return found


def path(value: Any) -> Path:
    """A file or directory, made absolute (relative to the daemon's working directory)."""
    if not isinstance(value, str | Path) or not str(value):
        raise ValueError("expected a path")
    return Path(value).expanduser().absolute()


# -- keys and settings ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    """One setting, declared once."""

    parse: Callable[[Any], Any]
    help: str
    default: Any
    # A SIGHUP reload applies it; if not, a changed value is logged as needing a restart.
    reloadable: bool = True
    # --KEY alone turns it on (it can't be turned off on the command line).
    flag: bool = False
    # --KEY VALUE may be given several times; each adds one value (a TOML list).
    repeatable: bool = False
    # What --help shows as the default when it is worked out at start (from another key).
    shown: str = ""


def listeners(help: str, default: tuple[str, ...] = ()) -> Key:
    """A listener key: Twisted endpoint strings, repeatable, bound only at start."""
    return Key(endpoints, help, default, reloadable=False, repeatable=True)


def defaults(keys: Mapping[str, Key]) -> dict[str, Any]:
    return {name: key.default for name, key in keys.items()}


class Settings:
    """The values of a table of keys, read as attributes (``max-users`` as ``max_users``) or
    by key (``settings["max-users"]``). Frozen: a reload makes a new one."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never a key; and _values itself, before __init__ ran
            raise AttributeError(name)
        try:
            return self._values[name.replace("_", "-")]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Settings are frozen; use replace()")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Settings({dict(self._values)!r})"

    def keys(self) -> list[str]:
        return list(self._values)

    def replace(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with some keys' values changed."""
        unknown = set(changes) - set(self._values)
        if unknown:
            raise KeyError(f"no such settings: {', '.join(sorted(unknown))}")
        return Settings({**self._values, **changes})


# The metadata entry of a dataclass field that names the key its value comes from.
FROM_KEY = "chatd.key"

Record = TypeVar("Record")


def setting(keys: Mapping[str, Key], name: str) -> Any:
    """A dataclass field read from the key ``name`` of ``keys``: its default is the key's, and
    ``from_settings`` fills it from the settings. So a component's limits record names each
    key once, and neither its default nor its reading is written again anywhere."""
    return field(default=keys[name].default, metadata={FROM_KEY: name})


def from_settings(cls: type[Record], settings: Settings, **more: Any) -> Record:
    """The dataclass ``cls`` with each field declared by ``setting`` read from ``settings``;
    ``more`` gives fields that are not settings (or are worked out from several)."""
    values = {item.name: settings[item.metadata[FROM_KEY]] for item in fields(cls)  # type: ignore[arg-type]
              if FROM_KEY in item.metadata}
    return cls(**values, **more)


class Current:
    """The running settings: one frozen ``Settings``, replaced whole by a reload.

    The tap makes one and hands it to what reads settings after start. A part reads
    ``settings`` when it needs a value, or follows it once: ``follow(kind, configure)`` calls
    ``configure`` with ``from_settings(kind, ...)`` after each reload. A reload is one
    ``replace``: no part can be left with half of the old settings and half of the new."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._followers: list[Callable[[Settings], object]] = []

    def follow(self, kind: type[Record], configure: Callable[[Record], object]) -> None:
        def followed(settings: Settings) -> None:
            configure(from_settings(kind, settings))

        self._followers.append(followed)

    def read(self, configure: Callable[[Settings], object]) -> None:
        """Call ``configure`` with the whole settings after each reload."""
        self._followers.append(configure)

    def replace(self, settings: Settings) -> None:
        """The reloaded settings: swapped, then every follower told."""
        self.settings = settings
        for followed in self._followers:
            followed(settings)


def described(key: Key) -> str:
    """A key's help text with its default, for ``--help``."""
    value = key.default
    if key.shown:
        shown = key.shown
    elif isinstance(value, tuple):
        # ", " so that --help wraps between names, never inside one.
        shown = ", ".join(value) if value else "none"
    elif value is None or value == "":
        shown = "none"
    elif isinstance(value, bool):
        shown = "on" if value else "off"
    elif isinstance(value, float) and value.is_integer():
        shown = str(int(value))  # 2592000, not the 2.592e+06 that :g gives
    else:
        shown = str(value)
    return f"{key.help} [default: {shown}]"


def _apply(
    keys: Mapping[str, Key], values: dict[str, Any], given: Mapping[str, Any],
    origin: Callable[[str], str],
) -> None:
    for name, value in given.items():
        key = keys.get(name)
        if key is None:
            raise ConfigError(f"{origin(name)}: unknown setting")
        try:
            values[name] = key.parse(value)
        except ValueError as error:
            raise ConfigError(f"{origin(name)}: {error}") from None


def read_config_file(config: Path) -> dict[str, Any]:
    try:
        with config.open("rb") as f:
            return tomllib.load(f)
    except OSError as error:
        raise ConfigError(f"--config {config}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config}: not valid TOML: {error}") from None


def load_settings(
    keys: Mapping[str, Key], command_line: Mapping[str, Any], config: Path | None
) -> Settings:
    """Defaults < the TOML file ``config`` < the command line (the keys it gave)."""
    values = defaults(keys)
    if config is not None:
        _apply(keys, values, read_config_file(config), lambda name: f"{config}: {name}")
    _apply(keys, values, command_line, lambda name: f"--{name}")
    return Settings(values)


# -- the command line ----------------------------------------------------------------------


def _appender(name: str, key: Key) -> Callable[[usage.Options, str], None]:
    def option(self: usage.Options, value: str) -> None:
        self[name].append(value)

    option.__doc__ = described(key)
    return option


class SettingsOptions(usage.Options):
    """twistd options made from a table of keys (``settings_keys``, set by each subclass;
    not ``keys``, which is the dict's): ``--KEY VALUE``, flags and repeatable options as the
    keys say, and ``--config FILE``. After parsing, ``settings`` holds the result and
    ``given`` what the command line gave, so that a reload can read the file again and apply
    the command line on top."""

    settings_keys: ClassVar[Mapping[str, Key]] = {}
    # How the user started the daemon, for the hint under a one-line error.
    command: ClassVar[str] = "twistd"
    optParameters: ClassVar[list[list[Any]]] = []
    optFlags: ClassVar[list[list[Any]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # usage.Options gathers these class attributes (and opt_* methods) from every class
        # of the hierarchy: each class declares the options of the keys it adds.
        inherited = {name for base in cls.__mro__[1:]
                     for name in getattr(base, "settings_keys", {})}
        added = {name: key for name, key in cls.settings_keys.items() if name not in inherited}
        cls.optParameters = [[name, None, None, described(key)] for name, key in added.items()
                             if not key.flag and not key.repeatable]
        cls.optFlags = [[name, None, described(key)] for name, key in added.items() if key.flag]
        for name, key in added.items():
            if key.repeatable:
                setattr(cls, "opt_" + name.replace("-", "_"), _appender(name, key))

    def __init__(self) -> None:
        super().__init__()
        for name, key in self.settings_keys.items():
            if key.repeatable:
                self[name] = []
        self.config: Path | None = None
        self.given: dict[str, Any] = {}
        self.settings = Settings(defaults(self.settings_keys))

    def parseOptions(self, options: list[str] | None = None) -> None:
        """Parse, and turn any usage error into one line ending in a hint, on standard error,
        with exit status 1: twistd's own handler would print the whole usage first, burying the
        line that says what is wrong."""
        try:
            super().parseOptions(options)
        except usage.UsageError as error:
            raise SystemExit(f"{self.command}: {error} (see {self.command} --help)") from None

    def opt_config(self, config: str) -> None:
        """TOML file of settings (every option is also a key of it; the command line wins)"""
        self.config = Path(config)

    def load(self, command_line: Mapping[str, Any], config: Path | None) -> Settings:
        """The settings from the defaults, ``config`` and ``command_line``; raises
        ConfigError. Subclasses add their checks across keys."""
        return load_settings(self.settings_keys, command_line, config)

    def postOptions(self) -> None:
        self.given = {name: self[name] for name in self.settings_keys
                      if self.get(name) not in (None, [], 0)}
        try:
            self.settings = self.load(self.given, self.config)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
