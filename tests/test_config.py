"""Settings: defaults < TOML file < command line, and one-line errors naming the culprit."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from chatd.config import DEFAULT_LINE, KEYS, Settings
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
        self.assertEqual({k.replace("-", "_") for k in KEYS}, {f.name for f in fields(Settings)})

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
        error = self.assertRaises(UsageError, self.parse, *argv)
        self.assertIn(fragment, str(error))
        self.assertNotIn("\n", str(error))

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
        self.assertRaises(UsageError, self.parse, "--reserved-names", "a b")

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
