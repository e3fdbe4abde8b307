"""Pausing and resuming queues is a permission of its own, as each admin action is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobman", "0008_progress_and_history")]

    operations = [
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
