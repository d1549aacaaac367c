"""Browser tests: Debian's headless Chromium, driven by Playwright, on pytest-django's live server.

Playwright's own browser download cannot run here, so the browser is the
system's: `/usr/bin/chromium`, or `$CHROMIUM_PATH`; without it the browser
tests are skipped with the reason (CI installs Debian's `chromium` package).

Fixtures (tests/conftest.py registers this module as a plugin):

- `page`: a fresh browser page whose relative URLs go to the live server
  (`page.goto("/admin/")`). The live server is a thread of the test process
  on the committed data, so these tests run on `transactional_db`.
- Every page runs under the site's Content-Security-Policy, and the `page` fixture
  fails its test if the browser reports a violation (a `securitypolicyviolation`
  event, or Chromium's own "Refused to ... Content Security Policy" console error)
  on any page the test visited: `csp_violations` lists what was reported.
- `screenshots`: call it with the page and a step's name to save a PNG
  (`screenshots(page, "answered")` -> `01-answered.png`), one folder per test,
  in a folder named after the run (`<UTC time>-<short commit>`, "run" outside a
  git checkout) under `$SCREENSHOTS_DIR`, else under the run's temporary folder:
  `screenshots/20261126T041236Z-0142717/test_name/01-answered.png`, so a reviewer
  can tell runs apart. The run's folder is printed at the end of the run.

Playwright's sync API runs its own event loop: it refuses to start inside a
running asyncio loop, and while it is alive Django's ORM would think it is
called from async code, hence `DJANGO_ALLOW_ASYNC_UNSAFE` during these tests
only (the test and the server each still use their own connection in one
thread). So the browser lives for one test, not the whole run: about a second.
A module of browser tests only says `BROWSER_SCOPE = "module"` to share one browser (and
one Playwright) among its tests: a second saved per test. Each test still gets its own
browser context (`page`: its own cookies and storage) on a freshly flushed database; only
the module's tests run while Playwright's loop lives, so a module mixing other tests keeps
the browser per test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connections

DEFAULT_CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000

_folders: list[Path] = []


def chromium_executable() -> str | None:
    """The Chromium to drive: `$CHROMIUM_PATH`, else Debian's; None if absent."""
    candidate = os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM
    found = shutil.which(candidate) if not os.path.isabs(candidate) else candidate
    return found if found and os.access(found, os.X_OK) else None


@contextlib.contextmanager
def _chromium():
    """Playwright and a headless Chromium, for as long as the block lasts."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            f"No Chromium at {os.environ.get('CHROMIUM_PATH') or DEFAULT_CHROMIUM}: install "
            "Debian's `chromium` package (or set CHROMIUM_PATH) to run the browser tests."
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    # Only while Playwright's loop lives: the other tests keep Django's check.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True)
            try:
                yield chromium
            finally:
                chromium.close()
                # The tests ran in the context Playwright entered, where Django's connections
                # are others than the fixtures' (they are per context): close them before
                # leaving it.
                connections.close_all()


@pytest.fixture(scope="module")
def module_browser():
    """One headless Chromium for a module of browser tests only (`BROWSER_SCOPE`)."""
    with _chromium() as chromium:
        yield chromium


@pytest.fixture
def browser(request):
    """A headless Chromium for one test (started and stopped with it, see above), or the
    module's when it says `BROWSER_SCOPE = "module"`."""
    if getattr(request.module, "BROWSER_SCOPE", "test") == "module":
        yield request.getfixturevalue("module_browser")
        return
    with _chromium() as chromium:
        yield chromium


#: Runs in every document before its own scripts (Playwright's init scripts are not
#: subject to the page's CSP): reports each violation on the console.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " +
    (event.blockedURI || "an inline block") + " in " + event.documentURI +
    (event.sourceFile ? " (" + event.sourceFile + ":" + event.lineNumber + ")" : ""));
});
"""
CSP_REPORT = re.compile(r"CSP violation|Content Security Policy", re.IGNORECASE)


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser reported against the Content-Security-Policy during the test."""
    return []


@pytest.fixture
def page(transactional_db, live_server, browser, csp_violations):
    """A new page (its own cookies) whose relative URLs go to the live server.

    `transactional_db` comes first: the database is set up (and later flushed)
    outside Playwright's context. The test fails if any page it visited broke the
    Content-Security-Policy.
    """
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(CSP_LISTENER)

    def on_console(message) -> None:
        if CSP_REPORT.search(message.text):
            csp_violations.append(f"{message.type}: {message.text}")

    context.on("console", on_console)
    tab = context.new_page()
    yield tab
    context.close()
    assert not csp_violations, "The browser reported CSP violations:\n" + "\n".join(csp_violations)


class Screenshots:
    """A test's screenshot folder; calling it saves the page as the next numbered step."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.taken: list[Path] = []

    def __call__(self, page, step: str, *, full_page: bool = True) -> Path:
        name = re.sub(r"[^\w-]+", "-", step).strip("-") or "step"
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        return path

    def __fspath__(self) -> str:
        return str(self.folder)


def run_name(now: datetime | None = None) -> str:
    """This run's folder name: the UTC time and the commit tested (`run` if unknown)."""
    now = now or datetime.now(UTC)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from the PATH
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{now:%Y%m%dT%H%M%SZ}-{commit or 'run'}"


@pytest.fixture(scope="session")
def screenshots_root(tmp_path_factory) -> Path:
    """The run's screenshot folder, made on the first browser test that takes one."""
    configured = os.environ.get("SCREENSHOTS_DIR")
    base = Path(configured) if configured else tmp_path_factory.getbasetemp() / "screenshots"
    root = base / run_name()
    root.mkdir(parents=True, exist_ok=True)
    _folders.append(root)
    return root


@pytest.fixture
def screenshots(screenshots_root, request) -> Screenshots:
    folder = screenshots_root / re.sub(r"[^\w.-]+", "-", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Screenshots(folder)


def pytest_terminal_summary(terminalreporter):
    """Say where the screenshots are, once the run is over."""
    for folder in _folders:
        terminalreporter.write_line(f"Browser screenshots: {folder}")
