"""SIGHUP: the settings read again and swapped whole, and the TLS certificates re-read."""

from __future__ import annotations

import signal
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from chatd.kernel.settings import ConfigError, Current, SettingsOptions
from chatd.tls import ReloadableTLS

log = Logger()


class Reload(Service):
    """SIGHUP: read the configuration again, as ``options`` read it at start (the file, then
    the command line on top), and replace ``current`` with it, and re-read the TLS
    certificate files, without dropping anyone. Settings that only a restart can change (the
    keys not ``reloadable``: listeners, data directory, member service, hashing) are
    reported if they differ, and keep their running values."""

    def __init__(self, options: SettingsOptions, reactor: Any, current: Current,
                 certificates: list[ReloadableTLS]) -> None:
        self.options = options
        self.reactor = reactor
        self.current = current
        self.certificates = certificates
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        self._previous = signal.signal(signal.SIGHUP, self._signalled)
        log.info("ready; SIGHUP reloads the limits and TLS certificates")

    def stopService(self) -> None:
        signal.signal(signal.SIGHUP, self._previous or signal.SIG_DFL)
        super().stopService()

    def _signalled(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reload)

    def reload(self) -> None:
        options = self.options
        try:
            settings = options.load(options.given, options.config)
        except ConfigError as error:
            log.error("reload refused, settings unchanged: {error}", error=str(error))
            return
        running = self.current.settings
        changed = [name for name, key in options.settings_keys.items()
                   if not key.reloadable and settings[name] != running[name]]
        if changed:
            log.warn("reload: {keys} changed; restart to apply", keys=", ".join(changed))
            # Until the restart, every part goes on with what it started with, so that no
            # two parts disagree (a greeting offering what the login refuses).
            settings = settings.replace({name: running[name] for name in changed})
        self.current.replace(settings)
        reloaded = 0
        for tls in self.certificates:
            try:
                tls.reload()
                reloaded += 1
            except Exception as error:
                log.error("reload: TLS files of {listener} unusable, keeping the old: {error}",
                          listener=tls.description, error=str(error))
        log.info("reloaded the limits and {count} TLS certificates", count=reloaded)
