"""No double-booking on PostgreSQL: an exclusion constraint over each provider's buffered time,
for active appointments only. SQLite relies on the booking service's lock (IMMEDIATE
transactions serialise writers there)."""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_no_overlap
    EXCLUDE USING gist (
        provider_id WITH =,
        tstzrange(blocked_start, blocked_end, '[)') WITH &&
    ) WHERE (status IN ('booked', 'confirmed', 'checked_in', 'in_progress'));
"""

DROP = "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap;"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
