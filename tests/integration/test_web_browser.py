"""The browser client in a real headless Chromium (Debian's ``chromium``, driven by
playwright), against the real daemon, beside a line-protocol user.

Two browser users and one line user chat in one room, and each sees the others' messages.
A screenshot of each page is saved (the path is printed). Without Chromium the test is
skipped, except under CI (``CI`` set), where a missing browser fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unittest
from pathlib import Path

from tests.integration.harness import Daemon, guest
from tests.integration.test_files_daemon import send_file

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000
_WEB_PORT = re.compile(r"WebFactory starting on (\d+)")
# Where the README's picture of the page comes from: set to a path to refresh it.
README_SHOT = os.environ.get("CHATD_WEB_SCREENSHOT")


def web_port(daemon: Daemon) -> int:
    found = _WEB_PORT.search(daemon.run_log())
    if found is None:
        raise AssertionError(f"no web listener in the log:\n{daemon.run_log()}")
    return int(found.group(1))


class BrowserChatTests(unittest.TestCase):
    def setUp(self) -> None:
        if CHROMIUM is None:
            if os.environ.get("CI"):
                self.fail("chromium is missing (CI installs it: apt-get install chromium)")
            self.skipTest("chromium is not installed")
        data = tempfile.TemporaryDirectory(prefix="chatd-web-")
        self.addCleanup(data.cleanup)
        self.daemon = Daemon(Path(data.name),
                             ["--web", "tcp:0:interface=127.0.0.1"]).start()
        self.addCleanup(self.daemon.cleanup)
        self.artifacts = Path(tempfile.mkdtemp(prefix="chatd-web-shots-"))

    def test_two_browsers_and_a_line_user_each_see_the_others_messages(self) -> None:
        from playwright.sync_api import expect, sync_playwright

        url = f"http://127.0.0.1:{web_port(self.daemon)}/"
        line = guest(self.daemon, "carol")
        line.ok("/join lobby")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {}
            for name, size in (("ann", (1100, 700)), ("bob", (390, 780))):
                page = browser.new_page(viewport={"width": size[0], "height": size[1]})
                page.set_default_timeout(TIMEOUT_MS)
                errors: list[str] = []
                page.on("console", lambda m, e=errors: e.append(m.text)
                        if m.type == "error" else None)
                page.goto(url)
                expect(page.locator("#status")).to_have_text("connected")
                page.fill("#login-name", name)
                page.click("button[data-verb=nick]")
                expect(page.locator("#me")).to_have_text(name)
                page.fill("#join-name", "lobby")
                page.click("button[data-verb=join]")
                expect(page.locator("#title")).to_have_text("lobby")
                pages[name] = (page, errors)

            ann, bob = pages["ann"][0], pages["bob"][0]
            ann.fill("#say", "hello from ann's browser")
            ann.press("#say", "Enter")
            bob.fill("#say", "bob here, on a phone")
            bob.press("#say", "Enter")
            line.send("carol on the line protocol")
            for page in (ann, bob):
                log = page.locator("#log")
                expect(log).to_contain_text("hello from ann's browser")
                expect(log).to_contain_text("bob here, on a phone")
                expect(log).to_contain_text("carol on the line protocol")
                expect(log).to_contain_text("joined")
            # Markup in a message is shown as text, never made into HTML.
            line.send("<b id=injected>bold?</b>")
            expect(ann.locator("#log")).to_contain_text("<b id=injected>bold?</b>")
            self.assertEqual(ann.locator("#injected").count(), 0)
            line.wait_event(lambda e: "hello from ann's browser" in e.text)
            line.wait_event(lambda e: "bob here, on a phone" in e.text)
            # A file shared on the line protocol: its download button fetches a fresh link.
            send_file(line, "lobby", "notes.txt", b"file body\n")
            expect(ann.locator("#log")).to_contain_text("carol shared notes.txt (10 bytes)")
            with ann.expect_download() as waiting:
                ann.locator("#log button.download").last.click()
            download = waiting.value
            self.assertEqual(download.suggested_filename, "notes.txt")
            self.assertEqual(Path(download.path()).read_bytes(), b"file body\n")

            for name, (page, errors) in pages.items():
                shot = self.artifacts / f"{name}.png"
                page.screenshot(path=str(shot))
                print(f"screenshot of {name}'s page: {shot}")
                self.assertEqual(errors, [], f"{name}'s console")
            if README_SHOT:
                ann.screenshot(path=README_SHOT)
            browser.close()
        line.close()
        self.assertEqual(self.daemon.problems(), [])
