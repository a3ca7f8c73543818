"""The browser client in a real headless Chromium (Debian's ``chromium``, driven by
playwright), against the real daemon, beside a line-protocol user.

Two browser users and one line user chat in one room, and each sees the others' messages,
the history from before they came, a file shared from a page; an operator moderates from
the page with the keyboard; a locked room, drawn with an SVG lock (no emoji anywhere), asks
for its password in a field of the page; and a page outlives a restart of the server, with
what was typed meanwhile. A screenshot of each page is saved (the path is printed). Without
Chromium the test is skipped, except under CI (``CI`` set), where a missing browser fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import unicodedata
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Daemon, LineClient, account, guest
from tests.integration.test_files_daemon import get_file, send_file

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000
# The page's back-off doubles from 1 s up to 30 s: a restart is met within a minute.
RECONNECT_MS = 60_000
_WEB_PORT = re.compile(r"WebFactory starting on (\d+)")
# Where the README's picture of the page comes from: set to a path to refresh it.
README_SHOT = os.environ.get("CHATD_WEB_SCREENSHOT")
STATIC = Path(__file__).parents[2] / "chatd" / "frontends" / "web" / "static"
# Everything the page shows or says to a screen reader: its text and its labels.
PAGE_TEXT = """() => [document.body.innerText, ...[...document.querySelectorAll("*")].flatMap(
    (e) => ["aria-label", "title", "placeholder", "value"].map((a) => e.getAttribute(a) || ""))
].join("\\n")"""


def pictographs(text: str) -> list[str]:
    """The emoji and other pictographs (Unicode's "Symbol, other": 🔒, ↻, ✓...) in ``text``:
    a Chromium without an emoji font shows them as empty boxes, so none may carry meaning."""
    return sorted({c for c in text if unicodedata.category(c) == "So"})


def web_port(daemon: Daemon) -> int:
    found = _WEB_PORT.search(daemon.run_log())
    if found is None:
        raise AssertionError(f"no web listener in the log:\n{daemon.run_log()}")
    return int(found.group(1))


@pytest.mark.external
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
        line.send("said before anyone came")
        line.wait_event(lambda e: "said before anyone came" in e.text)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages = {}
            # ann on a desktop in light colours, bob on a phone in dark ones.
            for name, size, scheme in (("ann", (1100, 700), "light"),
                                       ("bob", (390, 780), "dark")):
                page = browser.new_page(viewport={"width": size[0], "height": size[1]},
                                        color_scheme=scheme)
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
            # What was said before they came is shown, marked as history, with its time.
            for page in (ann, bob):
                earlier = page.locator("#log li.history", has_text="said before anyone came")
                expect(earlier).to_have_count(1)
                expect(earlier.locator(".tag")).to_have_text("history")
                expect(earlier.locator("time")).to_have_attribute("datetime", re.compile(r"^20"))
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

            # A file shared from the page: chosen, POSTed, and the room hears of it.
            upload = self.artifacts / "from ann.txt"
            upload.write_bytes(b"a file from a browser\n")
            ann.set_input_files("#file", str(upload))
            expect(bob.locator("#log")).to_contain_text("ann shared from_ann.txt (22 bytes)")
            shared = line.wait_event(lambda e: e.code == 111 and "from_ann.txt" in e.text)
            file_id = shared.text.split(" ")[3]
            self.assertEqual(get_file(line, file_id), b"a file from a browser\n")

            self.moderate(ann, bob, line)

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

    def moderate(self, ann: Any, bob: Any, line: LineClient) -> None:
        """ann makes a room (its first member: its operator), bob joins; ann's page shows
        the moderation controls, bob's does not, and ann uses them from the keyboard."""
        from playwright.sync_api import expect

        for page in (ann, bob):
            page.fill("#join-name", "den")
            page.press("#join-name", "Enter")
            expect(page.locator("#title")).to_have_text("den")
            page.focus("#room-panel summary")
            page.keyboard.press("Enter")  # open the members panel
        expect(ann.locator("#members")).to_contain_text("@ann")
        expect(bob.locator("#members")).to_contain_text("@ann")
        expect(ann.locator("#op-badge")).to_be_visible()
        expect(ann.locator("#mod-form")).to_be_visible()
        expect(bob.locator("#mod-form")).to_be_hidden()
        expect(bob.locator("#mode-form")).to_be_hidden()
        # Room modes: +m, then the room is told.
        expect(ann.locator("#mode-t")).not_to_be_checked()
        ann.check("#mode-m")
        ann.focus("#mode-form button[type=submit]")
        ann.keyboard.press("Enter")
        expect(bob.locator("#log")).to_contain_text("moderated the room")
        # Voice bob, then kick him with a reason: his page hears why.
        ann.locator("#members button", has_text="bob").click()
        expect(ann.locator("#mod-name")).to_have_value("bob")
        ann.focus("button[data-command=voice]")
        ann.keyboard.press("Enter")
        expect(ann.locator("#members")).to_contain_text("+bob")
        ann.fill("#mod-reason", "testing the kick")
        ann.focus("button[data-command=kick]")
        ann.keyboard.press("Enter")
        expect(bob.locator("#log")).to_contain_text("bob was kicked by ann: testing the kick")
        expect(ann.locator("#members")).not_to_contain_text("bob")
        ann.locator("#tabs button", has_text="lobby").click()  # back where the others are

    def test_a_locked_room_shows_an_svg_lock_and_asks_for_its_password_on_the_page(
            self) -> None:
        """carol locks a room; on ann's page (a desktop) it has a lock drawn in SVG, and
        clicking it asks for the password in a dialog of its own: Escape cancels, a wrong
        password is refused there, the right one gets in. bob (a phone) types /join and gets
        the same dialog, never a command to type."""
        from playwright.sync_api import expect

        carol = account(self.daemon, "signup", "carol", "carol-password")
        carol.ok("/create vault")
        carol.ok("/lock vault open-sesame")
        url = f"http://127.0.0.1:{web_port(self.daemon)}/"
        with sync_playwright_browser() as browser:
            ann = self.guest_page(browser, url, "ann", (1100, 700), "light")
            vault = ann.locator("#rooms button", has_text="vault")
            lock = vault.locator("svg.lock")
            expect(lock).to_be_visible()
            expect(vault.get_by_role("img", name="locked")).to_have_count(1)
            box = lock.bounding_box()
            assert box is not None
            self.assertGreater(min(box["width"], box["height"]), 4)
            drawn = lock.evaluate("(svg) => svg.querySelector('path').getBBox().width")
            self.assertGreater(drawn, 0)
            self.assertEqual(pictographs(ann.evaluate(PAGE_TEXT)), [])

            dialog = ann.locator("#unlock")
            vault.click()
            expect(dialog).to_be_visible()
            expect(dialog.locator("h2")).to_have_text("vault is locked")
            expect(ann.locator("#unlock-password")).to_be_focused()
            expect(ann.locator("#unlock-error")).to_have_text("")
            ann.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
            expect(ann.locator("#title")).not_to_have_text("vault")

            # From the join form with a wrong password: the dialog says so.
            ann.fill("#join-name", "vault")
            ann.fill("#join-password", "guessing")
            ann.press("#join-password", "Enter")
            expect(ann.locator("#unlock-error")).to_have_text("wrong password for vault")
            expect(ann.locator("#unlock-password")).to_be_focused()
            ann.keyboard.type("wrong-again")
            ann.keyboard.press("Enter")
            expect(ann.locator("#unlock-error")).to_have_text("wrong password for vault")
            expect(ann.locator("#unlock-password")).to_have_value("")
            ann.screenshot(path=str(self.artifacts / "locked-desktop.png"))
            ann.keyboard.type("open-sesame")
            ann.keyboard.press("Enter")
            expect(dialog).to_be_hidden()
            expect(ann.locator("#title")).to_have_text("vault")
            carol.wait_event(lambda e: "ann joined" in e.text)
            expect(ann.locator("#status")).not_to_contain_text("PASSWORD")

            bob = self.guest_page(browser, url, "bob", (390, 780), "dark")
            bob.fill("#say", "/join vault")
            bob.press("#say", "Enter")
            expect(bob.locator("#unlock")).to_be_visible()
            expect(bob.locator("#unlock-password")).to_be_focused()
            bob.screenshot(path=str(self.artifacts / "locked-phone.png"))
            bob.keyboard.type("open-sesame")
            bob.keyboard.press("Enter")
            expect(bob.locator("#title")).to_have_text("vault")
            expect(ann.locator("#log")).to_contain_text("bob joined")
            for page in (ann, bob):
                expect(page.locator("body")).not_to_contain_text("PASSWORD")
            print(f"screenshots of the password dialog: {self.artifacts}")
        carol.close()
        self.assertEqual(self.daemon.problems(), [])

    def guest_page(self, browser: Any, url: str, name: str, size: tuple[int, int],
                   scheme: str) -> Any:
        """A page of ``browser`` logged in as the guest ``name``."""
        from playwright.sync_api import expect

        page = browser.new_page(viewport={"width": size[0], "height": size[1]},
                                color_scheme=scheme)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        expect(page.locator("#status")).to_have_text("connected")
        page.fill("#login-name", name)
        page.click("button[data-verb=nick]")
        expect(page.locator("#me")).to_have_text(name)
        return page

    def test_the_page_reconnects_and_what_was_typed_survives(self) -> None:
        """The server goes away and comes back: the page reconnects (with back-off), logs
        in and rejoins by itself, and the draft typed meanwhile is still there and sent."""
        from playwright.sync_api import expect

        self.daemon.stop()
        port = free_port()
        self.daemon.extra = ["--web", f"tcp:{port}:interface=127.0.0.1"]
        self.daemon.start()
        with sync_playwright_browser() as browser:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#status")).to_have_text("connected")
            page.fill("#login-name", "ann")
            page.click("button[data-verb=nick]")
            page.fill("#join-name", "lobby")
            page.click("button[data-verb=join]")
            expect(page.locator("#title")).to_have_text("lobby")
            page.fill("#say", "said before the restart")
            page.press("#say", "Enter")
            expect(page.locator("#log")).to_contain_text("said before the restart")
            self.daemon.stop()
            expect(page.locator("#status")).to_contain_text("reconnecting")
            page.fill("#say", "typed while the server was away")
            page.press("#say", "Enter")  # nowhere to send it: it stays
            expect(page.locator("#say")).to_have_value("typed while the server was away")
            self.daemon.start()
            expect(page.locator("#status")).to_have_text("connected", timeout=RECONNECT_MS)
            # Logged in again and back in the room, by itself.
            expect(page.locator("#log li", has_text="ann joined")).to_have_count(2)
            expect(page.locator("#say")).to_have_value("typed while the server was away")
            # The rejoin replays the room's history: what the page has already is not shown
            # twice.
            expect(page.locator("#log li", has_text="said before the restart")).to_have_count(1)
            line = guest(self.daemon, "carol")
            line.ok("/join lobby")
            page.press("#say", "Enter")
            said = line.wait_event(lambda e: "typed while the server was away" in e.text)
            self.assertEqual(said.text, "[lobby] <ann> typed while the server was away")
            expect(page.locator("#say")).to_have_value("")
            page.screenshot(path=str(self.artifacts / "reconnected.png"))
            line.close()
        self.assertEqual(self.daemon.problems(), [])


@pytest.mark.external
class BrowserSeatTests(unittest.TestCase):
    def setUp(self) -> None:
        if CHROMIUM is None:
            if os.environ.get("CI"):
                self.fail("chromium is missing (CI installs it: apt-get install chromium)")
            self.skipTest("chromium is not installed")
        data = tempfile.TemporaryDirectory(prefix="chatd-web-seats-")
        self.addCleanup(data.cleanup)
        self.daemon = Daemon(Path(data.name), ["--web", "tcp:0:interface=127.0.0.1",
                                               "--seat-grace", "120"]).start()
        self.addCleanup(self.daemon.cleanup)

    def test_a_dropped_guest_page_takes_its_seat_back_and_marks_members_inactive(self) -> None:
        """The page's WebSocket is cut: the line user sees ann inactive, then back; the page
        reconnects with its resume token and gets what it missed, once; and it shows a
        member whose seat is held as inactive."""
        from playwright.sync_api import expect

        port = web_port(self.daemon)
        bob = guest(self.daemon, "bob")
        self.addCleanup(bob.close)
        bob.ok("/join lobby")
        with sync_playwright_browser() as browser:
            page = browser.new_page(viewport={"width": 800, "height": 600})
            page.set_default_timeout(TIMEOUT_MS)
            # The page's sockets, so that the test can cut one as a network would.
            page.add_init_script("""(() => { const Real = window.WebSocket;
                window.__sockets = [];
                window.WebSocket = function (...args) {
                  const ws = new Real(...args); window.__sockets.push(ws); return ws; };
                window.WebSocket.OPEN = Real.OPEN; })();""")
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#status")).to_have_text("connected")
            page.fill("#login-name", "ann")
            page.click("button[data-verb=nick]")
            page.fill("#join-name", "lobby")
            page.click("button[data-verb=join]")
            expect(page.locator("#title")).to_have_text("lobby")
            page.evaluate("window.__sockets.at(-1).close()")
            bob.wait_event("124 [lobby] ann is inactive (lost connection)")
            bob.send("said while ann was away")
            bob.wait_event("125 [lobby] ann is back", timeout=RECONNECT_MS / 1000)
            expect(page.locator("#log li", has_text="said while ann was away")).to_have_count(1)
            # bob's own seat held: the page lists him inactive.
            bob.sock.shutdown(socket.SHUT_RDWR)
            expect(page.locator("#log li", has_text="bob is inactive")).to_have_count(1)
            expect(page.locator("#members li.inactive")).to_have_text("@bob (inactive)")
        self.assertEqual(self.daemon.problems(), [])


@contextmanager
def sync_playwright_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.daemon
class PageSourceTests(unittest.TestCase):
    def test_the_page_draws_its_icons_instead_of_using_emoji(self) -> None:
        for name in ("index.html", "app.js"):
            self.assertEqual(pictographs((STATIC / name).read_text(encoding="utf-8")), [], name)

    def test_the_web_listener_suggested_listens_on_loopback_and_public_serving_is_told(
            self) -> None:
        from chatd.frontends.web.options import KEYS

        root = Path(__file__).parents[2]
        advice = {"--web's help": KEYS["web"].help,
                  "README.md": (root / "README.md").read_text(encoding="utf-8"),
                  "chatd.toml.example": (root / "etc" / "chatd.toml.example").read_text(
                      encoding="utf-8")}
        for where, text in advice.items():
            self.assertEqual(re.findall(r"\btcp:\d++(?!:interface=127\.0\.0\.1)", text), [], where)
            self.assertIn("tcp:8080:interface=127.0.0.1", text, where)
            self.assertIn("web-trusted-proxies", text, where)
        self.assertIn("ssl:8443:", KEYS["web"].help)
