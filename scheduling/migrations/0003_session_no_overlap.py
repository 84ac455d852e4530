"""No two sessions in one chair at once, and no patient in two sessions at once.

PostgreSQL enforces both under concurrency with exclusion constraints (btree_gist) over
the chair (or patient) and the session's time range, ignoring cancelled sessions and
no-shows. SQLite has no such constraint: there every write transaction takes the
database's write lock before it reads (settings: transaction_mode IMMEDIATE), so the
service's own check cannot race. The constraints are raw SQL, so Django's model state
does not change and makemigrations stays quiet on both databases.
"""

from django.db import migrations

HOLDING = "('booked', 'checked_in', 'in_progress', 'monitoring', 'discharged')"

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    f"""ALTER TABLE scheduling_session ADD CONSTRAINT session_chair_no_overlap
        EXCLUDE USING gist (chair_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
        WHERE (chair_id IS NOT NULL AND status IN {HOLDING})""",
    f"""ALTER TABLE scheduling_session ADD CONSTRAINT session_patient_no_overlap
        EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
        WHERE (status IN {HOLDING})""",
]
BACKWARD = [
    "ALTER TABLE scheduling_session DROP CONSTRAINT IF EXISTS session_patient_no_overlap",
    "ALTER TABLE scheduling_session DROP CONSTRAINT IF EXISTS session_chair_no_overlap",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0002_builtin_protocols")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
