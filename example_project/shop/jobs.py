"""The shop's background jobs. jobman finds them because this is an app's ``jobs`` module."""

from __future__ import annotations

import time

from jobman import JobmanJob


class HelloWorldJob(JobmanJob):
    type = "hello"
    queue = "default"
    tries = 3
    backoff = [10, 60]  # seconds before the 2nd try, and before the 3rd
    timeout = 60

    def handle(self) -> str:
        self.log("saying hello")
        self.attribs["greeting"] = "hello " + self.attribs["name"]
        return "success"


class FlakyJob(JobmanJob):
    """Fails its first attempt and succeeds on the second, like a call to a shaky service."""

    type = "flaky"
    tries = 3
    backoff = 2

    def handle(self) -> str:
        self.log(f"calling the payment provider, attempt {self.attempt}")
        if self.attempt == 1:
            raise ConnectionError("the payment provider did not answer (the first try fails)")
        self.log("the payment provider answered")
        return "success"


class AlwaysFailsJob(JobmanJob):
    """Fails every attempt, so it ends ``failed`` with a row in ``failed_jobs``."""

    type = "always_fails"
    tries = 2
    backoff = 1

    def handle(self) -> None:
        self.log(f"trying to import the supplier's price list, attempt {self.attempt}")
        raise ValueError("price list has no 'sku' column (this job fails on purpose)")


class SlowJob(JobmanJob):
    """Sleeps ``attribs["seconds"]`` (default 10) so its row can be seen ``running``."""

    type = "slow"
    queue = "low"
    timeout = 600

    def handle(self) -> str:
        seconds = float(self.attribs.get("seconds", 10))
        self.log(f"working for {seconds:g} seconds")
        time.sleep(seconds)
        self.log("done")
        return "success"


class StockCheckJob(JobmanJob):
    """A periodic job: every minute the worker's scheduler fires a run, a row of its own."""

    type = "stock_check"
    schedule = "* * * * *"
    schedule_attribs = {"warehouse": "main"}

    def handle(self) -> str:
        self.log(f"counting the stock of warehouse {self.attribs['warehouse']}")
        return "counted"
