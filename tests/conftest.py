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


@pytest.fixture(autouse=True)
def _irc_server_name_per_test() -> Iterator[None]:
    """The IRC server name is one holder for the process (events render once for every IRC
    connection) and each IRC factory sets it; put it back so no test sees another's name."""
    from chatd.frontends.irc import codec

    before = codec.SERVER.value
    yield
    codec.SERVER.value = before
