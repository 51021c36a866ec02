"""Where the patient is during the visit, as they answered in the waiting room. Existing
visits have no answer (their appointment's booking answer stands in)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("visits", "0003_encrypt_provider_status")]

    operations = [
        migrations.AddField(
            model_name="visit",
            name="location_confirmed_at",
            field=models.DateTimeField(
                blank=True, help_text="When the patient said where they are.", null=True
            ),
        ),
        migrations.AddField(
            model_name="visit",
            name="patient_at_home",
            field=models.BooleanField(
                blank=True,
                help_text="At home (place of service 10) or somewhere else (02).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="visit",
            name="patient_state",
            field=models.CharField(
                blank=True, help_text="Two-letter US state the patient is in.", max_length=2
            ),
        ),
        migrations.AddConstraint(
            model_name="visit",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("location_confirmed_at__isnull", True),
                        ("patient_at_home__isnull", True),
                        ("patient_state", ""),
                    ),
                    models.Q(
                        ("location_confirmed_at__isnull", False),
                        ("patient_at_home__isnull", False),
                        models.Q(("patient_state", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="visit_location_answered_whole",
            ),
        ),
    ]
