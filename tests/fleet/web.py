"""Real peers for the dashboard: `edged-fleet web` as a subprocess on a free loopback port, an
HTTP client that keeps cookies, and headless Chromium (Debian's `chromium` + `chromium-driver`)
driven by selenium."""

from __future__ import annotations

import http.cookiejar
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.peers.broker import free_port
from tests.peers.replay import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def fleet_cli(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def add_user(dsn: str, name: str, password: str, lang: str = "fr") -> None:
    out = fleet_cli("user", "add", name, "--lang", lang, "--dsn", dsn, stdin=password + "\n")
    assert out.returncode == 0, out.stderr


class WebServer:
    def __init__(self, dsn: str, broker: tuple[str, int], log: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        args = ["--dsn", dsn, "--listen", f"127.0.0.1:{self.port}"]
        args += ["--broker", f"{broker[0]}:{broker[1]}", *extra]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fleet.cli", "--log-level", "DEBUG", "web", *args],
                stdout=out,
                stderr=out,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        wait_until(self._answers, 60, interval=0.2, what="the dashboard answering")

    def _answers(self) -> bool:
        assert self.proc.poll() is None, self.logs()
        try:
            urllib.request.urlopen(self.url + "/login", timeout=5).close()
            return True
        except OSError:
            return False

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Reply:
    status: int
    body: str
    location: str | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Client:
    """An HTTP client with a cookie jar that never follows redirects (tests look at them)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def request(self, path: str, form: dict | None = None, raw: bytes | None = None) -> Reply:
        data = raw if raw is not None else None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.base + path, data=data)
        try:
            with self.opener.open(req, timeout=30) as resp:
                return Reply(resp.status, resp.read().decode(errors="replace"), None)
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            return Reply(err.code, body, err.headers.get("Location"))

    def csrf(self, path: str) -> str:
        page = self.request(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.body)
        assert found, page
        return found.group(1)

    def login(self, user: str, password: str) -> Reply:
        token = self.csrf("/login")
        return self.request("/login", {"csrf": token, "username": user, "password": password})


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def browser(profile: Path):
    """A headless Chromium with a fresh profile, driven through Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1100,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def remove_profile(profile: Path) -> None:
    shutil.rmtree(profile, ignore_errors=True)
