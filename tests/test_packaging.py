"""What `pip install .` installs: every package of the source tree, so that an installed
daemon has every frontend and store the source has (a package missing from pyproject's list
works in the tests, which run from the tree, and fails only once installed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parents[1]


class PackagingTests(SynchronousTestCase):
    def test_every_package_in_the_tree_is_installed(self) -> None:
        listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                     ["tool"]["setuptools"]["packages"])
        found = {".".join(init.parent.relative_to(ROOT).parts)
                 for init in (ROOT / "chatd").rglob("__init__.py")}
        self.assertEqual(sorted(found - listed), [])

    def test_package_data_covers_the_browser_page(self) -> None:
        data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
            "package-data"]
        self.assertIn("static/*", data["chatd.frontends.web"])
        self.assertTrue(list((ROOT / "chatd" / "frontends" / "web" / "static").iterdir()))
