"""The cluster's settings: the Redis URL, node names, and nothing of Redis without them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from twisted.trial.unittest import SynchronousTestCase

from chatd.cluster.url import RedisURL, parse_redis_url
from chatd.config import KEYS, load
from chatd.kernel.settings import ConfigError

from tests.integration.harness import daemon_env, run_twistd

# A node of a cluster shares one member service with the others (the secret's file is only
# read at start, not here).
SHARED = {"members": "tcp:members.example:7780", "members-secret": Path("members.secret")}


class RedisURLTests(SynchronousTestCase):
    def test_host_port_database_password_and_tls(self) -> None:
        self.assertEqual(parse_redis_url("redis://r.example"), RedisURL("r.example"))
        self.assertEqual(parse_redis_url("redis://:s%40cret@10.0.0.2:7000/3"),
                         RedisURL("10.0.0.2", 7000, 3, False, None, "s@cret"))
        self.assertEqual(parse_redis_url("rediss://chat:pw@[::1]/0"),
                         RedisURL("::1", 6379, 0, True, "chat", "pw"))

    def test_the_shown_url_hides_the_password(self) -> None:
        self.assertEqual(parse_redis_url("rediss://:pw@r:7000/2").shown, "rediss://r:7000/2")

    def test_what_is_not_a_redis_url_is_refused_saying_why(self) -> None:
        for bad, why in [("http://r", "redis://"), ("redis://r:port", "port"),
                         ("redis://r/x", "database"), ("redis:///0", "no host"),
                         ("redis://r/0?x=1", "query")]:
            with self.assertRaises(ValueError) as caught:
                parse_redis_url(bad)
            self.assertIn(why, str(caught.exception))

    def test_settings_check_the_url_and_name_the_node_after_the_host(self) -> None:
        with self.assertRaises(ConfigError) as caught:
            load(KEYS, {**SHARED, "cluster": "redis://:pw@r:99999"}, None)
        self.assertIn("cluster:", str(caught.exception))
        settings = load(KEYS, {**SHARED, "cluster": "redis://:pw@r"}, None)
        self.assertRegex(settings.node_name, r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
        self.assertEqual(load(KEYS, {}, None).node_name, "")

    def test_a_cluster_without_a_member_service_is_refused(self) -> None:
        with self.assertRaises(ConfigError) as caught:
            load(KEYS, {"cluster": "redis://:pw@r"}, None)
        self.assertIn("one member service", str(caught.exception))

    def test_a_redis_without_a_password_is_refused_unless_told(self) -> None:
        with self.assertRaises(ConfigError) as caught:
            load(KEYS, {**SHARED, "cluster": "redis://r:7000/1"}, None)
        self.assertIn("cluster: redis://r:7000/1 gives no password", str(caught.exception))
        self.assertIn("cluster-no-password", str(caught.exception))
        settings = load(KEYS, {**SHARED, "cluster": "redis://r", "cluster-no-password": True},
                        None)
        self.assertEqual(settings.cluster, "redis://r")
        self.assertEqual(load(KEYS, {**SHARED, "cluster": "redis://user:@r"}, None).cluster,
                         "redis://user:@r")

    def test_a_node_name_is_one_word(self) -> None:
        for bad in ("two words", "-dash", "a|b", "x" * 64):
            with self.assertRaises(ConfigError):
                load(KEYS, {**SHARED, "cluster": "redis://:pw@r", "node-name": bad}, None)
        self.assertEqual(load(KEYS, {"node-name": "chat-1.eu"}, None).node_name, "chat-1.eu")


@pytest.mark.daemon
class WithoutClusterTests(SynchronousTestCase):
    def test_nothing_of_redis_is_loaded_without_cluster(self) -> None:
        data = Path(self.mktemp()).absolute()
        script = ("import sys\n"
                  "from chatd.tap import Options, makeService\n"
                  "options = Options()\n"
                  f"options.parseOptions(['--data', {str(data)!r}])\n"
                  "makeService(options)\n"
                  "print(sorted(m for m in sys.modules if 'redis' in m\n"
                  "             or m in ('chatd.cluster.node', 'chatd.cluster.link')))\n")
        result = subprocess.run([sys.executable, "-c", script], env=daemon_env(),
                                capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "[]")


@pytest.mark.daemon
class NoPasswordTests(SynchronousTestCase):
    def test_a_node_given_a_redis_without_a_password_exits_with_one_line(self) -> None:
        data = Path(self.mktemp()).absolute()
        data.mkdir(parents=True)
        secret = data / "members.secret"
        secret.write_text("s" * 32 + "\n")
        # Refused before connecting: nothing listens on port 1.
        result = run_twistd(["-n", "chatd", "--data", str(data), "--cluster",
                             "redis://127.0.0.1:1/0", "--members", "tcp:127.0.0.1:1",
                             "--members-secret", str(secret)], data)
        self.assertNotEqual(result.returncode, 0)
        lines = [line for line in (result.stdout + result.stderr).splitlines()
                 if "no password" in line and "--cluster-no-password" not in line]
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertIn("cluster: redis://127.0.0.1:1/0 gives no password", lines[0])


class PasswordFileTests(SynchronousTestCase):
    """The Redis password can stay out of ``ps``: in ``cluster-password-file``."""

    def password_file(self, text: str, mode: int = 0o600) -> Path:
        path = Path(self.mktemp()).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)
        return path

    def test_the_password_file_completes_the_url_and_counts_as_a_password(self) -> None:
        given = {**SHARED, "cluster": "redis://10.0.0.5:6380/2",
                 "cluster-password-file": self.password_file("s@cret pass\n")}
        url = parse_redis_url(load(KEYS, given, None).cluster)
        self.assertEqual(url, RedisURL("10.0.0.5", 6380, 2, False, None, "s@cret pass"))
        named = load(KEYS, {**given, "cluster": "rediss://chat@r/0"}, None)
        self.assertEqual(parse_redis_url(named.cluster),
                         RedisURL("r", 6379, 0, True, "chat", "s@cret pass"))

    def test_a_bad_password_file_or_two_passwords_are_refused_saying_why(self) -> None:
        for path, url, why in [
            (self.password_file("pw\n", 0o644), "redis://r", "readable by others"),
            (self.password_file("\n"), "redis://r", "empty"),
            (Path("/nonexistent/redis.pass"), "redis://r", "No such file"),
            (self.password_file("pw\n"), "redis://:other@r", "in one place"),
        ]:
            with self.assertRaises(ConfigError) as caught:
                load(KEYS, {**SHARED, "cluster": url, "cluster-password-file": path}, None)
            self.assertIn("cluster-password-file:", str(caught.exception))
            self.assertIn(why, str(caught.exception))


class ExampleTests(SynchronousTestCase):
    def test_the_example_cluster_s_node_files_load(self) -> None:
        root = Path(__file__).resolve().parents[1] / "etc" / "cluster"
        settings = [load(KEYS, {}, root / name) for name in ("chat-1.toml", "chat-2.toml")]
        self.assertEqual({s.cluster for s in settings}, {settings[0].cluster})
        self.assertEqual({s.members for s in settings}, {settings[0].members})
        self.assertNotEqual(settings[0].line, settings[1].line)
