"""Read on a thread while what was read before is checked and written.

A database source's next batches (`read_ahead`): the scan (DuckDB) and the work on each batch
(pandera, Parquet) both release the GIL for most of their time, so on two cores they overlap. At
most `depth` batches wait in the queue: memory stays a few batches, whatever the table's size.

A file drop's next file (`NextFile`): parsed whole (pyarrow's readers release the GIL) while the one
before it is checked and written. One file ahead at most, and only a file of at most
READ_AHEAD_BYTES, so that the extra memory is one moderate file's rows. A file read ahead raises
what it would have raised read in place, when it is asked for.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")
_DONE = object()
READ_AHEAD_BYTES = 256 * 2**20


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


class NextFile(Generic[K, T]):
    """Reads files through `read`; `start` begins the next one on a thread, `take` returns a file's read."""

    def __init__(self, read: Callable[[K], T]) -> None:
        self._read = read
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: tuple[K, Future[T]] | None = None

    def start(self, file: K | None, size: int) -> None:
        """Begin reading `file` on the thread (nothing for None, a file over READ_AHEAD_BYTES, or one already begun)."""
        if file is None or size > READ_AHEAD_BYTES or (self._ahead is not None and self._ahead[0] == file):
            return
        self._drop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead")
        self._ahead = (file, self._pool.submit(self._read, file))

    def take(self, file: K) -> T:
        """What `read(file)` returns (or raises): the thread's when it was begun, else read now."""
        if self._ahead is not None and self._ahead[0] == file:
            (_, future), self._ahead = self._ahead, None
            return future.result()
        return self._read(file)

    def close(self) -> None:
        self._drop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _drop(self) -> None:
        """Forget a read begun for a file not asked for; waited for, so that no two reads run at once."""
        if self._ahead is not None:
            (_, future), self._ahead = self._ahead, None
            if not future.cancel():
                future.exception()
