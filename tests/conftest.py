"""Run every test inside a throw-away directory, as trial does with _trial_temp, so that
TestCase.mktemp() and anything a test writes never lands in the source tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _work_in_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    before = Path.cwd()
    where = tmp_path_factory.mktemp("trial")
    os.chdir(where)
    yield where
    os.chdir(before)

