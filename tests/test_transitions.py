"""The state machine's table: every change of state is one of its moves, and the SQL of
the hot path is built from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone

from jobman import hotpath, notes
from jobman.models import MOVES, Jobman, JobStatus
from jobman.models.transitions import CANCEL, CLAIM, COMPLETE, PUSH
from jobman.testing import capture_dispatches
from tests.testapp.jobs import HelloJob

pytestmark = pytest.mark.django_db(transaction=True)


def saved(**fields: object) -> Jobman:
    with capture_dispatches():
        row = HelloJob.dispatch({"name": "Ada"})
    if fields:
        Jobman.objects.filter(pk=row.pk).update(**fields)
    return Jobman.objects.get(pk=row.pk)


def test_every_state_is_reached_and_every_unfinished_one_left() -> None:
    targets = {move.target for move in MOVES}
    sources = {source for move in MOVES for source in move.sources}
    assert targets == set(JobStatus)
    # A finished row leaves only by a person's retry of a failed one.
    assert sources == {*JobStatus.waiting(), JobStatus.RUNNING, JobStatus.FAILED}
    assert len({move.name for move in MOVES}) == len(MOVES)


def test_a_move_refuses_a_column_it_does_not_write() -> None:
    row = saved()
    with pytest.raises(ValueError, match="move 'push' does not write attempts"):
        Jobman.objects.filter(pk=row.pk).move(PUSH, attempts=3)
    assert Jobman.objects.get(pk=row.pk).attempts == 0  # nothing changed


def test_a_move_leaves_rows_outside_its_source_states() -> None:
    waiting, running = saved(), saved(status=JobStatus.RUNNING)
    moved = Jobman.objects.filter(pk__in=[waiting.pk, running.pk]).move(CANCEL, unique_key=None)
    assert moved == 1
    found = dict(Jobman.objects.values_list("pk", "status"))
    assert found == {waiting.pk: JobStatus.CANCELLED, running.pk: JobStatus.RUNNING}


def test_the_claim_sql_is_built_from_the_move() -> None:
    """Give the claim other source states and it claims from those: no state is written
    into its SQL."""
    cancelled = saved(status=JobStatus.CANCELLED)
    queued = saved(status=JobStatus.QUEUED)
    from_cancelled = dataclasses.replace(CLAIM, sources=(JobStatus.CANCELLED,))
    now = timezone.now()
    assert hotpath.claim(Jobman, "default", from_cancelled, queued.pk, "w", now) is None
    assert hotpath.claim(Jobman, "default", from_cancelled, cancelled.pk, "w", now)
    assert Jobman.objects.get(pk=cancelled.pk).status == JobStatus.RUNNING


def test_the_finish_sql_is_built_from_the_move() -> None:
    queued = saved(status=JobStatus.QUEUED)
    from_queued = dataclasses.replace(COMPLETE, sources=(JobStatus.QUEUED,))
    changes = {"status": from_queued.target, "updated_at": timezone.now()}
    assert not hotpath.finish(Jobman, "default", COMPLETE, queued.pk, 0, dict(changes))
    assert hotpath.finish(Jobman, "default", from_queued, queued.pk, 0, dict(changes))
    assert Jobman.objects.get(pk=queued.pk).status == JobStatus.COMPLETED


def test_migration_fills_the_reason_of_rows_a_chain_cancelled_from_their_note() -> None:
    """Rows cancelled by a chain before the column existed get their reason from the note
    the chain left in their logs; other rows keep an empty one."""
    migration = __import__(
        "jobman.migrations.0005_chain_cancel_reason", fromlist=["reasons_from_notes"]
    )
    reason = notes.chain_cancel(2, 41, "failed")
    by_chain = saved(status=JobStatus.CANCELLED, logs="job note\n" + notes.line(reason))
    by_person = saved(status=JobStatus.CANCELLED, logs="")
    waiting = saved(logs=notes.line(reason))  # not cancelled: its note is only a note

    migration.reasons_from_notes(apps, None)

    found = dict(Jobman.objects.values_list("pk", "cancel_reason"))
    assert found == {by_chain.pk: reason, by_person.pk: "", waiting.pk: ""}


def test_the_readme_lists_every_move_as_the_table_has_it() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    listed = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {move.name for move in MOVES}:
            states = [cell.strip("`") for cell in cells[1].split(", ")]
            listed[cells[0]] = (tuple(states), cells[2].strip("`"))
    assert listed == {move.name: (move.sources, move.target) for move in MOVES}
