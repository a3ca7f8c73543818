"""A listener that can't be had, or an endpoint string that does not parse, is one line that
names the option and says why in words."""

from __future__ import annotations

import errno

from twisted.application.service import Service
from twisted.internet.error import CannotListenError
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from chatd.listening import ListenOrExit, ListenOrWarn, endpoint_problem


class Refusing(Service):
    """A listener whose bind fails as the kernel said."""

    def __init__(self, code: int) -> None:
        self.code = code

    def privilegedStartService(self) -> None:
        raise CannotListenError("127.0.0.1", 80, OSError(self.code, "refused"))


class ListenOrExitTests(SynchronousTestCase):
    def refusal(self, code: int) -> str:
        holder = ListenOrExit("chatd", "line", "tcp:80", Refusing(code))
        error = self.assertRaises(SystemExit, holder.privilegedStartService)
        line = str(error.code)
        self.assertNotIn("\n", line)
        self.assertTrue(line.startswith("chatd: --line tcp:80"), line)
        return line

    def test_a_port_in_use(self) -> None:
        self.assertIn("is in use", self.refusal(errno.EADDRINUSE))

    def test_a_low_port_without_root(self) -> None:
        line = self.refusal(errno.EACCES)
        self.assertIn("permission denied", line)
        self.assertIn("below 1024", line)

    def test_an_address_the_machine_lacks(self) -> None:
        self.assertIn("no such address", self.refusal(errno.EADDRNOTAVAIL))

    def test_anything_else_says_what_the_system_said(self) -> None:
        self.assertIn("refused", self.refusal(errno.EINVAL))


class ListenOrWarnTests(SynchronousTestCase):
    def test_a_listener_the_daemon_chose_itself_is_warned_of_and_let_go(self) -> None:
        holder = ListenOrWarn("chatd", "control", "unix:/long/path/control.sock",
                              Refusing(errno.EINVAL))
        warned: list[dict[str, object]] = []
        globalLogPublisher.addObserver(warned.append)
        self.addCleanup(globalLogPublisher.removeObserver, warned.append)
        holder.privilegedStartService()
        holder.startService()
        self.assertEqual(list(holder), [])
        self.assertEqual([event["problem"] for event in warned if "problem" in event],
                         ["--control unix:/long/path/control.sock: can't listen there: "
                          "refused"])
        self.successResultOf(holder.stopService())


class EndpointProblemTests(SynchronousTestCase):
    def test_a_port_that_is_not_a_number(self) -> None:
        problem = endpoint_problem(ValueError("invalid literal for int() with base 10: 'x'"))
        self.assertIn("the port must be a number", problem)

    def test_a_missing_file(self) -> None:
        problem = endpoint_problem(FileNotFoundError(errno.ENOENT, "No such file", "/k.pem"))
        self.assertEqual(problem, "No such file /k.pem")

    def test_other_errors_keep_their_text(self) -> None:
        self.assertEqual(endpoint_problem(ValueError("odd")), "odd")


class AdminHelpTests(SynchronousTestCase):
    def test_the_description_is_whole_sentences(self) -> None:
        import contextlib
        import io

        from chatd.members.admin import parse

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertRaises(SystemExit, parse, ["--help"])
        text = " ".join(out.getvalue().split())
        self.assertIn("repair journals; move embedded accounts and rooms into the member "
                      "service; list and end a running chatd's held seats.", text)
