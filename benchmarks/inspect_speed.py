"""How long inspection takes, from a spec to an SVG, a table, a comparison.

Run: python benchmarks/inspect_speed.py [--repeats N] [--only-designer-changes] [--changes N]

Targets (2-core machine, no GPU): ResNet-152 at 224x224 from spec to block-view SVG under 0.3 s,
ResNet-1202 under 2 s; ResNet-152 to block-view SVG plus both tables under 0.15 s, ResNet-1202's
tables under 1 s; one Designer run for a new design (Streamlit's AppTest, server side) under
0.2 s for ResNet-50 and 0.35 s for ResNet-152; from `streamlit run` to the Designer's first
graph in a headless browser under 5 s; in the Designer, a change of a control to the new graph
on screen in headless Chromium at most 0.4 s (median) for ResNet-50 and 0.7 s for ResNet-152.
Nothing is cached between calls: every call builds the
model on `meta`, traces it, propagates shapes, draws and runs `dot`. Settings printed:
- "cold process": a new Python process doing one call, so torch's lazy first-use imports
  (the meta kernels pull in sympy) are paid inside the call; imports of the project are shown apart.
- "running process": what a slider in the running app sees, a fresh spec each call.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The graph viewer component's iframe on the Designer.
VIEWER_FRAME = 'iframe[title="pages.graph_viewer.graph_viewer"]'
sys.path.insert(0, str(ROOT))

CASES = [
    ("resnet152", "block", 0.3),
    ("resnet1202", "block", 2.0),
    ("resnet50", "layer", None),
    ("resnet152", "layer", None),
]

_COLD = """
import json, sys, time
start = time.perf_counter()
from inspector import get_preset
from inspector.render import export_graph, render_graph
from inspector.trace import trace_graph
imported = time.perf_counter()
svg = export_graph(render_graph(trace_graph(get_preset(sys.argv[1]), sys.argv[2])), "svg")
done = time.perf_counter()
print(json.dumps({"imports": imported - start, "call": done - imported, "bytes": len(svg)}))
"""


_fresh_designs = itertools.count(1)


def fresh(name: str):
    """The preset with a class count not used before: equal to no earlier spec, so no cache
    keyed by the spec can answer for it."""
    from inspector import get_preset

    return get_preset(name).replace(num_classes=1000 + next(_fresh_designs))


def cold(name: str, view: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _COLD, name, view], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def warm(name: str, view: str, repeats: int) -> dict[str, list[float]]:
    from inspector.render import export_graph, render_graph
    from inspector.trace import trace_graph

    times: dict[str, list[float]] = {"trace": [], "draw": [], "dot": [], "total": []}
    for _ in range(repeats):
        spec = fresh(name)
        t0 = time.perf_counter()
        graph = trace_graph(spec, view)
        t1 = time.perf_counter()
        digraph = render_graph(graph)
        t2 = time.perf_counter()
        export_graph(digraph, "svg")
        t3 = time.perf_counter()
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            times[key].append(value)
    return times


def timed(function, repeats: int) -> float:
    values = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        values.append(time.perf_counter() - start)
    return statistics.median(values)


def designer_runs(name: str, repeats: int) -> list[float]:
    """Server-side time of Designer runs, each for a design not seen before (a new class count).

    The first run of the app (imports, the default design) is not counted: a slider move in a
    running app is what a user waits for.
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/designer.py").run()
    if at.selectbox(key="d_preset").value != name:
        at.selectbox(key="d_preset").set_value(name).run()
    times = []
    for step in range(repeats):
        at.number_input(key="d_num_classes").set_value(1001 + step)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        if at.exception:
            raise RuntimeError(f"The Designer raised: {at.exception}")
    return times


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser_first_graph(timeout: float = 60.0) -> float | str:
    """Seconds from starting `streamlit run` to the Designer's graph SVG in headless Chromium,
    or a sentence saying why it was not measured."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver")
    if not os.path.exists(chromium) or not driver_path:
        return "skipped: Chromium or ChromeDriver not found"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return "skipped: selenium is not installed"
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)  # started first:
    port = _free_port()  # the browser's own start-up is not the app's
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.perf_counter() - start > timeout or server.poll() is not None:
                    return "failed: the server did not start"
                time.sleep(0.05)
        driver.get(f"{url}/designer")
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: _graph_drawn(d, By))
        return time.perf_counter() - start
    finally:
        driver.quit()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _graph_drawn(driver, by) -> bool:
    """Whether the graph viewer's frame holds the drawn SVG (the graph lives in its iframe)."""
    frames = driver.find_elements(by.CSS_SELECTOR, VIEWER_FRAME)
    if not frames:
        return False
    try:
        driver.switch_to.frame(frames[0])
        return bool(driver.find_elements(by.CSS_SELECTOR, "#graph svg"))
    except Exception:  # the frame was redrawn between the look and the switch: not yet
        return False
    finally:
        driver.switch_to.default_content()


