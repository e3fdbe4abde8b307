"""jobman.bounds: the one definition of a valid id, count, duration and text value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from jobman import bounds

HOSTILE_TEXT = st.text(
    alphabet=st.characters(codec=None, categories=("Cs", "Cc", "Nd", "Zs", "Lu", "Po")),
    max_size=40,
)


@pytest.mark.parametrize(
    "text", ["1_0", " 7", "7 ", "٣", "\uff11", "+5", "-1", "0", "1e3", "", "-" + "9" * 5000]
)
def test_row_id__refuses_what_int_would_take_or_is_out_of_range(text: str) -> None:
    with pytest.raises(ValueError, match="expected an id"):
        bounds.row_id(text)


def test_row_id__the_largest_bigint_is_accepted_one_more_is_not() -> None:
    assert bounds.row_id(str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(ValueError, match="at most"):
        bounds.row_id(str(2**63))


@given(HOSTILE_TEXT)
def test_parsers__any_text_is_a_value_in_range_or_a_value_error(text: str) -> None:
    for parse in (bounds.row_id, bounds.count, bounds.seconds):
        try:
            value = parse(text)
        except ValueError as error:
            message = str(error)
            assert message.startswith("expected")
        else:
            assert 0 <= value <= bounds.MAX_ID
    for unit in ("days", "hours"):
        try:
            delta = bounds.duration(text, unit)
        except ValueError:
            continue
        assert timedelta(0) < delta <= bounds.MAX_DURATION
        timezone.now() - delta  # never overflows


@given(st.integers(min_value=1) | st.integers(min_value=10**25, max_value=10**40))
def test_duration__every_accepted_number_leaves_a_valid_datetime(number: int) -> None:
    for unit in ("days", "hours"):
        try:
            delta = bounds.duration(str(number), unit)
        except ValueError as error:
            message = str(error)
            assert message.startswith("expected at most")
        else:
            assert (timezone.now() - delta).year >= 1


def test_is_row_id__only_ints_in_range() -> None:
    assert bounds.is_row_id(1)
    assert not bounds.is_row_id(True)
    assert not bounds.is_row_id("1")
    assert not bounds.is_row_id(0)
    assert not bounds.is_row_id(2**63)


@pytest.mark.parametrize(
    ("value", "problem"),
    [("a\x00b", "NUL"), ("\udcff", "not valid UTF-8"), ("x" * 256, "longer than 255")],
)
def test_text__names_the_problem(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        bounds.text(value, "--type")
