"""Fixtures for the real-browser tests: one app server for the whole session, and headless
Chromium per module at the window size the module's WINDOW asks for. Helpers the tests call are
in browser_helpers.py.

One server, because starting Streamlit and its first imports costs tens of seconds on a shared
2-core machine; each module gets its own browser, hence its own Streamlit session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_helpers import ROOT, browser_paths, missing, screenshot

SERVER_START_S = 90
#: A port found free can be taken by another process before Streamlit binds it: try again.
SERVER_TRIES = 3
PAGE_LOAD_S = 120
DEFAULT_WINDOW = (1600, 1000)
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-quic", "--no-first-run",
    "--no-default-browser-check", "--mute-audio",
)
#: Settings the server must not inherit from the shell that runs the tests: no test uploads
#: code, so the server never runs any.
SERVER_ENV_DROPPED = ("RESNET_INSPECTOR_ALLOW_CODE",)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str, server: subprocess.Popen, log: Path) -> bool:
    """Whether the server answers its health check; False when it exited (e.g. port taken)."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    """Chromium and ChromeDriver; asked first, so that without them no server is started."""
    return browser_paths()


@pytest.fixture(scope="session")
def app_url(browser_binaries, tmp_path_factory) -> Iterator[str]:
    """`streamlit run app.py` on a free local port, with an empty data root of its own (the
    Train page then offers the synthetic data); stopped at the end whatever happens."""
    folder = tmp_path_factory.mktemp("streamlit")
    env = {name: value for name, value in os.environ.items() if name not in SERVER_ENV_DROPPED}
    env.update(PYTHONUNBUFFERED="1",
               RESNET_INSPECTOR_DATA_ROOT=str(tmp_path_factory.mktemp("data")))
    for attempt in range(SERVER_TRIES):
        port = _free_port()
        log = folder / f"server-{attempt}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                 "--server.port", str(port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
            )
        try:
            if _healthy(f"http://127.0.0.1:{port}", process, log):
                yield f"http://127.0.0.1:{port}"
                return
        finally:
            _stop(process)
    pytest.fail(f"streamlit exited {SERVER_TRIES} times on start:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def chrome(browser_binaries, tmp_path_factory, request) -> Iterator:
    """Headless Chromium through Selenium, at the window size the module's WINDOW asks for."""
    chromium, driver_path = browser_binaries
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (requirements-dev.txt)")

    width, height = getattr(request.module, "WINDOW", DEFAULT_WINDOW)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never reach for the network
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so a fixture can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request) -> Iterator[None]:
    """A browser test starts in the page, not in a frame a failed test left it in, and a
    failure leaves artifacts/<test>-failure.png to read afterwards."""
    if "chrome" not in request.fixturenames:
        yield
        return
    driver = request.getfixturevalue("chrome")
    driver.switch_to.default_content()
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshot(driver, f"{request.node.name}-failure")
