"""jobman.ids: a row's RQ job id, built and read in one place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobman import bounds, ids
from jobman.models import Jobman


@given(st.integers(min_value=1, max_value=bounds.MAX_ID))
def test_row_id__reads_back_every_id_it_builds(pk: int) -> None:
    assert ids.row_id(ids.rq_job_id(pk)) == pk
    assert Jobman(pk=pk).rq_job_id == ids.rq_job_id(pk)


@pytest.mark.parametrize(
    "rq_job_id",
    [
        "",
        "jobman-",
        "jobman-0",
        "jobman--1",
        "jobman-1_0",
        "jobman- 7",
        "jobman-\u00b2",  # str.isdigit(), yet int() refuses it
        "jobman-\u0661",
        f"jobman-{2**63}",
        "jobman-" + "9" * 5000,
        "other-5",
        "5",
        "jobman-5x",
    ],
)
def test_row_id__names_no_row_for_anything_else(rq_job_id: str) -> None:
    assert ids.row_id(rq_job_id) is None


@given(st.text())
def test_row_id__any_text_is_a_row_id_or_none(text: str) -> None:
    found = ids.row_id(text)
    assert found is None or bounds.is_row_id(found)
