"""Collecting a thread's work inside a block and doing it together on leaving."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Collector(Generic[T]):
    """Items added inside `batch()` are kept (per thread) and handed to `flush` together on
    leaving it, even when the block raises; outside a batch, `add` returns False and the
    caller acts at once. A nested batch joins the outer one."""

    def __init__(self, flush: Callable[[list[T]], None]) -> None:
        self._flush = flush
        self._local = threading.local()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._local, "items", None) is not None:
            yield
            return
        self._local.items = []
        try:
            yield
        finally:
            items, self._local.items = self._local.items, None
            if items:
                self._flush(items)

    def add(self, item: T) -> bool:
        items: list[T] | None = getattr(self._local, "items", None)
        if items is None:
            return False
        items.append(item)
        return True
