"""Stop requests (SIGTERM) that survive being wrapped.

The handler raises KeyboardInterrupt wherever the main thread is; when that is inside a
library that catches and re-raises it as its own error (SQLAlchemy under MLflow does), the
run would look FAILED and a sweep would go on. The flag remembers that a stop was asked for.
:func:`held` keeps a stop out of a store write until the write is done.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

requested = threading.Event()


def terminate(signum, frame):
    """SIGTERM handler: remember the request, then interrupt like Ctrl-C."""
    requested.set()
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def held():
    """Hold SIGINT and SIGTERM until the block ends, then deliver them as they would have
    been (a KeyboardInterrupt). For writes to the MLflow store: an interrupt raised inside
    MLflow's SQLAlchemy session is caught by none of its handlers (it is not an Exception),
    and a transaction cut there can leave a connection holding SQLite's write lock, so the
    run's KILLED status then waits 20 s for it and fails. A second signal while one is held
    interrupts at once (a write that hangs can still be stopped). Only the main thread
    receives signals; elsewhere, and where a signal is ignored, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[tuple[int, object]] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    python_handlers = {s: h for s, h in previous.items() if callable(h)}

    def hold(signum, frame):
        if pending:  # asked twice: stop now
            pending.clear()
            _restore(python_handlers)
            python_handlers[signum](signum, frame)
        pending.append((signum, frame))

    for signum in python_handlers:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        _restore(python_handlers)
        if pending:
            signum, frame = pending[0]
            python_handlers[signum](signum, frame)


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
