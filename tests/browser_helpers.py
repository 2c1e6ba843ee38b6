"""Small helpers shared by the real-browser tests (the fixtures live in conftest.py).

Why these exist: Streamlit redraws the page while a script runs, and the graph is drawn inside
the viewer component's iframe, so every look at the page is a wait on a condition (never a fixed
sleep), elements redrawn between two looks count as "not yet", and entering the viewer's frame
always ends back in the page.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: A shared 2-core machine can take this long for a page's first run (imports, tracing).
WAIT_S = 120
#: The graph viewer component's frame; inside it the graph is `#graph svg`.
VIEWER = 'iframe[title="pages.graph_viewer.graph_viewer"]'
EXCEPTION = '[data-testid="stException"]'
RUNNING = '[data-testid="stStatusWidget"]'

T = TypeVar("T")


def in_ci() -> bool:
    """Whether `CI` is set to something other than empty, 0 or false."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def missing(sentence: str) -> None:
    """Skip on a developer's machine; fail under CI, where a skipped browser test hides a gap."""
    if in_ci():
        pytest.fail(f"{sentence} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(sentence)


def browser_paths() -> tuple[str, str]:
    """Chromium and ChromeDriver, or a skip (a failure under CI) that says how to install them."""
    chromium = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    driver = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    if not chromium or not driver:
        missing("Chromium or ChromeDriver not found (Debian: apt-get install chromium "
                "chromium-driver, or `make setup-dev`); the browser tests need both.")
    return chromium, driver


def css(driver, selector: str) -> list:
    """All elements matching a CSS selector in the current frame (none is an empty list)."""
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def body(driver) -> str:
    """The visible text of the current frame."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def screenshot(driver, name: str) -> Path:
    """The page (never only a frame) as artifacts/`name`.png, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.switch_to.default_content()
    driver.save_screenshot(str(path))
    return path


def no_exception(driver) -> None:
    """Fail with the app's own message when the page shows an exception."""
    errors = css(driver, EXCEPTION)
    if errors:
        text = errors[0].text
        path = screenshot(driver, "browser_exception")
        pytest.fail(f"The app raised: {text} (screenshot: {path.relative_to(ROOT)})")


def wait(driver, condition: Callable[[Any], T], what: str, timeout: float = WAIT_S) -> T:
    """Wait for `condition` and return what it returned, or fail at once if the app shows an
    exception instead. An element Streamlit redrew while the condition looked at it counts as
    "not yet", and the value returned is the one the condition saw, not a second look."""
    from selenium.common.exceptions import (NoSuchElementException, NoSuchFrameException,
                                            StaleElementReferenceException, TimeoutException)
    from selenium.webdriver.support.ui import WebDriverWait

    seen: list[T] = []

    def done(d) -> bool:
        if css(d, EXCEPTION):
            return True
        value = condition(d)
        if value:
            seen.append(value)
        return bool(value)

    try:
        # a frame Streamlit replaced between two looks is "not yet", like a redrawn element
        WebDriverWait(driver, timeout, poll_frequency=0.3, ignored_exceptions=(
            StaleElementReferenceException, NoSuchElementException, NoSuchFrameException,
        )).until(done)
    except TimeoutException:
        path = screenshot(driver, "browser_timeout")
        pytest.fail(f"Timed out after {timeout} s waiting for {what} "
                    f"(screenshot: {path.relative_to(ROOT)})", pytrace=False)
    no_exception(driver)
    return seen[-1]


def settled(driver) -> bool:
    """Whether no script runs: Streamlit shows its running indicator while one does."""
    return not css(driver, RUNNING)


def click(driver, by: str, selector: str, what: str) -> None:
    """Click once the element is there and takes the click (not covered, not being redrawn)."""
    from selenium.common.exceptions import (ElementClickInterceptedException,
                                            ElementNotInteractableException,
                                            StaleElementReferenceException)

    def clicked(d) -> bool:
        try:
            elements = d.find_elements(by, selector)
            if not elements or not elements[0].is_enabled():
                return False
            elements[0].click()
            return True
        except (ElementClickInterceptedException, ElementNotInteractableException,
                StaleElementReferenceException):
            return False

    wait(driver, clicked, what)


def open_page(driver, path: str) -> None:
    """Open a page through the sidebar, as a user would, so the session (and its runs) is kept."""
    from selenium.webdriver.common.by import By

    click(driver, By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] a[href$="/{path}"]',
          f"the sidebar link to {path}")


def scroll_to(driver, element) -> None:
    """Bring an element to the middle of the window; an instant scroll has landed on return."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
                          element)


def in_viewer(driver, index: int, look: Callable[[Any], T]) -> T | None:
    """What `look` sees inside the `index`th viewer frame (None when there is no such frame),
    always back in the page afterwards, so a wait's next look starts from the page."""
    frames = css(driver, VIEWER)
    if len(frames) <= index:
        return None
    driver.switch_to.frame(frames[index])
    try:
        return look(driver)
    finally:
        driver.switch_to.default_content()


def viewer_svgs(driver) -> list[str]:
    """The graph SVG of every viewer on the page, as markup; one missing graph gives []."""
    def svg(d) -> str | None:
        graphs = css(d, "#graph svg")
        return graphs[0].get_attribute("outerHTML") if graphs else None

    drawn = [in_viewer(driver, index, svg) for index in range(len(css(driver, VIEWER)))]
    return drawn if drawn and all(drawn) else []


def enter_viewer(driver, index: int = 0):
    """Switch into the `index`th viewer's frame once its graph is drawn, with the frame brought
    to the middle of the window first so that pointer actions land inside it. Returns the frame
    element (valid in the page, after `driver.switch_to.default_content()`)."""
    wait(driver, lambda d: in_viewer(d, index, lambda f: css(f, "#graph svg g.node")),
         f"the graph inside viewer {index + 1}")
    frame = css(driver, VIEWER)[index]
    scroll_to(driver, frame)
    driver.switch_to.frame(frame)
    return frame
