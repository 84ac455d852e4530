"""Indexes for a network's scale (issue 8; docs/performance.md).

Drops the single-column index on vitals.session_id: the (session_id, measured_at) index
(vitals_session_time_idx) serves every lookup by session, including the day board's
latest-reading subquery and the chart, as their EXPLAIN plans in `make bench` show; the
other index only added work to each insert into the largest table. The read paths were
already index scans at 1,000,000 sessions and 10,000,000 readings, so nothing is added.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0007_history'),
    ]

    operations = [
        migrations.AlterField(
            model_name='vitalsigns',
            name='session',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='vitals', to='scheduling.session'),
        ),
    ]
