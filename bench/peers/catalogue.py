"""The systems of section ``peers``, in the order a round runs them, and which can run here.

A system is named by where its ``Peer`` class is and which worker class it runs; it is
loaded only once it is known to be importable, so that a missing peer (or a Django without
``django.tasks``) costs a line saying so, not an ImportError.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

import django
from django.utils.module_loading import import_string

from bench.peers.base import Peer

INSTALL_HINT = "pip install --group peers"


@dataclass(frozen=True)
class System:
    name: str
    label: str  # how the report names it
    peer_class: str  # dotted path of its Peer subclass
    worker_class: str  # "simple" or "fork": which job count it drains
    # (module, distribution) pairs the system needs installed.
    requires: tuple[tuple[str, str], ...] = ()
    needs_django6: bool = False  # a backend of Django's tasks framework

    def why_skipped(self) -> str | None:
        """Why this system cannot run here, as the line the section prints; or None."""
        for module, distribution in self.requires:
            if find_spec(module) is None:
                return f"skipped: {distribution} is not installed ({INSTALL_HINT})"
        if self.needs_django6 and django.VERSION < (6, 0):
            return (
                "skipped: a django.tasks backend needs Django 6.0 or later "
                f"(this is Django {django.get_version()})"
            )
        return None

    def load(self) -> Peer:
        peer: Peer = import_string(self.peer_class)(self.name, self.worker_class)
        return peer


CELERY = (("celery", "celery"), ("django_celery_results", "django-celery-results"))
TASKS_DB = (("django_tasks_db", "django-tasks-db"),)
TASKS_RQ = (("django_tasks_rq", "django-tasks-rq"),)

SYSTEMS = [
    System("rq-simple", "bare RQ, `SimpleWorker` (no row)", "bench.peers.rq_bare.BareRQ", "simple"),
    System("rq-fork", "bare RQ, forking `Worker` (no row)", "bench.peers.rq_bare.BareRQ", "fork"),
    System(
        "jobman-simple",
        "jobman, `JobmanSimpleWorker`",
        "bench.peers.jobman_rows.JobmanRows",
        "simple",
    ),
    System(
        "jobman-fork",
        "jobman, forking `JobmanWorker`",
        "bench.peers.jobman_rows.JobmanRows",
        "fork",
    ),
    System(
        "jobman-tasks",
        "jobman's Django tasks backend, `JobmanSimpleWorker`",
        "bench.peers.jobman_tasks.JobmanTasks",
        "simple",
        needs_django6=True,
    ),
    System(
        "celery",
        "Celery, solo pool, django-celery-results",
        "bench.peers.celery_peer.CeleryPeer",
        "simple",
        requires=CELERY,
    ),
    System(
        "tasks-db",
        "django-tasks-db, `db_worker --batch`",
        "bench.peers.tasks_db.TasksDB",
        "simple",
        requires=TASKS_DB,
        needs_django6=True,
    ),
    System(
        "tasks-rq-simple",
        "django-tasks-rq, `SimpleWorker` (no row)",
        "bench.peers.tasks_rq.TasksRQ",
        "simple",
        requires=TASKS_RQ,
        needs_django6=True,
    ),
    System(
        "tasks-rq-fork",
        "django-tasks-rq, forking `Worker` (no row)",
        "bench.peers.tasks_rq.TasksRQ",
        "fork",
        requires=TASKS_RQ,
        needs_django6=True,
    ),
]
# What every steady rate is divided by.
BASELINE = "rq-simple"
