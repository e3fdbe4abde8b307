"""Job classes for jobman's own tests; found by autodiscovery of the app's ``jobs`` module."""

from __future__ import annotations

import os
import time
from typing import Any

from django.db.backends.signals import connection_created
from django.dispatch import receiver

from jobman import JobmanJob
from tests.testapp.models import Execution


class RecordingJob(JobmanJob):
    """Records each run of handle() and failed() as an Execution row."""

    def record(self, kind: str = "handle") -> None:
        Execution.objects.create(
            jobman_id=self.jobman.pk, attempt=self.attempt, kind=kind, pid=os.getpid()
        )

    def failed(self, exception: BaseException) -> None:
        self.record("failed")


class HelloJob(RecordingJob):
    type = "test.hello"

    def handle(self) -> str | None:
        self.record()
        self.log("saying hello")
        self.attribs["greeting"] = "hello " + self.attribs.get("name", "world")
        self.log("said hello")
        code: str | None = self.attribs.get("code")
        return code


class FlakyJob(RecordingJob):
    """Fails until attempt ``succeed_on``."""

    type = "test.flaky"
    tries = 3
    backoff = [1, 2]

    def handle(self) -> str:
        self.record()
        self.log(f"attempt {self.attempt}")
        if self.attempt < self.attribs["succeed_on"]:
            raise RuntimeError(f"flaky failure on attempt {self.attempt}")
        return "success"


class AlwaysFailingJob(RecordingJob):
    type = "test.always_fails"
    tries = 2

    def handle(self) -> None:
        self.record()
        self.log("about to fail")
        raise ValueError("this job always fails")


class GivesUpJob(RecordingJob):
    type = "test.gives_up"
    tries = 5

    def handle(self) -> None:
        self.record()
        self.fail("blog not found, no point retrying")


class SlowJob(RecordingJob):
    type = "test.slow"
    timeout = 1

    def handle(self) -> None:
        self.record()
        time.sleep(float(self.attribs.get("seconds", 5)))


class UnsaveableResultJob(RecordingJob):
    type = "test.unsaveable"

    def handle(self) -> None:
        self.attribs["result"] = {1, 2, 3}


class WrongReturnJob(RecordingJob):
    type = "test.wrong_return"

    def handle(self) -> Any:
        return 42


class HighJob(RecordingJob):
    type = "test.high"
    queue = "high"

    def handle(self) -> None:
        self.record()


class SleepyJob(RecordingJob):
    """Sleeps during the attempts listed in ``sleep_on``, so a test can kill its process."""

    type = "test.sleepy"
    tries = 2

    def handle(self) -> str:
        self.record()
        if self.attempt in self.attribs.get("sleep_on", [1]):
            time.sleep(float(self.attribs.get("seconds", 30)))
        return "woke up"


class FailsUntilJob(RecordingJob):
    """Fails until attempt ``succeed_on``, with no wait between tries."""

    type = "test.fails_until"
    tries = 2

    def handle(self) -> str:
        self.record()
        if self.attempt < self.attribs["succeed_on"]:
            raise RuntimeError(f"failure on attempt {self.attempt}")
        return "success"


class UniqueReportJob(RecordingJob):
    """Unique per report id while it waits or runs."""

    type = "test.unique_report"
    unique_for = 3600

    def unique_id(self) -> str | None:
        return str(self.attribs["report"])

    def handle(self) -> None:
        self.record()


class UniqueUntilStartJob(UniqueReportJob):
    type = "test.unique_until_start"
    unique_until = "processing"

    def handle(self) -> None:
        self.record()
        time.sleep(float(self.attribs.get("seconds", 0)))


class ExclusiveJob(RecordingJob):
    """Never two at once for the same account; each holds the account for a while."""

    type = "test.exclusive"
    release_after = 1

    def overlap_key(self) -> str | None:
        return str(self.attribs["account"])

    def handle(self) -> None:
        self.record("start")
        time.sleep(float(self.attribs.get("seconds", 1)))
        self.record("end")


class RateLimitedJob(RecordingJob):
    type = "test.rate_limited"
    rate_limit = ("test-reports", "all")  # 2 a second

    def handle(self) -> None:
        self.record()


class DeadlineJob(RecordingJob):
    """Fails every time; retried until two seconds after dispatch."""

    type = "test.deadline"
    retry_until = 2
    backoff = 1

    def handle(self) -> None:
        self.record()
        raise RuntimeError("still failing")


class FewExceptionsJob(RecordingJob):
    type = "test.few_exceptions"
    tries = 5
    max_exceptions = 2

    def handle(self) -> None:
        self.record()
        raise RuntimeError("failing again")


# The fault scenarios (tests/faults/).


class FaultJob(RecordingJob):
    """Records its run, then works for ``seconds``; three tries, no wait between them."""

    type = "test.fault"
    tries = 3

    def handle(self) -> str:
        self.record()
        seconds = float(self.attribs.get("seconds", 0))
        if seconds:
            time.sleep(seconds)
        return "success"


class WaitsForGoJob(RecordingJob):
    """Records its run, then waits (``wait`` seconds at most) until the file ``go`` exists.

    With ``touch_db`` it writes to the database once more after that, so a test can break
    the database while the job waits and see the job's own next query meet the break.
    """

    type = "test.waits_for_go"
    tries = 2

    def handle(self) -> str:
        self.record()
        go = str(self.attribs["go"])
        deadline = time.monotonic() + float(self.attribs.get("wait", 20))
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.attribs.get("touch_db"):
            self.record("after-go")
        return "went"


