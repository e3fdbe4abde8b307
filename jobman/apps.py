"""App configuration: system checks, and discovery of job classes."""

from __future__ import annotations

from importlib import import_module

import django
from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules, import_string


class JobmanConfig(AppConfig):
    name = "jobman"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from jobman import checks, conf  # noqa: F401  (importing checks registers them)

        autodiscover_modules("jobs")
        if django.VERSION >= (6, 0):
            # Lets workers find Django tasks: rows whose type is a task's module path.
            import_module("jobman.tasks")
        if conf.problems():
            return  # the checks report it
        for path in conf.get("JOBS"):
            try:
                import_module(path)
            except ModuleNotFoundError:
                try:
                    import_string(path)  # a dotted path to a job class
                except ImportError as error:
                    raise ImproperlyConfigured(
                        f"settings.JOBMAN['JOBS'] lists {path!r}, which cannot be imported: {error}"
                    ) from None
