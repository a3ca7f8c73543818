"""SIGHUP reloads limits and certificates without dropping anyone; TLS is Mozilla
"intermediate" (no TLS 1.1, no non-forward-secret suites)."""

from __future__ import annotations

import shutil
import signal
import ssl
import time
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import Daemon, LineClient, make_tls_files

pytestmark = pytest.mark.daemon


# How long to wait for a log line: each wait ends when it appears, so a generous bound costs
# nothing when the machine is idle and spares a false failure when it is not.
WAIT = 30.0


class ReloadAndTLSTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp()).absolute()
        self.dir.mkdir(parents=True)
        self.ca, key, cert = make_tls_files(self.dir)
        self.key, self.cert = self.dir / "key.pem", self.dir / "cert.pem"
        shutil.copy(key, self.key)
        shutil.copy(cert, self.cert)
        self.config = self.dir / "chatd.toml"
        # No paste queue: the line over the rate is refused at once, not held back.
        self.config.write_text("messages-burst = 3\nmessages-per-second = 0.1\npaste-queue = 0\n")
        self.daemon = Daemon(self.dir / "data", [
            "--config", str(self.config),
            "--line", f"ssl:0:interface=127.0.0.1:privateKey={self.key}:certKey={self.cert}",
        ], exempt=False).start()
        self.addCleanup(self.daemon.cleanup)
        # Started services log in order; SIGHUP is only safe once its handler is in.
        deadline = time.monotonic() + WAIT
        while "SIGHUP reloads" not in self.daemon.run_log():
            self.assertLess(time.monotonic(), deadline, self.daemon.run_log())
            time.sleep(0.02)

    def tls(self, **settings: object) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca))
        for name, value in settings.items():
            setattr(context, name, value)
        return context

    def connect(self, context: ssl.SSLContext) -> LineClient:
        client = LineClient.connect(self.daemon.port, tls=context)
        self.addCleanup(client.close)
        return client

    def test_old_protocols_and_weak_suites_are_refused(self) -> None:
        self.connect(self.tls()).login("nick", "modern")
        with self.assertRaises(ssl.SSLError):
            self.connect(self.tls(maximum_version=ssl.TLSVersion.TLSv1_1))
        weak = self.tls(maximum_version=ssl.TLSVersion.TLSv1_2)
        weak.set_ciphers("AES128-GCM-SHA256")  # RSA key exchange: not forward-secret
        with self.assertRaises(ssl.SSLError):
            self.connect(weak)
        strong = self.tls(maximum_version=ssl.TLSVersion.TLSv1_2)
        strong.set_ciphers("ECDHE+AESGCM")
        self.connect(strong).login("nick", "tls12")

    def test_sighup_reloads_limits_and_certificate_keeping_everyone(self) -> None:
        ann = self.connect(self.tls())
        ann.login("nick", "ann")
        ann.ok("/join lobby")
        for i in range(3):
            ann.send(f"burst {i}")
        self.assertEqual(ann.command("over the limit").code, 429)

        self.config.write_text("messages-burst = 50\nmessages-per-second = 10\n")
        other = self.dir / "other"
        other.mkdir()
        new_ca, new_key, new_cert = make_tls_files(other)
        shutil.copy(new_key, self.key)
        shutil.copy(new_cert, self.cert)
        assert self.daemon.process is not None
        self.daemon.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while "reloaded the limits and 1 TLS certificates" not in self.daemon.run_log():
            self.assertLess(time.monotonic(), deadline, self.daemon.run_log())
            time.sleep(0.05)

        # The bucket refills at the new rate: 15 tokens in 1.5 s at 10 a second, where the old
        # rate gives 0.15; the 10 messages below need the new one, with room to spare for a
        # busy machine and the daemon's wall clock against this process's monotonic one (a
        # 1.0 s sleep left exactly the 10 tokens needed).
        time.sleep(1.5)
        for i in range(10):
            ann.send(f"after reload {i}")
        ann.sync()
        self.assertFalse(any(line.code == 429 for line in ann.events if line.code >= 400))
        self.assertTrue(ann.seen("101 [lobby] <ann> after reload 9"))
        with self.assertRaises(ssl.SSLError):
            self.connect(self.tls())  # the old CA no longer vouches for the server
        fresh = LineClient.connect(self.daemon.port,
                                   tls=ssl.create_default_context(cafile=str(new_ca)))
        self.addCleanup(fresh.close)
        fresh.login("nick", "bea")

    def test_bad_reload_keeps_the_old_settings(self) -> None:
        self.config.write_text('messages-burst = "lots"\n')
        assert self.daemon.process is not None
        self.daemon.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while "reload refused" not in self.daemon.run_log():
            self.assertLess(time.monotonic(), deadline, self.daemon.run_log())
            time.sleep(0.05)
        self.connect(self.tls()).login("nick", "still")
        self.assertIn("messages-burst: expected a whole number", self.daemon.run_log())
