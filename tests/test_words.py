"""How jobman says counts and times to a person, in the admin and the commands alike."""

from __future__ import annotations

import pytest

from jobman import words


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "0 s"),
        (59.4, "59 s"),
        (59.6, "1 min 00 s"),
        (245, "4 min 05 s"),
        (3599, "59 min 59 s"),
        (7380, "2 h 03 min"),
        (86399, "23 h 59 min"),
        (3 * 86400 + 4 * 3600 + 5, "3 d 04 h"),
        (-245, "4 min 05 s"),  # a span: which way it runs is said around it
        (10**12, "11574074 d 01 h"),
    ],
)
def test_span__two_largest_units_to_the_second(seconds: float, said: str) -> None:
    assert words.span(seconds) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(45, "45 s"), (119, "119 s"), (120, "2 min"), (720, "12 min"), (3 * 3600, "3 h")],
)
def test_duration__the_largest_unit_it_holds_two_of(seconds: float, said: str) -> None:
    assert words.duration(seconds) == said
