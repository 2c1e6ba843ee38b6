"""The server's list of training runs, keyed by an id that a page keeps in its link.

Why a registry and a heartbeat: a browser tab that is closed says nothing to the server, and
Streamlit keeps a disconnected session's state (and so its runs) for minutes, so a run tied only
to its session trained for nobody and held a slot. Here a page that shows a run beats for it every
second or so; a watchdog thread on the server stops every run whose last beat is older than
`HEARTBEAT_TIMEOUT_S`, measured with the server's own monotonic clock (never the browser's), so a
closed page's run stops within HEARTBEAT_TIMEOUT_S + SWEEP_EVERY_S + one step. A reload keeps
beating in time, and finds its runs again by the ids in its link.

Whoever holds a run's id (the link) owns the run: its page can stop it. The list of every run is
shown to everybody, without ids.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inspector.train import TrainingRun

#: A run whose page has not beaten for this long is stopped.
HEARTBEAT_TIMEOUT_S = 20.0
#: How often the watchdog looks.
SWEEP_EVERY_S = 5.0
#: Finished runs kept (for reloads and the run list) before the oldest are forgotten.
KEEP_FINISHED = 32


@dataclass
class Entry:
    run_id: str
    run: TrainingRun
    created: float
    last_beat: float


class RunRegistry:
    """Runs by id, with the time of their page's last heartbeat on `clock`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 timeout_s: float = HEARTBEAT_TIMEOUT_S) -> None:
        self._clock = clock
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._watchdog: threading.Thread | None = None

    def add(self, run: TrainingRun) -> str:
        """Register a run (its page beats from now on) and return its id."""
        run_id = secrets.token_urlsafe(9)
        now = self._clock()
        with self._lock:
            self._entries[run_id] = Entry(run_id, run, now, now)
            self._forget_old()
        return run_id

    def get(self, run_id: str) -> TrainingRun | None:
        with self._lock:
            entry = self._entries.get(run_id)
        return None if entry is None else entry.run

    def id_of(self, run: TrainingRun) -> str | None:
        with self._lock:
            return next((e.run_id for e in self._entries.values() if e.run is run), None)

    def beat(self, run_ids: Iterable[str]) -> None:
        """The page showing these runs is open."""
        run_ids = list(run_ids)  # read before the lock: the caller may look ids up here
        now = self._clock()
        with self._lock:
            for run_id in run_ids:
                if run_id in self._entries:
                    self._entries[run_id].last_beat = now

    def sweep(self) -> list[str]:
        """Stop the running runs whose page has not beaten in time; their ids."""
        now = self._clock()
        with self._lock:
            late = [e for e in self._entries.values()
                    if e.run.running and now - e.last_beat > self.timeout_s]
        for entry in late:
            entry.run.stop()
        return [e.run_id for e in late]

    def entries(self) -> list[Entry]:
        """Every run the server knows, oldest first."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.created)

    def _forget_old(self) -> None:
        finished = sorted((e for e in self._entries.values() if not e.run.running),
                          key=lambda e: e.created)
        for entry in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._entries[entry.run_id]

    def watch(self, every_s: float = SWEEP_EVERY_S) -> None:
        """Start the watchdog thread (once): it sweeps every `every_s` seconds for the life of
        the server process."""
        with self._lock:
            if self._watchdog is not None:
                return
            self._watchdog = threading.Thread(target=self._watch, args=(every_s,),
                                              name="run-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self, every_s: float) -> None:
        while True:
            time.sleep(every_s)
            self.sweep()


#: The runs of this server process.
SERVER_REGISTRY = RunRegistry()
