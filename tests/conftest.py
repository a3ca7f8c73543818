"""Run every test inside a throw-away directory, as trial does with _trial_temp, so that
TestCase.mktemp() and anything a test writes never lands in the source tree; give every test
exactly one tier, and hold the unit tier to what it promises.

The tiers (README.md, "Run the tests"): ``daemon`` tests start a process (the real daemon,
the bundled client, any subprocess) or run on the real reactor over loopback; ``external``
tests need a program nobody here wrote (WeeChat, Chromium, redis-server); every other test is
``unit``: in memory, on a fake clock. A module says ``pytestmark = pytest.mark.daemon`` (or a
class carries the mark where a file mixes); nothing marks ``unit``, it is what is left.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

TIERS = ("unit", "daemon", "external")
INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unmarked tests are unit tests; a test with two tiers is refused before anything runs,
    since ``-m unit``, ``-m daemon`` and ``-m external`` must each run it exactly once."""
    for item in items:
        tiers = sorted({mark.name for mark in item.iter_markers() if mark.name in TIERS})
        if len(tiers) > 1:
            raise pytest.UsageError(
                f"{item.nodeid} is in {len(tiers)} test tiers ({', '.join(tiers)}): "
                "give it exactly one (tests/conftest.py)")
        if not tiers:
            # What lives in tests/integration/ drives the daemon, marked or not.
            integration = INTEGRATION in Path(str(item.path)).parents
            item.add_marker(pytest.mark.daemon if integration else pytest.mark.unit)


@pytest.fixture(autouse=True, scope="session")
def _work_in_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    before = Path.cwd()
    where = tmp_path_factory.mktemp("trial")
    os.chdir(where)
    yield where
    os.chdir(before)


def _started_a_process(*args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("a unit test started a process: mark it daemon "
                       "(pytestmark = pytest.mark.daemon; see tests/conftest.py)")


@pytest.fixture(autouse=True)
def _no_process_in_the_unit_tier(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit test that starts a process fails, naming the fix, instead of quietly making the
    unit tier slow and dependent on the machine. Every way Python and Twisted start one goes
    through one of these (reactor.spawnProcess forks or posix_spawns)."""
    if request.node.get_closest_marker("unit") is None:
        return
    for name in ("fork", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, _started_a_process)
    # Refused where Popen starts the child, so every Popen (run, check_output, one imported
    # by name) is caught and Popen cleans up after itself as for any failed start.
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _started_a_process)
