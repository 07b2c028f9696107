"""A face engine that loads on first use: a server answering searches by face id needs
only the index and the catalog, so opening the album does not pay dlib's import and
model load (~0.25 s) until an upload or a search by photo first asks for it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..ports import DetectedFace, FaceEngine


class LazyFaceEngine:
    """Wraps ``load`` (returning the real engine), called once, under a lock, by the
    first :meth:`analyze`; requests on other threads meanwhile wait for the same one."""

    def __init__(self, load: Callable[[], FaceEngine]):
        self._load = load
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def engine(self) -> FaceEngine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._load()
        return self._engine

    def analyze(self, rgb: np.ndarray) -> list[DetectedFace]:
        return self.engine().analyze(rgb)
