"""Load and soak: one `streamlit run app.py` server's memory over many page loads and over many
sessions changing the Designer at once, with each session's errors and the time of a change.

    .venv/bin/python benchmarks/server_soak.py                  # 500 loads, 20 sessions x 20
    .venv/bin/python benchmarks/server_soak.py --page-loads 100 --sessions 5 --changes 10

Why the websocket and not browsers: twenty headless Chromiums would measure the machine's
browsers, not the server, and Streamlit's AppTest runs scripts without a server. So each
session here speaks the browser's own protocol to the real server (`/_stcore/stream`, Streamlit's
BackMsg / ForwardMsg protobufs over a websocket, as the JavaScript client does): a page load is
a new session asking for a page and reading until its script has finished; a Designer change is
a rerun with a new value for the "Classes" field and, as the browser sends, the value of every
other widget on the page. Every change is checked against the count it
must give (ResNet-50's 25,557,032 parameters from torchvision's documentation, with the last
layer's 2,048 x 1,000 weights and 1,000 biases replaced by 2,048 x n and n), so a change that was
not applied is not counted as fast. Each session's design differs, so the caches fill and evict.

The server's resident memory (VmRSS from /proc, or psutil when installed) is sampled twice a
second and printed as a curve; the run says whether it levels off (the last quarter of the
samples grows less than 5% over the quarter before) and stays below 1.5 GB. The server listens
on a free port of 127.0.0.1 only, every loop is bounded, and the whole run stops by itself after
--max-minutes. It prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runs from anywhere, like the other benchmarks
#: The pages as their addresses name them ("" is the home page).
PAGES = ("", "designer", "compare", "block", "paper_table", "export", "own_model", "train",
         "inference")
RESNET50_PARAMS = 25_557_032  # torchvision's documentation
FC_INPUTS = 2048
LEVEL_GROWTH = 0.05
MEMORY_GOAL_BYTES = 1.5e9
FINISHED_EARLY_FOR_RERUN = 2
#: The widgets whose state this client sends back (those the pages drawn here use).
_REMEMBERED = ("number_input", "slider", "checkbox", "radio", "selectbox", "multiselect")


@dataclass
class Session:
    """What one session saw."""

    name: str
    errors: list[str] = field(default_factory=list)
    change_s: list[float] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process: psutil when installed, else /proc (Linux)."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - the process is gone
        return None
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """The server's RSS every `interval` seconds, with the phase it was taken in."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, str, int]] = []
        self.phase = "start"
        self.stop = threading.Event()
        self.start_time = time.perf_counter()

    def run(self) -> None:
        while not self.stop.is_set():
            rss = rss_bytes(self.pid)
            if rss is not None:
                self.samples.append((time.perf_counter() - self.start_time, self.phase, rss))
            self.stop.wait(self.interval)


# ----- the protocol -----------------------------------------------------------------------------


