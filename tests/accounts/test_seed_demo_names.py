"""The demo practice's visit types come with Spanish names, so the demo shows them."""

from django.core.management import call_command

from scheduling.models import AppointmentType


def test_the_demo_visit_types_have_spanish_names(db):
    call_command("seed_demo", verbosity=0)
    names = dict(AppointmentType.objects.values_list("slug", "name_es"))
    assert names["video-visit"] == "Consulta por video"
    assert all(names.values())