#: Read inside the viewer's frame: the absolute times (ms since the epoch) of its last marks.
_MARKS = """
const at = (name) => { const all = performance.getEntriesByName(name);
  return all.length ? performance.timeOrigin + all[all.length - 1].startTime : null; };
return {received: at('viewer-received'), parsed: at('viewer-parsed'),
        laid_out: at('viewer-laid-out'), painted: at('viewer-painted'),
        kept: window.__benchmark_kept === true,
        fresh: !document.querySelector('#graph svg[data-benchmark-old]')};
"""
#: The Designer's shortcut options, alternated: each change is a new design to draw.
_SHORTCUT_CHOICES = ("C", "B")


def _change_shortcut(driver, by, index: int) -> float:
    """Click the next shortcut option; returns the click's time (ms since the epoch)."""
    option = _SHORTCUT_CHOICES[index % 2]
    label = driver.find_element(
        by.XPATH, f'//section[@data-testid="stSidebar"]//label[.//p[starts-with('
                  f'normalize-space(.), "{option}:")]]')
    return driver.execute_script(
        "arguments[0].click(); return performance.timeOrigin + performance.now();", label)


def _change_classes(driver, by, index: int) -> float:
    """Type a class count no earlier change used (a design no cache holds) and press Enter;
    returns the time just before the Enter (ms since the epoch)."""
    from selenium.webdriver.common.keys import Keys

    field = driver.find_element(by.CSS_SELECTOR, 'section[data-testid="stSidebar"] '
                                                 'input[aria-label="Classes"]')
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(700 + index))
    now = driver.execute_script("return performance.timeOrigin + performance.now();")
    field.send_keys(Keys.ENTER)
    return now


