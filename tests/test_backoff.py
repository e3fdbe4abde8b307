"""Backoff policies: exponential growth up to a limit, lists, and jitter's spread."""

from __future__ import annotations

import random
import statistics

import pytest
from django.core import checks

import jobman
from jobman import backoff
from jobman.bounds import MAX_WAIT
from tests.testapp.jobs import HelloJob


def test_exponential__grows_by_its_factor_up_to_its_limit() -> None:
    policy = jobman.exponential(first=10, factor=2, limit=100)
    assert [policy.seconds(attempt) for attempt in range(1, 7)] == [10, 20, 40, 80, 100, 100]


def test_exponential__a_huge_attempt_number_is_the_limit_not_an_overflow() -> None:
    policy = jobman.exponential(first=1, factor=1000, limit=MAX_WAIT)
    assert policy.seconds(10**6) == MAX_WAIT
    assert jobman.exponential(first=0).seconds(50) == 0


def test_jitter__spreads_waits_over_its_range_and_no_further() -> None:
    policy = jobman.exponential(first=100, factor=1, limit=100, jitter=0.2)
    rng = random.Random(7)
    waits = [policy.seconds(1, rng) for _ in range(2000)]
    assert min(waits) >= 80
    assert max(waits) <= 120
    assert len(set(waits)) > 30  # spread, not one value
    assert abs(statistics.mean(waits) - 100) < 2


def test_jittered__a_list_spread_the_same_way_its_last_value_repeated() -> None:
    policy = jobman.jittered([10, 60, 300], jitter=0.5)
    rng = random.Random(1)
    assert all(150 <= policy.seconds(9, rng) <= 450 for _ in range(200))
    assert jobman.jittered([10, 60], jitter=0).seconds(1) == 10


def test_a_job_class_retries_after_its_policy() -> None:
    class Growing(HelloJob):
        backoff = jobman.exponential(first=5, factor=3, limit=60)

    assert [Growing.backoff_for(n) for n in (1, 2, 3, 4)] == [5, 15, 45, 60]


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (backoff.exponential(first=-1), "first must be seconds"),
        (backoff.exponential(first=MAX_WAIT + 1), "first must be seconds"),
        (backoff.exponential(first=10, limit=5), "limit must be seconds from first"),
        (backoff.exponential(factor=float("nan")), "factor must be a number from 1"),
        (backoff.exponential(factor=0.5), "factor must be a number from 1"),
        (backoff.exponential(factor=10**9), "factor must be a number from 1"),
        (backoff.exponential(factor=True), "factor must be a number from 1"),
        (backoff.exponential(jitter=1.5), "jitter must be a number from 0 to 1"),
        (backoff.exponential(jitter=float("inf")), "jitter must be a number from 0 to 1"),
        (backoff.jittered([], jitter=0.1), "steps must be a non-empty list"),
        (backoff.jittered("abc", jitter=0.1), "steps must be a non-empty list"),
        (backoff.jittered([1, -2], jitter=0.1), "steps must be a non-empty list"),
        (backoff.jittered([10**12], jitter=0.1), "steps must be a non-empty list"),
    ],
)
def test_a_bad_policy_is_named_by_check(policy: backoff.Backoff, problem: str) -> None:
    assert problem in (policy.problem() or "")
    assert not backoff.valid(policy)

    class Bad(HelloJob):
        type = "test.bad_backoff"
        backoff = policy

    from jobman import registry

    try:
        found = [error.id for error in checks.run_checks() if "Bad.backoff" in error.msg]
        assert found == ["jobman.E014"]
    finally:
        registry.unregister("test.bad_backoff")
