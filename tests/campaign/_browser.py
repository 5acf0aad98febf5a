"""Headless Chromium driven over the DevTools protocol on a pipe (no extra packages).

Chromium is started with ``--remote-debugging-pipe``: it reads protocol commands from its
file descriptor 3 and writes replies and events to descriptor 4, each message JSON ended
by a NUL byte. WebGL runs in software (ANGLE on SwiftShader), so no GPU is needed; every
network and background service Chromium has is switched off, and a file is opened from
disk with a throw-away profile.

:func:`find_chromium` says where the browser is; :class:`Chromium` opens a page, evaluates
scripts in it, keeps the console errors, exceptions, log errors and the URLs it requested,
and takes screenshots of a region of the page.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "Chromium", "BrowserError", "find_chromium"]

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)

# fd 3 <- commands, fd 4 -> replies: move both out of the way first, then into place
_TRAMPOLINE = (
    "import fcntl, os, sys\n"
    "r = fcntl.fcntl(int(sys.argv[1]), fcntl.F_DUPFD, 20)\n"
    "w = fcntl.fcntl(int(sys.argv[2]), fcntl.F_DUPFD, 20)\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class BrowserError(RuntimeError):
    """Chromium did not start, answered with an error, or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM``, then ``chromium`` / ``chromium-browser`` /
    ``google-chrome`` on ``PATH``), or ``None``."""
    candidates = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                  "google-chrome"]
    for name in candidates:
        path = shutil.which(name) if name else None
        if path:
            return path
    return None


class Chromium:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, *, width: int = 1280, height: int = 1400,
                 timeout: float = 30.0, extra_flags: tuple[str, ...] = ()) -> None:
        self.executable, self.timeout, self.extra_flags = executable, timeout, extra_flags
        self.width, self.height = width, height
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        self._profile = tempfile.TemporaryDirectory(prefix="chggen-chromium-")
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    # ------------------------------------------------------------------ process
    def __enter__(self) -> Chromium:
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        args = [self.executable, *CHROMIUM_FLAGS, *self.extra_flags,
                f"--user-data-dir={self._profile.name}",
                f"--window-size={self.width},{self.height}", "about:blank"]
        self._log = open(Path(self._profile.name) / "chromium.log", "wb")  # noqa: SIM115
        self._process = subprocess.Popen(  # stderr to a file: a full pipe would block it
            [sys.executable, "-c", _TRAMPOLINE, str(cmd_r), str(res_w), *args],
            pass_fds=(cmd_r, res_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log)
        os.close(cmd_r)
        os.close(res_w)
        self._write, self._read = cmd_w, res_r
        try:
            target = self.call("Target.createTarget", {"url": "about:blank"}, browser=True)
            attached = self.call("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 browser=True)
            self._session = attached["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            try:
                self._send("Browser.close", {}, browser=True)
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired, BrowserError):
                process.kill()
                process.wait(timeout=5)
        for fd in (getattr(self, "_write", None), getattr(self, "_read", None)):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if getattr(self, "_log", None) is not None:
            self._log.close()
        self._profile.cleanup()

    # ------------------------------------------------------------------ protocol
    def _send(self, method: str, params: dict[str, Any], browser: bool = False) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session is not None and not browser:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited: {self._stderr_tail()}")
                self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(text)

    def _stderr_tail(self) -> str:
        log = Path(self._profile.name) / "chromium.log"
        try:
            return log.read_bytes().decode(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             browser: bool = False) -> dict[str, Any]:
        """Send one command and wait for its reply (events meanwhile go to ``events``)."""
        ident = self._send(method, params or {}, browser=browser)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for_event(self, method: str) -> dict[str, Any]:
        """The first event named ``method`` (already received or the next ones)."""
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message

    # ------------------------------------------------------------------ page
    def open(self, path: str | Path) -> None:
        """Load a file and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(interval)
        raise BrowserError(f"{expression!r} still false after {self.timeout:.0f} s")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and log entries of level error so far."""
        out = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                  for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                out.append(f"exception: {text}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(f"log: {params['entry'].get('text')}")
        return out

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for since it was opened, ``data:`` URIs left out."""
        urls = [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]
        return [u for u in urls if not u.startswith("data:")]

    def screenshot(self, clip: dict[str, float] | None = None, full_page: bool = False) -> bytes:
        """PNG of ``clip`` (page coordinates: x, y, width, height), or of the viewport, or
        of the whole page with ``full_page``."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if full_page:
            size = self.evaluate("[document.documentElement.scrollWidth, "
                                 "document.documentElement.scrollHeight]")
            clip = {"x": 0, "y": 0, "width": size[0], "height": size[1]}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
