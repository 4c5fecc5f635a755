"""Helpers of tests/test_browser.py: the pinned npm packages, headless Chromium, and one browser tab running
the test page (``index.html`` and ``client.js`` beside this file) against a live server.

The browser is Debian's ``chromium``, driven by Playwright with the system browser's path (Playwright's own
browser download is not used). Without the browser, npm or Playwright these tests skip, except under CI
(env ``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
# Without these, headless Chromium keeps trying to reach the internet (and as root it needs --no-sandbox).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Deadlines for what must happen, not speed targets.
DEADLINE_MS = 10_000
RECONNECT_DEADLINE_MS = 20_000
# How long a tab must stay silent to show that a frame is not coming.
QUIET_MS = 500


def unavailable(reason: str) -> None:
    """Skip, or under CI fail: there the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


def packages_are_installed() -> bool:
    """Whether node_modules holds exactly the versions package-lock.json pins."""
    locked = json.loads((HERE / "package-lock.json").read_text())["packages"]
    for path, entry in locked.items():
        if not path:
            continue  # the root project
        try:
            installed = json.loads((HERE / path / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return False
        if installed != entry["version"]:
            return False
    return True


def install_packages() -> None:
    """``npm ci`` when node_modules is missing or holds other versions than package-lock.json pins."""
    if packages_are_installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed: it installs the vendor's client code (tests/browser/package.json)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        check=False,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0 or not packages_are_installed():
        pytest.fail(f"npm ci failed in {HERE}:\n{result.stdout}\n{result.stderr}", pytrace=False)


def launch_browser():
    """Playwright and a headless system Chromium; stop both with ``close_browser``."""
    if not Path(CHROMIUM).exists():
        unavailable(f"no browser at {CHROMIUM} (Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    install_packages()
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception:
        playwright.stop()
        raise
    return playwright, browser


def close_browser(playwright, browser) -> None:
    browser.close()
    playwright.stop()


def wait_until(page, condition: Callable[[], Any], message: str, timeout_ms: int = DEADLINE_MS) -> Any:
    """Let Playwright deliver its events until ``condition()`` is truthy; fail with ``message`` after the
    deadline."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_ms} ms: {message}")
        page.wait_for_timeout(20)


class Sockets:
    """Every frame of every socket a page opens, recorded from outside the page (parsed JSON)."""

    def __init__(self, page) -> None:
        self.page = page
        self.opened: list[dict[str, list[dict[str, Any]]]] = []
        page.on("websocket", self._on_socket)

    def _on_socket(self, socket) -> None:
        frames: dict[str, list[dict[str, Any]]] = {"received": [], "sent": []}
        self.opened.append(frames)
        socket.on("framereceived", lambda payload: frames["received"].append(json.loads(payload)))
        socket.on("framesent", lambda payload: frames["sent"].append(json.loads(payload)))

    def wait_subscribed(self, count: int = 1, timeout_ms: int = DEADLINE_MS) -> list[str]:
        """Wait until the ``count``-th socket got ``start`` and subscribed to both channels; returns the
        channels it subscribed to, in order."""

        def subscriptions() -> list[str] | None:
            if len(self.opened) < count:
                return None
            frames = self.opened[count - 1]
            names = [frame.get("name") for frame in frames["sent"] if frame.get("action") == "subscribe"]
            started = any(frame.get("action") == "start" for frame in frames["received"])
            return names if started and {"events", "calendars"} <= set(names) else None

        return wait_until(
            self.page, subscriptions, f"socket #{count} did not start and subscribe", timeout_ms
        )

    def event_frames(self) -> list[dict[str, Any]]:
        return [
            frame for frames in self.opened for frame in frames["received"] if frame.get("action") == "event"
        ]


class Tab:
    """One tab of the test page, signed in with its own token (so its own device, as sessionStorage makes
    it for the widget). It records, from outside the page, every request and every socket frame."""

    def __init__(self, context, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.page = context.new_page()
        self.requests: list[Any] = []
        self.page_errors: list[str] = []
        self.sockets = Sockets(self.page)
        self.page.on("request", lambda request: self.requests.append(request))
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.goto(f"{base}/browser/index.html")
        self.page.evaluate("token => app.start(token)", token)
        self.sockets.wait_subscribed()

    def event_frames(self) -> list[dict[str, Any]]:
        return self.sockets.event_frames()

    # --- the page's app ---------------------------------------------------------------------------------

    def temp_ids(self, count: int) -> list[str]:
        """New temp ids from the widget's own generator (lib-state's ``tempID``)."""
        return self.page.evaluate("n => Array.from({length: n}, () => app.tempID())", count)

    def exec(self, *actions: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        """Run the widget's actions in one task; returns ``{ids, serverIds, sync}`` right after queueing."""
        return self.page.evaluate("actions => app.exec(actions)", [list(action) for action in actions])

    def settle(self) -> None:
        """Wait until every action has had its reply, and check that each REST reply was a success (the
        widget takes any JSON reply for one)."""
        self.page.evaluate("ms => app.settled(ms)", DEADLINE_MS)
        prefix = f"{self.base}/calendar/api/"
        failed = []
        for request in self.requests:
            response = request.response() if request.url.startswith(prefix) else None
            if response is not None and response.status != 200:
                path = request.url.removeprefix(prefix)
                failed.append(f"{request.method} {path}: {response.status} {response.text()}")
        assert failed == [], "REST calls failed"

    def server_id(self, id: Any) -> Any:
        return self.page.evaluate("id => app.serverId(id)", id)

    def local(self, kind: str, id: Any) -> dict[str, Any] | None:
        return self.page.evaluate("([kind, id]) => app.local(kind, id)", [kind, id])

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return self.page.evaluate("app.snapshot()")

    def received(self) -> list[dict[str, Any]]:
        return self.page.evaluate("app.received")

    def wait_received(self, count: int) -> list[dict[str, Any]]:
        """Wait until the socket handlers have been called ``count`` times in all; returns their values."""
        try:
            self.page.wait_for_function("n => app.received.length >= n", arg=count, timeout=DEADLINE_MS)
        except Exception as error:
            raise AssertionError(
                f"expected {count} live updates, got {len(self.received())}: {self.received()}"
            ) from error
        return self.received()

    def wait_heard(self, type: str, id: Any, count: int = 1) -> dict[str, Any]:
        """Wait until the socket handlers got update ``type`` of object ``id`` ``count`` times; returns the
        last one."""
        try:
            self.page.wait_for_function(
                "([type, id, count]) => app.heard(type, id).length >= count",
                arg=[type, id, count],
                timeout=DEADLINE_MS,
            )
        except Exception as error:
            raise AssertionError(f"no {type} of {id} (#{count}) among {self.received()}") from error
        return self.page.evaluate("([type, id]) => app.heard(type, id).at(-1)", [type, id])

    def errors(self) -> list[str]:
        return self.page.evaluate("app.errors") + self.page_errors

    def requests_made(self, *methods: str) -> list[tuple[str, str]]:
        """``(method, path)`` of the page's REST calls, in the order they were made."""
        prefix = f"{self.base}/calendar/api/"
        return [
            (request.method, request.url.removeprefix(prefix))
            for request in self.requests
            if request.url.startswith(prefix) and request.method in (methods or (request.method,))
        ]
