"""Keep torch.fx tracing and model forward passes in other threads apart.

Why: `torch.fx.Tracer.trace` patches `torch.nn.Module.__call__` for the whole process while it
traces. A server draws graphs (tracing on the meta device) in one session while another session's
run trains in a background thread; a forward pass that starts during a trace goes through the
patched call and fails ("module is not installed as a submodule"). Forward passes take the guard
shared (many at once), tracing takes it exclusively; a waiting trace holds back new forward passes,
so two runs training in turn cannot keep it waiting forever. A trace is short (tens of
milliseconds on the meta device), a forward pass waits at most that long.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SharedExclusive:
    """A readers-writer lock with writer preference; exclusive is re-entrant per thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer: int | None = None  # the thread ident holding it exclusively
        self._depth = 0
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:  # a forward pass inside this thread's own trace
                self._readers += 1
            else:
                while self._writer is not None or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer == me:
                self._depth += 1
            else:
                self._writers_waiting += 1
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._writers_waiting -= 1
                self._writer, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._writer = None
                    self._cond.notify_all()


#: The process's guard: `with FORWARD_GUARD.shared():` around forward passes of models that
#: may run while a graph is traced; `with FORWARD_GUARD.exclusive():` around tracing.
FORWARD_GUARD = SharedExclusive()
