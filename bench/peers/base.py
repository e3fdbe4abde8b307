"""What every system of section ``peers`` does, whatever it is built on."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from bench.queueing import Services


class Peer(ABC):
    """One system measured: how its no-op jobs are put in the queue, drained by one worker
    process, and read back from what the system itself stored about them."""

    # Models ("app_label.Model") the runs fill; Redis and jobman's tables are emptied anyway.
    tables: tuple[str, ...] = ()

    def __init__(self, name: str, worker_class: str) -> None:
        self.name = name
        self.worker_class = worker_class  # "simple" or "fork"

    @abstractmethod
    def dispatch(self, services: Services, jobs: int) -> None:
        """Put ``jobs`` no-op jobs in the queue, one call each, as an application would."""

    @abstractmethod
    def drain(self, services: Services, jobs: int, workdir: Path, timeout: float) -> float:
        """Start one worker process and let it run every job; the seconds from starting
        the process to its end (its start-up included)."""

    @abstractmethod
    def finished(self, services: Services) -> int:
        """How many jobs the system records as ended successfully."""

    @abstractmethod
    def stored_span(self, services: Services) -> tuple[float, float]:
        """The first job's start and the last one's end (POSIX seconds), as the system
        itself stored them."""
