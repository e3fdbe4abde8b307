"""The jobs the bench runs; jobman finds them by autodiscovery of ``<app>.jobs``."""

from __future__ import annotations

from bench.tasks import sample_rss
from jobman import JobmanJob


class NoopJob(JobmanJob):
    """Does nothing; when its attribs name a file, it writes the process's memory there."""

    type = "bench.noop"

    def handle(self) -> None:
        rss_to = self.attribs.get("rss_to")
        if rss_to:
            sample_rss(rss_to)


class FailingJob(JobmanJob):
    """Always raises, with a single try: every attempt ends the job as failed."""

    type = "bench.fail"
    tries = 1

    def handle(self) -> None:
        raise RuntimeError("bench: this job always fails")
