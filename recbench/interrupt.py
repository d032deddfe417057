"""Stop requests (SIGTERM) that survive being wrapped.

The handler raises KeyboardInterrupt wherever the main thread is; when that is inside a
library that catches and re-raises it as its own error (SQLAlchemy under MLflow does), the
run would look FAILED and a sweep would go on. The flag remembers that a stop was asked for.
"""

from __future__ import annotations

import threading

requested = threading.Event()


def terminate(signum, frame):
    """SIGTERM handler: remember the request, then interrupt like Ctrl-C."""
    requested.set()
    raise KeyboardInterrupt(f"signal {signum}")