class BackoffJob(RecordingJob):
    """Fails its first attempt, then waits ``backoff`` seconds for the second, which succeeds."""

    type = "test.backoff"
    tries = 2
    backoff = 4

    def handle(self) -> str:
        self.record()
        if self.attempt == 1:
            raise RuntimeError("first attempt fails")
        return "success"


class NoisyJob(RecordingJob):
    """Logs ``lines`` lines of ``width`` characters, then fails with an ``error_chars`` long
    message raised ``depth`` calls deep; without ``error_chars`` it succeeds."""

    type = "test.noisy"

    def handle(self) -> str:
        self.record()
        for number in range(int(self.attribs.get("lines", 0))):
            self.log(f"{number} " + "x" * int(self.attribs.get("width", 10)))
        if self.attribs.get("error_chars"):
            self._dig(int(self.attribs.get("depth", 0)))
        return "logged"

    def _dig(self, depth: int) -> None:
        if depth > 0:
            self._dig(depth - 1)
            return
        raise RuntimeError("e" * int(self.attribs["error_chars"]))


class StepJob(RecordingJob):
    """A chain or batch step; fails when told to."""

    type = "test.step"

    def handle(self) -> str:
        self.record(f"step:{self.attribs['name']}")
        if self.attribs.get("fail"):
            self.fail(f"step {self.attribs['name']} failed")
        return "done"


class BatchCallbackJob(RecordingJob):
    type = "test.batch_callback"

    def handle(self) -> None:
        self.record(f"callback:{self.attribs['which']}:{self.attribs['batch_id']}")


# Database connections this process has opened, counted by Django's own signal.
connections_opened = [0]


@receiver(connection_created)
def _count_connection(**kwargs: Any) -> None:
    connections_opened[0] += 1


class ConnectionProbeJob(JobmanJob):
    """Notes whether the database was connected while handle() ran, how many connections
    its process had opened, and which process it was; uses the database only if asked."""

    type = "test.connection_probe"

    def handle(self) -> str | None:
        from django.db import connection

        self.attribs["connected"] = connection.connection is not None
        self.attribs["opened"] = connections_opened[0]
        self.attribs["pid"] = os.getpid()
        if self.attribs.get("use_db"):
            self.attribs["executions"] = Execution.objects.count()
        return None


# Text no database column takes as it is: a lone surrogate (a file name that is not UTF-8),
# a NUL, and a code longer than completed_code's 255 characters.
UNRULY = os.fsdecode(b"report-\xff.csv") + " \x00 end"


class UnrulyOutputJob(RecordingJob):
    """Logs and fails (``fail``), or completes, with text that cannot be stored as it is."""

    type = "test.unruly"
    tries = 1

    def handle(self) -> str:
        self.record()
        self.log(f"opening {UNRULY}")
        if self.attribs.get("fail"):
            raise FileNotFoundError(2, "No such file", UNRULY)
        return UNRULY + "x" * 300


class Abandon(BaseException):
    """A BaseException of a job's own, as some libraries raise."""


class ExitsJob(RecordingJob):
    """Logs a line, then raises the BaseException named by ``raise``."""

    type = "test.exits"
    tries = 1

    def handle(self) -> None:
        self.record()
        self.log("about to leave")
        kind = self.attribs["raise"]
        if kind == "SystemExit":
            raise SystemExit(3)
        if kind == "KeyboardInterrupt":
            raise KeyboardInterrupt
        raise Abandon("gave up the ghost")


class GrowingAttribsJob(JobmanJob):
    """Hands back a ``grow`` characters long result through its attribs."""

    type = "test.growing_attribs"

    def handle(self) -> None:
        self.log("growing")
        self.attribs["result"] = "r" * int(self.attribs["grow"])


class GeneratedOutputJob(JobmanJob):
    """Logs, returns or fails with any text, given as code points in its attribs (JSON
    cannot carry a NUL or a lone surrogate), ``repeat`` times over."""

    type = "test.generated_output"

    def handle(self) -> str:
        def text(key: str) -> str:
            return "".join(map(chr, self.attribs.get(key, []))) * int(self.attribs.get("repeat", 1))

        self.log(text("log"))
        if self.attribs.get("fail"):
            raise RuntimeError(text("error"))
        return text("code")


class LoopingJob(RecordingJob):
    """Logs a line every ``every`` seconds for ``seconds``; with ``polite`` it asks
    ``stopping()`` instead and returns early, having tidied up."""

    type = "test.looping"
    tries = 3

    def handle(self) -> str:
        self.record()
        deadline = time.monotonic() + float(self.attribs.get("seconds", 30))
        while time.monotonic() < deadline:
            if self.attribs.get("polite"):
                if self.stopping():
                    self.log("tidied up")
                    return "stopped early"
            else:
                self.log("still working")
            time.sleep(float(self.attribs.get("every", 0.2)))
        return "ran to the end"


class ProgressJob(RecordingJob):
    """Reports progress from 10 to 100 over ``seconds``; ``calls`` reports that many times
    at once instead, with no wait."""

    type = "test.progress"

    def handle(self) -> str:
        self.record()
        calls = self.attribs.get("calls")
        if calls:
            for done in range(1, calls + 1):
                self.progress(done, calls, f"item {done}")
            return "counted"
        steps = 10
        pause = float(self.attribs.get("seconds", 3)) / steps
        for step in range(1, steps + 1):
            time.sleep(pause)
            self.progress(step * 10, note=f"step {step} of {steps}")
        return "done"


class FailsTwiceJob(FailsUntilJob):
    """FailsUntilJob with tries enough for two failures and a success."""

    type = "test.fails_twice"
    tries = 3
