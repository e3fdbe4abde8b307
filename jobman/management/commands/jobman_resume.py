"""Resume paused queues."""

from __future__ import annotations

from jobman import operations
from jobman.management.commands import jobman_pause


class Command(jobman_pause.Command):
    help = "Resume paused queues: workers take their jobs again within about a second."
    examples = ("manage.py jobman_resume low", "manage.py jobman_resume low default")
    switch = staticmethod(operations.resume_queues)
    verb, not_done, after = "Resumed", "Not resumed", "workers take its jobs again"
    names_help = "Paused queues to resume."
