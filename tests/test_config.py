"""Settings: defaults < TOML file < command line, and one-line errors naming the culprit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from chatd.config import KEYS
from chatd.core.service import Limits
from chatd.files.store import FileLimits
from chatd.frontends.admission import AdmissionLimits
from chatd.frontends.irc import Options as IRCOptions
from chatd.frontends.line import DEFAULT_LINE
from chatd.frontends.line import Options as LineOptions
from chatd.frontends.web.options import Options as WebOptions
from chatd.history.memory import Retention
from chatd.kernel.keys import DEFAULTS
from chatd.kernel.ratelimit import LoginThrottle
from chatd.kernel.settings import Settings, from_settings
from chatd.members.passwords import HashParameters
from chatd.members.tap import KEYS as MEMBER_KEYS
from chatd.members.tap import Options as MemberOptions
from chatd.tap import Options


class OptionsTests(SynchronousTestCase):
    def parse(self, *argv: str) -> Settings:
        options = Options()
        options.parseOptions(list(argv))
        return options.settings

    def config(self, text: str) -> str:
        path = Path(self.mktemp())
        path.write_text(text)
        return str(path)

    def test_every_setting_has_a_key(self) -> None:
        self.assertEqual(set(self.parse().keys()), set(KEYS))

    def test_defaults(self) -> None:
        settings = self.parse()
        self.assertEqual(settings.line, (DEFAULT_LINE,))
        self.assertEqual(settings.max_line, 2048)
        self.assertFalse(settings.require_account)
        self.assertEqual(settings.max_sessions_per_account, 5)

    def test_command_line(self) -> None:
        settings = self.parse("--line", "tcp:1234", "--line", "tcp:1235", "--max-users", "7",
                              "--data", "d", "--idle-timeout", "2.5", "--require-account")
        self.assertEqual(settings.line, ("tcp:1234", "tcp:1235"))
        self.assertEqual(settings.max_users, 7)
        self.assertEqual(settings.idle_timeout, 2.5)
        self.assertTrue(settings.require_account)
        self.assertTrue(settings.data.is_absolute())

    def test_file_then_command_line(self) -> None:
        path = self.config('max-users = 9\nmax-line = 100\nline = ["tcp:4000"]\n'
                           'require-account = true\n')
        settings = self.parse("--config", path, "--max-users", "3")
        self.assertEqual((settings.max_users, settings.max_line), (3, 100))
        self.assertEqual(settings.line, ("tcp:4000",))
        self.assertTrue(settings.require_account)

    def assertRefused(self, fragment: str, *argv: str) -> None:
        """One line naming the culprit and a hint at --help: never the whole usage."""
        error = self.assertRaises(SystemExit, self.parse, *argv)
        line = str(error.code)
        self.assertTrue(line.startswith("twistd chatd: "), line)
        self.assertIn(fragment, line)
        self.assertTrue(line.endswith(" (see twistd chatd --help)"), line)
        self.assertNotIn("\n", line)

    def test_bad_values(self) -> None:
        self.assertRefused("--max-users: expected a whole number", "--max-users", "abc")
        self.assertRefused("--max-users: expected a whole number", "--max-users", "0")
        self.assertRefused("--idle-timeout", "--idle-timeout", "-1")
        self.assertRefused("--line 'nope:1'", "--line", "nope:1")
        self.assertRefused("--line 'ssl:0:privateKey=/missing.pem'", "--line",
                           "ssl:0:privateKey=/missing.pem")

    def test_bad_file(self) -> None:
        self.assertRefused("frobs: unknown setting", "--config", self.config("frobs = 1\n"))
        self.assertRefused("max-line: expected", "--config", self.config('max-line = "x"\n'))
        self.assertRefused("require-account: expected true or false", "--config",
                           self.config('require-account = "maybe"\n'))
        self.assertRefused("not valid TOML", "--config", self.config("= = =\n"))
        self.assertRefused("--config /nonexistent.toml", "--config", "/nonexistent.toml")

    def test_members_timeout(self) -> None:
        self.assertEqual(self.parse().members_timeout, 5.0)
        self.assertEqual(self.parse("--members-timeout", "1.5").members_timeout, 1.5)
        self.assertRefused("--members-timeout: expected seconds from 0.1 to 60",
                           "--members-timeout", "0")
        self.assertRefused("members-timeout: expected a number", "--config",
                           self.config('members-timeout = "soon"\n'))

    def test_room_limits_consistent(self) -> None:
        self.assertRefused("default-room-limit", "--default-room-limit", "50",
                           "--max-room-limit", "10")

    def test_reserved_names_replace_the_default_list(self) -> None:
        self.assertIn("nickserv", self.parse().reserved_names)
        self.assertEqual(self.parse("--reserved-names", "boss, owner").reserved_names,
                         ("boss", "owner"))
        self.assertEqual(self.parse("--config", self.config('reserved-names = ["boss"]\n'))
                         .reserved_names, ("boss",))
        self.assertRaises(SystemExit, self.parse, "--reserved-names", "a b")

    def test_a_float_is_not_a_whole_number(self) -> None:
        for text in ("max-users = 5.5\n", "max-users = 5.0\n"):
            self.assertRefused("max-users: expected a whole number", "--config",
                               self.config(text))
        self.assertRefused("--max-users: expected a whole number", "--max-users", "5.5")

    def test_help_shows_every_default(self) -> None:
        text = str(Options())
        for fragment in ("[default: 10000]", "[default: chatd-data]", "[default: off]",
                         "[default: tcp:7777:interface=127.0.0.1]", "[default: 2]"):
            self.assertIn(fragment, " ".join(text.split()))

    def test_help_shows_numbers_and_names_as_written(self) -> None:
        words = str(Options()).split()
        self.assertIn("2592000]", words)  # --history-max-age, not 2.592e+06
        # The reserved names wrap between names, never inside one.
        for name in ("postmaster,", "webmaster,", "hostmaster,", "nickserv,"):
            self.assertIn(name, words)

    def test_direct_send_is_on_unless_turned_off(self) -> None:
        self.assertTrue(self.parse().direct_send)
        self.assertFalse(self.parse("--direct-send", "false").direct_send)
        self.assertFalse(self.parse("--config", self.config("direct-send = false\n"))
                         .direct_send)
        settings = self.parse("--direct-send", "off")
        self.assertFalse(LineOptions.from_settings(settings).connection.direct_send)
        self.assertFalse(IRCOptions.from_settings(settings).connection.direct_send)
        self.assertRefused("--direct-send: expected true or false", "--direct-send", "maybe")

    def test_reload_tells_which_keys_need_a_restart(self) -> None:
        restart_only = {name for name, key in KEYS.items() if not key.reloadable}
        for name in ("line", "irc", "metrics", "data", "members", "members-secret",
                     "signups-per-address", "signups-total", "hash-time-cost", "hash-queue",
                     "reserved-names", "exempt"):
            self.assertIn(name, restart_only)
        for name in ("max-users", "messages-burst", "max-line", "direct-send",
                     "members-timeout", "login-failures-per-address"):
            self.assertNotIn(name, restart_only)


class DefaultsTests(SynchronousTestCase):
    """Each default is written once, in its key: the components' own defaults are the same."""

    def test_components_take_their_defaults_from_the_keys(self) -> None:
        settings = Options().settings
        for kind in (Limits, AdmissionLimits, LoginThrottle, HashParameters, FileLimits,
                     Retention):
            self.assertEqual(kind(), from_settings(kind, settings))
        self.assertEqual(LineOptions(), LineOptions.from_settings(settings))
        # But the server's name, which defaults to the host's: an Options() made in a test
        # keeps the fixed "chatd", so server lines read the same on every machine.
        self.assertEqual(replace(IRCOptions(), server_name=KEYS["server-name"].default),
                         IRCOptions.from_settings(settings))
        # The web's shared options are the others', but for its paste queue: none.
        web = WebOptions.from_settings(settings)
        self.assertEqual(WebOptions().connection, web.connection)
        self.assertEqual(replace(web.connection, paste_queue=DEFAULTS["paste-queue"]),
                         LineOptions.from_settings(settings).connection)
        self.assertEqual(0, web.connection.paste_queue)

    def test_the_member_daemon_shares_the_hashing_and_throttle_keys(self) -> None:
        for name in ("hash-time-cost", "hash-memory-kib", "hash-parallelism", "hash-threads",
                     "hash-queue", "login-failures-per-account", "login-failures-per-address"):
            self.assertIs(MEMBER_KEYS[name], KEYS[name])


