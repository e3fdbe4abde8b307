"""A cancelled row says why in a column of its own; rows a chain cancelled before it
existed get theirs from the note the chain left in their logs."""

from typing import Any

from django.db import migrations, models

# The note a chain wrote on each later step it cancelled, as the logs hold it.
CHAIN_NOTE = "cancelled: step "


def reasons_from_notes(apps: Any, schema_editor: Any) -> None:
    Jobman = apps.get_model("jobman", "Jobman")
    cancelled = Jobman.objects.filter(status="cancelled", logs__contains=CHAIN_NOTE)
    for pk, logs in cancelled.values_list("pk", "logs").iterator():
        line = next(line for line in reversed(logs.splitlines()) if CHAIN_NOTE in line)
        reason = line[line.index(CHAIN_NOTE) :][:255]
        Jobman.objects.filter(pk=pk).update(cancel_reason=reason)


class Migration(migrations.Migration):
    dependencies = [("jobman", "0004_chains_and_batches")]

    operations = [
        migrations.AddField(
            model_name="jobman",
            name="cancel_reason",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(reasons_from_notes, migrations.RunPython.noop, elidable=True),
    ]
