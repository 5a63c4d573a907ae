"""The reference web client in a real browser: Playwright for Python driving Debian's Chromium
(`/usr/bin/chromium`; Playwright's own browser download is not available here) against the
server exactly as `make run` starts it: the local profile, SQLite, the in-memory channel layer,
tasks in process, SMS printed on the console. So these tests also prove what the README
promises a newcomer: `make run` and a browser are enough to play the three roles.

Each module gets its own server in a temporary folder; each test its own programme (a world
from tests/e2e/e2e_world.py, written into the server's database by a separate process) and
fresh browser contexts.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import privacy_guard, processes, services

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PEERLINK_CHROMIUM", "/usr/bin/chromium")
# Where each page's screenshot goes: `make screenshots` points this at docs/screenshots.
SCREENSHOT_DIR = Path(os.environ.get("PEERLINK_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
# As the machine's notes say: without the background-networking flags Chromium keeps trying
# Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAFF_PASSWORD = "pw-for-tests-only"  # tests/support/factories.py make_staff
CODE = re.compile(r"Your peerlink sign-in code is (\d{6})")


@dataclass
class DemoServer:
    """A `make run` server: its address, the demo's printed logins and its console."""

    url: str
    env: dict[str, str]
    console: Path
    seed_output: str
    worlds: int = field(default=0)

    def _script(self, *args: str) -> Any:
        return processes.world_script(self.env, *args)

    def world(self, *, sms: bool = False) -> dict[str, Any]:
        """A programme of its own: a peer supporter, a service user on web chat with a phone,
        and a supervisor on call (e2e_world.py web-safety-world); with `sms`, the person reads
        by SMS and there is no supervisor (sms-world)."""
        self.worlds += 1
        name = f"b{secrets.token_hex(3)}"
        if sms:
            created: dict[str, Any] = self._script("sms-world", name, str(self.worlds))
        else:
            created = self._script("web-safety-world", name, str(self.worlds), "60")
        created["programme"] = name
        created["peer_username"] = f"{name}-peer"
        created["supervisor_username"] = f"{name}-supervisor"
        return created

    def another_person(self, world: dict[str, Any]) -> dict[str, Any]:
        """A second service user ("Second Person", web chat) on the world's caseload."""
        self.worlds += 1
        person: dict[str, Any] = self._script(
            "another-person", world["programme"], str(self.worlds)
        )
        return person

    def session_key(self, user_id: int) -> str:
        keys: dict[str, str] = self._script("sessions", str(user_id))
        return keys[str(user_id)]

    def console_text(self) -> str:
        return self.console.read_text(errors="replace")

    def sign_in_code(self, after: int) -> str:
        """The code the console SMS backend printed after byte `after` of the console."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = CODE.findall(self.console_text()[after:])
            if found:
                return str(found[-1])
            time.sleep(0.1)
        raise AssertionError("no sign-in code appeared on the server's console")

    def assert_console_clean(self) -> None:
        text = self.console_text()
        assert "Traceback" not in text, text[-4000:]
        assert not privacy_guard.PHONE.search(text), "the server's console holds a phone number"


@pytest.fixture(scope="module")
def demo_server(request: pytest.FixtureRequest) -> Iterator[DemoServer]:
    """migrate, seed_demo and uvicorn as the Makefile's `run` target runs them, in a folder of
    its own (PEERLINK_VAR_DIR) on a free port; plus the test module's SERVER_ENV, if any."""
    folder = Path(tempfile.mkdtemp(prefix="peerlink-browser-"))
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    env = processes.inherited_env()
    env.update(
        {
            "PEERLINK_ENV": "local",
            "DJANGO_SETTINGS_MODULE": "peerlink.settings.local",
            "PEERLINK_VAR_DIR": str(folder),
            "PEERLINK_PUBLIC_URL": url,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")]),
            "PYTHONUNBUFFERED": "1",
            **getattr(request.module, "SERVER_ENV", {}),
        }
    )
    console = folder / "console.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        processes.run_step([sys.executable, "manage.py", "migrate", "--noinput"], env)
        seed_output = processes.run_step([sys.executable, "manage.py", "seed_demo"], env)
        with console.open("ab") as out:
            process = subprocess.Popen(
                processes.uvicorn_command(port, "--no-access-log"),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            services._wait_for_port(port, timeout=60, process=process)  # type: ignore[arg-type]
        except RuntimeError as exc:
            raise AssertionError(f"{exc}\n{console.read_text(errors='replace')[-4000:]}") from None
        server = DemoServer(url=url, env=env, console=console, seed_output=seed_output)
        yield server
        server.assert_console_clean()
    finally:
        if process is not None:
            processes.stop(process)
        shutil.rmtree(folder, ignore_errors=True)


# Module scope, not session: Playwright's sync API leaves its event loop set as the thread's
# running loop while it lives, which breaks the asyncio tests that pytest-xdist may run next
# in the same worker. pytest tears a module's fixtures down before another module's test.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if services.services_required():
            pytest.fail(f"{reason} and {services.SERVICES_ENV}=required", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def new_context(browser: Any, demo_server: DemoServer) -> Iterator[Any]:
    """Fresh browser contexts (separate cookies: separate people) for one test, closed after."""
    opened: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(base_url=demo_server.url, **options)
        context.set_default_timeout(15_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