class Client:
    """One browser session on the websocket: page runs and widget changes."""

    def __init__(self, port: int, page: str, timeout: float) -> None:
        self.url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.origin = f"http://127.0.0.1:{port}"
        self.page, self.timeout = page, timeout
        self.widget_ids: dict[str, str] = {}  # user key -> widget id
        #: widget id -> (WidgetState field, value): what the browser holds and sends each run
        self.values: dict[str, tuple[str, Any]] = {}
        self.query = ""
        self.metrics: dict[str, str] = {}
        self.socket = None

    async def __aenter__(self) -> "Client":
        from websockets.asyncio.client import connect

        self.socket = await connect(self.url, subprotocols=["streamlit"], origin=self.origin,
                                    max_size=None, open_timeout=self.timeout)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.socket.close()

    async def run(self, widgets: dict[str, int] | None = None) -> list[str]:
        """A rerun of the page (with widget values by user key); the errors it showed."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        message = BackMsg()
        state = message.rerun_script
        state.page_name, state.query_string = self.page, self.query
        for key, value in (widgets or {}).items():
            self.values[self.widget_ids[key]] = ("int_value", value)
        for widget_id, (kind, value) in self.values.items():
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            if kind in ("double_array_value", "string_array_value"):
                getattr(widget, kind).data[:] = value
            else:
                setattr(widget, kind, value)
        await self.socket.send(message.SerializeToString())
        return await asyncio.wait_for(self._until_finished(), self.timeout)

    async def _until_finished(self) -> list[str]:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        errors: list[str] = []
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self.socket.recv())
            kind = message.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = message.page_info_changed.query_string
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                self._read(message.delta.new_element, errors)
            elif kind == "script_finished" and \
                    message.script_finished != FINISHED_EARLY_FOR_RERUN:
                if message.script_finished != 0:
                    errors.append(f"script finished with status {message.script_finished}")
                return errors

    def _read(self, element, errors: list[str]) -> None:
        kind = element.WhichOneof("type")
        body = getattr(element, kind)
        if kind == "exception":
            errors.append(f"{body.type}: {body.message}"[:200])
        elif kind == "metric":
            self.metrics[body.label] = body.body
        widget_id = getattr(body, "id", "")
        if widget_id.startswith("$$ID-"):
            self.widget_ids[widget_id.rsplit("-", 1)[-1]] = widget_id
            self._remember(kind, body)

    def _remember(self, kind: str, widget) -> None:
        """A widget's value as the browser keeps it: the server's when it sets one, else what
        the browser had (or the widget's default). Without every widget's state the server
        keeps the previous value of a changed widget on every other run."""
        from streamlit.proto.NumberInput_pb2 import NumberInput

        if kind not in _REMEMBERED or (not widget.set_value and widget.id in self.values):
            return
        if kind == "number_input":
            value = widget.value if widget.set_value else widget.default
            self.values[widget.id] = ("int_value", int(value)) \
                if widget.data_type == NumberInput.INT else ("double_value", value)
        elif kind == "slider":
            value = widget.value if widget.set_value else widget.default
            self.values[widget.id] = ("double_array_value", list(value))
        elif kind == "checkbox":
            self.values[widget.id] = ("bool_value",
                                      widget.value if widget.set_value else widget.default)
        elif kind in ("radio", "selectbox"):
            value = widget.raw_value if widget.HasField("raw_value") else \
                widget.options[widget.default] if widget.options else ""
            self.values[widget.id] = ("string_value", value)
        elif kind == "multiselect":
            value = list(widget.raw_values) if widget.set_value else \
                [widget.options[i] for i in widget.default]
            self.values[widget.id] = ("string_array_value", value)


# ----- the two phases ---------------------------------------------------------------------------


async def page_loads(port: int, count: int, parallel: int, timeout: float,
                     sampler: Sampler, deadline: float) -> dict[str, list[str]]:
    """`count` page loads across PAGES, `parallel` at a time; errors by page."""
    errors: dict[str, list[str]] = {page or "home": [] for page in PAGES}
    gate = asyncio.Semaphore(parallel)
    done = 0

    async def load(index: int) -> None:
        nonlocal done
        page = PAGES[index % len(PAGES)]
        async with gate:
            if time.perf_counter() > deadline:
                errors[page or "home"].append("not run: the time limit was reached")
                return
            try:
                async with Client(port, page, timeout) as client:
                    errors[page or "home"].extend(await client.run())
            except Exception as error:  # noqa: BLE001 - counted, the run goes on
                errors[page or "home"].append(f"{type(error).__name__}: {error}"[:200])
            done += 1
            sampler.phase = f"loads {done // 50 * 50}"

    await asyncio.gather(*(load(i) for i in range(count)))
    return errors


def expected_params(classes: int) -> int:
    """ResNet-50 with `classes` outputs: only the last layer changes (2,048 x n + n)."""
    return RESNET50_PARAMS - (FC_INPUTS + 1) * (1000 - classes)


async def designer_session(port: int, index: int, changes: int, timeout: float,
                           deadline: float, think_s: float) -> Session:
    """Open the Designer and change its number of classes `changes` times."""
    session = Session(f"session {index + 1}")
    try:
        async with Client(port, "designer", timeout) as client:
            session.errors.extend(await client.run())
            for step in range(changes):
                if time.perf_counter() > deadline:
                    session.errors.append("stopped: the time limit was reached")
                    break
                await asyncio.sleep(think_s)  # a person between two changes; not timed
                classes = 10 + index * changes + step  # a design of its own per change
                want = f"{expected_params(classes):,}"
                start = time.perf_counter()
                session.errors.extend(await client.run({"d_num_classes": classes}))
                session.change_s.append(time.perf_counter() - start)
                if client.metrics.get("Parameters") != want:
                    session.errors.append(f"{classes} classes showed "
                                          f"{client.metrics.get('Parameters')}, not {want}")
    except Exception as error:  # noqa: BLE001 - counted as this session's error
        session.errors.append(f"{type(error).__name__}: {error}"[:200])
    return session


# ----- the report -------------------------------------------------------------------------------


def curve(samples: list[tuple[float, str, int]], points: int = 16) -> list[str]:
    step = max(1, len(samples) // points)
    chosen = samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])
    return [f"  {t:7.1f} s  {phase:<18} {rss / 1e6:8.0f} MB" for t, phase, rss in chosen]


def levels_off(samples: list[tuple[float, str, int]]) -> tuple[bool, float]:
    """Whether the last quarter's peak is within LEVEL_GROWTH of the quarter before's."""
    quarter = len(samples) // 4
    if quarter < 2:
        return False, float("nan")
    before = max(rss for _, _, rss in samples[-2 * quarter:-quarter])
    last = max(rss for _, _, rss in samples[-quarter:])
    growth = last / before - 1
    return growth < LEVEL_GROWTH, growth


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def start_server(port: int, folder: Path) -> subprocess.Popen:
    log = open(folder / "server.log", "w")
    env = {**os.environ, "RESNET_INSPECTOR_DATA_ROOT": str(folder / "data"),
           "PYTHONUNBUFFERED": "1"}
    (folder / "data").mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_healthy(port: int, server: subprocess.Popen, timeout: float) -> None:
    stop = time.perf_counter() + timeout
    while time.perf_counter() < stop:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health",
                                        timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-loads", type=int, default=500)
    parser.add_argument("--parallel-loads", type=int, default=4,
                        help="page loads in flight at once (default 4)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--changes", type=int, default=20, help="Designer changes per session")
    parser.add_argument("--think", type=float, default=0.5,
                        help="seconds a session waits after a change has been drawn (default 0.5)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds one page run may take before it counts as an error")
    parser.add_argument("--max-minutes", type=float, default=40.0,
                        help="the whole run stops after this long")
    args = parser.parse_args()
    limits = [("--page-loads", args.page_loads, 0, 100_000), ("--sessions", args.sessions, 1, 200),
              ("--changes", args.changes, 1, 1000), ("--parallel-loads", args.parallel_loads, 1, 64)]
    for name, value, low, high in limits:
        if not low <= value <= high:
            parser.error(f"{name} must be between {low} and {high}")

    from pages.common import CACHE_ENTRIES

    port = _free_port()
    deadline = time.perf_counter() + 60 * args.max_minutes
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(port, Path(folder))
        try:
            wait_healthy(port, server, 120)
            sampler = Sampler(server.pid, 0.5)
            sampler.start()
            started = time.perf_counter()
            load_errors = asyncio.run(page_loads(port, args.page_loads, args.parallel_loads,
                                                 args.timeout, sampler, deadline))
            loads_s = time.perf_counter() - started
            sampler.phase = "designer sessions"

            async def sessions() -> list[Session]:
                return await asyncio.gather(*(
                    designer_session(port, i, args.changes, args.timeout, deadline,
                                     args.think)
                    for i in range(args.sessions)))

            started = time.perf_counter()
            results = asyncio.run(sessions())
            sessions_s = time.perf_counter() - started
            sampler.phase = "idle"
            time.sleep(5)  # the server after the load: does the memory stay?
        finally:
            sampler_done = locals().get("sampler")
            if sampler_done is not None:
                sampler_done.stop.set()
                sampler_done.join()
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    samples = sampler.samples
    print(f"server on 127.0.0.1:{port}; caches: st.cache_data max_entries={CACHE_ENTRIES} per "
          f"function (pages/common.py, pages/export.py), st.cache_resource max_entries=4 "
          f"(checkpoints, datasets)")
    print(f"\n{args.page_loads} page loads across {len(PAGES)} pages ({args.parallel_loads} at a "
          f"time) in {loads_s:.0f} s; errors by page:")
    for page, errors in load_errors.items():
        print(f"  {page:<12} {len(errors)}" + (f"  e.g. {errors[0]}" if errors else ""))
    changes = [t for s in results for t in s.change_s]
    print(f"\n{args.sessions} Designer sessions x {args.changes} changes at once, in "
          f"{sessions_s:.0f} s; errors per session: "
          f"{[len(s.errors) for s in results]}")
    for session in results:
        if session.errors:
            print(f"  {session.name}: {session.errors[0]}")
    if changes:
        print(f"a change's server time under this load (send -> script finished, loopback): "
              f"p50 {statistics.median(changes):.2f} s, p95 {percentile(changes, 0.95):.2f} s "
              f"over {len(changes)} changes")
    print("\nserver memory (VmRSS):")
    print("\n".join(curve(samples)))
    if samples:
        peak = max(rss for _, _, rss in samples)
        flat, growth = levels_off(samples)
        print(f"peak {peak / 1e6:.0f} MB ({'below' if peak < MEMORY_GOAL_BYTES else 'ABOVE'} "
              f"1.5 GB); last quarter vs the quarter before: {growth:+.1%} "
              f"({'levels off' if flat else 'still growing'})")


if __name__ == "__main__":
    main()
