"""Finished images kept by key, at most so many bytes of them; and how long renders took.

Both are shared by every session and thread of the app, so both are thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

import numpy as np

LATENCIES_KEPT = 2048


class ImageCache:
    """Least-recently-used finished images, at most ``cap_bytes`` of them.

    The arrays it returns are read-only: they are the cache's own, so a caller that draws on
    one copies it first.
    """

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._images: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._images)

    def get(self, key: Hashable) -> np.ndarray | None:
        with self._lock:
            image = self._images.get(key)
            if image is None:
                self.misses += 1
            else:
                self.hits += 1
                self._images.move_to_end(key)
            return image

    def put(self, key: Hashable, image: np.ndarray) -> np.ndarray:
        """Keep ``image`` (made read-only) unless it alone is over the cap; returns it."""
        image.flags.writeable = False
        if image.nbytes > self.cap_bytes:
            return image
        with self._lock:
            old = self._images.pop(key, None)
            if old is not None:
                self.nbytes -= old.nbytes
            self._images[key] = image
            self.nbytes += image.nbytes
            while self.nbytes > self.cap_bytes:
                _, dropped = self._images.popitem(last=False)
                self.nbytes -= dropped.nbytes
        return image

    def drop(self, keep: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._images if not keep(k)]:
                self.nbytes -= self._images.pop(key).nbytes


class Latencies:
    """The last ``LATENCIES_KEPT`` render times, cache hits and misses apart."""

    def __init__(self) -> None:
        self._seconds: dict[str, deque[float]] = {
            "miss": deque(maxlen=LATENCIES_KEPT),
            "hit": deque(maxlen=LATENCIES_KEPT),
        }
        self._lock = threading.Lock()

    def add(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._seconds[kind].append(seconds)

    def summary(self) -> dict[str, float | None]:
        """p50 and p95 of each kind in ms, e.g. ``miss_p50_ms``; None before the first."""
        with self._lock:
            seconds = {kind: list(values) for kind, values in self._seconds.items()}
        return {
            f"{kind}_p{q}_ms": round(float(np.percentile(values, q)) * 1e3, 4) if values else None
            for kind, values in seconds.items()
            for q in (50, 95)
        }