def change_to_graph(preset: str, changes: int = 8, timeout: float = 120.0,
                    new_designs: bool = False) -> dict | str:
    """Seconds from a click on the Designer's shortcut option to the new graph on screen in
    headless Chromium, split where the browser can see it: the click to the drawing's arrival
    in the viewer's frame (the server's run, the transfer and Streamlit's front end, including
    any reload of the component's frame), parsing the SVG, the viewer's layout (pan-zoom, fit,
    overlay) and the paint. Returns lists of seconds per phase, or why nothing was measured."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver")
    if not os.path.exists(chromium) or not driver_path:
        return "skipped: Chromium or ChromeDriver not found"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return "skipped: selenium is not installed"
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 "--window-size=1600,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    phases: dict[str, list[float]] = {"total": [], "arrival": [], "parse": [], "layout": [],
                                      "paint": []}
    reloads = 0
    try:
        deadline = time.perf_counter() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.perf_counter() > deadline or server.poll() is not None:
                    return "failed: the server did not start"
                time.sleep(0.1)
        driver.get(f"http://127.0.0.1:{port}/designer?preset={preset}")
        wait = WebDriverWait(driver, timeout, poll_frequency=0.05)
        wait.until(lambda d: _graph_drawn(d, By))
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR,
                                                 '[data-testid="stStatusWidget"]'))
        for index in range(changes + 1):  # the first change warms the caches: not counted
            frame = driver.find_element(By.CSS_SELECTOR, VIEWER_FRAME)
            driver.switch_to.frame(frame)
            driver.execute_script("window.__benchmark_kept = true; document.querySelector("
                                  "'#graph svg').setAttribute('data-benchmark-old', '1');")
            driver.switch_to.default_content()
            clicked = (_change_classes if new_designs else _change_shortcut)(driver, By, index)
            marks = wait.until(lambda d: _new_marks(d, By))
            if index == 0:
                continue
            reloads += not marks["kept"]
            phases["total"].append((marks["painted"] - clicked) / 1000)
            phases["arrival"].append((marks["received"] - clicked) / 1000)
            phases["parse"].append((marks["parsed"] - marks["received"]) / 1000)
            phases["layout"].append((marks["laid_out"] - marks["parsed"]) / 1000)
            phases["paint"].append((marks["painted"] - marks["laid_out"]) / 1000)
            wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR,
                                                     '[data-testid="stStatusWidget"]'))
        return {**phases, "reloads": reloads}
    finally:
        driver.quit()
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _new_marks(driver, by) -> dict | None:
    """The viewer's marks once a new drawing is painted in it (its frame may be a new one)."""
    frames = driver.find_elements(by.CSS_SELECTOR, VIEWER_FRAME)
    if not frames:
        return None
    try:
        driver.switch_to.frame(frames[0])
        marks = driver.execute_script(_MARKS)
    except Exception:  # the frame was replaced between the look and the switch: not yet
        return None
    finally:
        driver.switch_to.default_content()
    return marks if marks["fresh"] and marks["painted"] and marks["painted"] > (
        marks["received"] or 0) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="skip the browser measurements (they start a server and Chromium)")
    parser.add_argument("--only-designer-changes", action="store_true",
                        help="measure only the Designer's change-to-graph times in the browser")
    parser.add_argument("--changes", type=int, default=8,
                        help="changes of the shortcut option per design (default 8)")
    args = parser.parse_args()
    if args.only_designer_changes:
        designer_changes(args.changes)
        return

    print("Spec -> SVG, cold process (one call in a new interpreter):")
    for name, view, target in CASES[:2]:
        result = cold(name, view)
        print(f"  {name:<11} {view:<5}  call {result['call']:.3f} s  "
              f"(project imports {result['imports']:.2f} s before it)")

    # Pay torch's lazy first-use imports once, as the running app has.
    from inspector import get_preset
    from inspector.trace import trace_graph
    trace_graph(get_preset("resnet18"))

    print(f"\nSpec -> SVG, running process (median of {args.repeats}; trace / draw / dot):")
    for name, view, target in CASES:
        times = warm(name, view, args.repeats)
        median = {key: statistics.median(values) for key, values in times.items()}
        verdict = "" if target is None else (
            f"  target {target} s: {'met' if median['total'] < target else 'MISSED'}")
        print(f"  {name:<11} {view:<5}  {median['total']:.3f} s  "
              f"({median['trace']:.3f} / {median['draw']:.3f} / {median['dot']:.3f})"
              f"  min {min(times['total']):.3f}{verdict}")

    from inspector.compare import compare
    from inspector.table import layer_table, stage_table

    print(f"\nTables and comparison, running process (median of {args.repeats}):")
    for name, target in (("resnet50", None), ("resnet152", None), ("resnet1202", 1.0)):
        def tables(name: str = name) -> None:
            spec = fresh(name)
            stage_table(spec, layer_table(spec))

        median = timed(tables, args.repeats)
        verdict = "" if target is None else (
            f"  target {target} s: {'met' if median < target else 'MISSED'}")
        print(f"  layer_table + stage_table {name:<11} {median:.3f} s{verdict}")
    a, b = get_preset("resnet34"), get_preset("resnet50")
    print(f"  compare resnet34 resnet50          {timed(lambda: compare(a, b), args.repeats):.3f} s")

    from inspector.render import export_graph, render_graph

    def page(name: str = "resnet152") -> None:
        spec = fresh(name)
        export_graph(render_graph(trace_graph(spec, "block")), "svg")
        stage_table(spec, layer_table(spec))

    median = timed(page, args.repeats)
    print(f"\nResNet-152 spec -> block SVG + layer table + stage table (median of {args.repeats}): "
          f"{median:.3f} s  target 0.15 s: {'met' if median < 0.15 else 'MISSED'}")

    print(f"\nOne Designer run for a new design, AppTest, server side (median of {args.repeats}):")
    for name, target in (("resnet50", 0.2), ("resnet152", 0.35)):
        times = designer_runs(name, args.repeats)
        median = statistics.median(times)
        print(f"  {name:<11} {median:.3f} s  min {min(times):.3f}  "
              f"target {target} s: {'met' if median < target else 'MISSED'}")

    if args.browser:
        designer_changes(args.changes)
        result = browser_first_graph()
        if isinstance(result, str):
            print(f"\nstreamlit run -> Designer's first graph in the browser: {result}")
        else:
            print(f"\nstreamlit run -> Designer's first graph in the browser: {result:.2f} s  "
                  f"target 5 s: {'met' if result < 5 else 'MISSED'}")


def designer_changes(changes: int) -> None:
    """Print the Designer's change-to-graph figures in the browser, phase by phase: changes
    between two designs (the shortcut option B <-> C, drawn before) and changes to a design
    never drawn (a new class count each time: trace, tables and `dot` on the server)."""
    for new_designs in (False, True):
        what = ("a new class count (a design never drawn)" if new_designs
                else "the shortcut option, B <-> C")
        print(f"\nDesigner, a change of {what} -> the new graph on screen, headless Chromium "
              f"(median of {changes}; arrival = server run + transfer + front end):")
        _designer_changes(changes, new_designs)


def _designer_changes(changes: int, new_designs: bool) -> None:
    for name, target in (("resnet50", 0.4), ("resnet152", 0.7)):
        result = change_to_graph(name, changes, new_designs=new_designs)
        if isinstance(result, str):
            print(f"  {name:<11} {result}")
            continue
        median = {key: statistics.median(values) for key, values in result.items()
                  if key != "reloads"}
        print(f"  {name:<11} {median['total']:.3f} s  (arrival {median['arrival']:.3f} / parse "
              f"{median['parse']:.3f} / layout {median['layout']:.3f} / paint "
              f"{median['paint']:.3f})  min {min(result['total']):.3f} max "
              f"{max(result['total']):.3f}  frame reloads {result['reloads']}  target {target} s: "
              f"{'met' if median['total'] <= target else 'MISSED'}")


if __name__ == "__main__":
    main()