class MemberOptionsTests(SynchronousTestCase):
    """``twistd chatd-members`` reads its settings as chatd does, TOML file included."""

    def parse(self, *argv: str) -> Settings:
        options = MemberOptions()
        options.parseOptions(list(argv))
        return options.settings

    def config(self, text: str) -> str:
        path = Path(self.mktemp())
        path.write_text(text)
        return str(path)

    def test_a_toml_file_then_the_command_line(self) -> None:
        data = Path(self.mktemp()).absolute()
        path = self.config(f'data = "{data}"\nhash-queue = 7\nhash-threads = 3\n'
                           'login-failures-per-account = 2\n')
        settings = self.parse("--config", path, "--hash-threads", "4")
        self.assertEqual((settings.hash_queue, settings.hash_threads), (7, 4))
        self.assertEqual(settings.login_failures_per_account, 2)
        self.assertEqual(settings.data, data)
        self.assertTrue(data.is_dir())
        self.assertEqual(settings.listen, f"unix:{data}/members.sock:mode=600:lockfile=1")
        self.assertIsNone(settings.secret_file)

    def test_bad_settings_get_one_line_naming_the_key(self) -> None:
        data = str(Path(self.mktemp()).absolute())
        for argv, fragment in (
            (["--config", self.config("frobs = 1\n")], "frobs: unknown setting"),
            (["--config", self.config("hash-queue = 5.5\n")], "hash-queue: expected a whole"),
            (["--hash-threads", "0"], "--hash-threads: expected a whole number from 1 to 64"),
            (["--config", "/nonexistent.toml"], "--config /nonexistent.toml"),
            (["--listen", "nope:1"], "--listen 'nope:1'"),
        ):
            error = self.assertRaises(SystemExit, self.parse, "--data", data, *argv)
            line = str(error.code)
            self.assertIn(fragment, line)
            self.assertTrue(line.endswith(" (see twistd chatd-members --help)"), line)
            self.assertNotIn("\n", line)

    def test_help_shows_every_default(self) -> None:
        text = "".join(str(MemberOptions()).split())  # help wraps at hyphens too
        for fragment in ("--config", "[default: chatd-members-data]", "[default: 64]",
                         "[default: unix:DATA/members.sock:mode=600:lockfile=1]",
                         "[default: DATA/members.secret, created if missing]"):
            self.assertIn("".join(fragment.split()), text)
