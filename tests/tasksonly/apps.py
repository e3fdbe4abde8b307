from __future__ import annotations

from importlib import import_module

from django.apps import AppConfig


class TasksOnlyConfig(AppConfig):
    name = "tests.tasksonly"

    def ready(self) -> None:
        import_module("tests.tasksonly.tasks")
