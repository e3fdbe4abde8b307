"""A running job's progress (per cent and a note), the history of its attempts that did
not complete, and pausing queues as a permission of its own."""

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
        migrations.AlterModelOptions(
            name="jobman",
            options={
                "permissions": [
                    ("retry_jobman", "Can retry failed jobs"),
                    ("requeue_jobman", "Can requeue pending jobs"),
                    ("cancel_jobman", "Can cancel waiting jobs"),
                    ("pause_queues", "Can pause and resume queues"),
                ],
                "verbose_name": "job",
            },
        ),
    ]
