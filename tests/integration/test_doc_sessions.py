"""The sample sessions of the README and docs/protocol.md, replayed against a real daemon.

Each session (see ``doc_sessions`` for how the docs mark them) gets a daemon of its own with a
fresh data directory; every line the docs show the server sending must be what it sends today,
times, ids and ports aside. A failure names the doc's line and what the server said instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.integration.doc_sessions import Session, replay, sessions
from tests.integration.harness import REPO, Daemon

DOCS = (REPO / "README.md", REPO / "docs" / "protocol.md")


class DocSessionTests(SynchronousTestCase):
    """One test per sample session, named after its doc and its session."""

    def test_the_docs_have_sessions(self) -> None:
        found = {path.name: len(sessions(path)) for path in DOCS}
        self.assertTrue(all(found.values()), found)

    def replay(self, session: Session) -> None:
        with tempfile.TemporaryDirectory(prefix="chatd-it-doc-") as data:
            daemon = Daemon(Path(data) / "data", session.daemon_args).start()
            try:
                replay(session, daemon)
                daemon.stop()
                self.assertEqual(daemon.problems(), [], daemon.run_log())
            finally:
                daemon.cleanup()


def _add_tests() -> None:
    for path in DOCS:
        for session in sessions(path):
            name = f"test_{path.stem}_{session.name}".replace("-", "_").lower()

            def test(self: DocSessionTests, session: Session = session) -> None:
                self.replay(session)

            test.__doc__ = f"{session.where}: the session {session.name!r} as the server runs it"
            setattr(DocSessionTests, name, test)


_add_tests()
