"""Pausing and resuming schedules is a permission of its own, as each admin action is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jobman", "0006_schedules")]

    operations = [
        migrations.AlterModelOptions(
            name="jobschedule",
            options={
                "permissions": [("pause_jobschedule", "Can pause and resume schedules")],
                "verbose_name": "schedule",
            },
        ),
    ]
