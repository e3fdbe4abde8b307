"""The Celery application of section ``peers``: its settings are the ``CELERY_*`` ones of
``bench.peers.settings`` (the bench's Redis as broker, results as django-celery-results
rows, start times kept), and its one task does nothing.

The worker is ``celery -A bench.peers.celery_app worker``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peers.settings")

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task
def noop() -> None:
    """Does nothing."""
