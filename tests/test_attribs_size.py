"""JOBMAN["MAX_ATTRIBS_BYTES"]: at dispatch, when an attempt hands attribs back, and in the admin."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from jobman.models import Jobman, JobStatus
from tests.support.helpers import manage
from tests.support.rows import make_failed, make_row
from tests.testapp.jobs import GrowingAttribsJob, HelloJob

SMALL = {"JOBMAN": {"MAX_ATTRIBS_BYTES": 1000}}


@pytest.mark.django_db
@override_settings(**SMALL)
def test_dispatch__refuses_attribs_over_the_limit_naming_it() -> None:
    HelloJob.dispatch({"name": "x" * 900})  # within: stored

    with pytest.raises(ValueError, match=r"MAX_ATTRIBS_BYTES.*1,000|1,000.*MAX_ATTRIBS_BYTES"):
        HelloJob.dispatch({"name": "x" * 1000})
    with pytest.raises(ValueError, match="MAX_ATTRIBS_BYTES"):
        HelloJob.dispatch_many([{"name": "a"}, {"name": "é" * 600}])  # 1,200 bytes in UTF-8

    assert Jobman.objects.count() == 1


@pytest.mark.django_db
def test_dispatch__the_default_limit_is_one_mebibyte() -> None:
    HelloJob.dispatch({"name": "x" * (1024 * 1024 - 20)})
    with pytest.raises(ValueError, match="1,048,576"):
        HelloJob.dispatch({"name": "x" * (1024 * 1024)})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("worker_class", ["fork", "simple"])
def test_attempt__attribs_grown_over_the_limit_fail_it_and_keep_the_old_ones(
    worker_class: str,
) -> None:
    within = GrowingAttribsJob.dispatch({"grow": 100})
    over = GrowingAttribsJob.dispatch({"grow": 5000})

    limit = json.dumps({"MAX_ATTRIBS_BYTES": 1000})
    result = manage(
        "jobman_work", "--burst", "--worker-class", worker_class, env={"JOBMAN_TEST_JOBMAN": limit}
    )
    assert result.code == 0, result.err

    within.refresh_from_db()
    assert within.status == JobStatus.COMPLETED
    assert within.attribs["result"] == "r" * 100
    over.refresh_from_db()
    assert over.status == JobStatus.FAILED
    assert over.attribs == {"grow": 5000}  # what the row held before the attempt
    assert "MAX_ATTRIBS_BYTES" in (over.error_message or "")
    assert "growing" in over.logs


@pytest.mark.django_db
def test_admin__a_large_value_is_cut_with_a_link_to_the_whole(admin_user: User) -> None:
    client = Client()
    client.force_login(admin_user)
    big = make_row(JobStatus.FAILED, attribs={"blob": "b" * 200_000})
    small = make_row(attribs={"name": "ada"})

    page = client.get(reverse("admin:jobman_jobman_change", args=[big.pk])).content.decode()
    whole_url = reverse("admin:jobman_jobman_attribs", args=[big.pk])
    assert len(page) < 120_000
    assert "cut: the first 65,536 of" in page
    assert f'href="{whole_url}"' in page
    whole = client.get(whole_url)
    assert whole["Content-Type"].startswith("application/json")
    assert whole.json() == {"blob": "b" * 200_000}

    page = client.get(reverse("admin:jobman_jobman_change", args=[small.pk])).content.decode()
    assert "cut: the first" not in page
    assert "ada" in page

    failure = make_failed()
    failure.payload = {"attribs": {"blob": "p" * 100_000}}
    failure.save()
    page = client.get(reverse("admin:jobman_failedjob_change", args=[failure.pk])).content.decode()
    assert "cut: the first 65,536 of" in page
    assert reverse("admin:jobman_jobman_attribs", args=[failure.jobman_id]) in page


@pytest.mark.django_db
def test_admin__the_whole_value_needs_the_view_permission_and_a_real_id(
    admin_user: User,
) -> None:
    row = make_row(attribs={"secret": "s"})
    url = reverse("admin:jobman_jobman_attribs", args=[row.pk])
    staff = User.objects.create_user("staff", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(url).status_code == 403

    client.force_login(admin_user)
    for bad in ("0", "9" * 30, "abc", str(row.pk + 100)):
        assert client.get(f"/admin/jobman/jobman/{bad}/attribs.json").status_code == 404
