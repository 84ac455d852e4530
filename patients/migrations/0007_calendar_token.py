# A per-patient secret for the calendar feed URL (/calendar/<token>.ics).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0006_history_and_read_log"),
    ]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="calendar_token",
            field=models.CharField(blank=True, default="", editable=False, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                condition=models.Q(("calendar_token", ""), _negated=True),
                fields=("calendar_token",),
                name="patient_calendar_token_unique",
            ),
        ),
    ]
