"""Read a source's next batches on a thread while the current one is checked and written.

The database scan (DuckDB) and the work on each batch (pandera, Parquet) both release
the GIL for most of their time, so on two cores they overlap. At most `depth` batches
wait in the queue: memory stays a few batches, whatever the table's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(open_batches: Callable[[], Iterator[T]], depth: int = 2) -> Iterator[T]:
    """Yield what `open_batches()` yields, produced by a background thread up to `depth` ahead.

    An error in the producer is raised here, in the consumer. Closing this generator early
    (the consumer stopped) stops the producer at its next batch.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in open_batches():
                if not put(batch):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = waiting.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()
