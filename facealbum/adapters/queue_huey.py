"""The job queue on huey with its SQLite storage: durable across restarts, no server.

Tasks are registered by name in every process that enqueues or runs them. Running is
explicit (:meth:`run_pending`) so the web server can drain the queue from a thread of
its own, and tests can drain it deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import SqliteHuey


class HueyJobQueue:
    def __init__(self, path: Path, name: str = "facealbum"):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.huey = SqliteHuey(name=name, filename=str(path), results=False)
        self._tasks: dict[str, Any] = {}  # huey TaskWrapper objects

    def register(self, name: str, fn: Callable[..., object]) -> None:
        self._tasks[name] = self.huey.task(name=name)(fn)

    def enqueue(self, task: str, /, **kwargs: object) -> str:
        job = self._tasks[task].s(**kwargs)
        self.huey.enqueue(job)
        return job.id

    def run_pending(self, limit: int | None = None) -> int:
        done = 0
        while limit is None or done < limit:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            done += 1
        return done

    def pending(self) -> int:
        return self.huey.pending_count()
