"""A running job's progress (per cent and a note), and the history of its attempts that
did not complete."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def column(name: str, field: models.Field[Any, Any]) -> migrations.AddField:
    return migrations.AddField(model_name="jobman", name=name, field=field)


class Migration(migrations.Migration):
    dependencies = [("jobman", "0007_schedule_permission")]

    operations = [
        column("progress", models.PositiveSmallIntegerField(blank=True, null=True)),
        column("progress_note", models.CharField(blank=True, default="", max_length=255)),
        column(
            "history",
            models.JSONField(
                blank=True, default=list, help_text="Every attempt that did not complete."
            ),
        ),
    ]
