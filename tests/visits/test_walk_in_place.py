"""A walk-in patient's place in the queue counts only their own practice's walk-ins."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from tests.conftest import World, sign_in
from visits import services
from visits.models import Visit


def test_walk_in_place_counts_only_the_same_practice_queue(client: Client, world: World) -> None:
    now = timezone.now()
    earlier = [
        services.walk_in_request(patient=world.outside_patient),  # another practice's queue
        services.walk_in_request(patient=world.other_patient),
    ]
    for minutes, visit in zip((3, 2), earlier, strict=True):
        Visit.objects.filter(pk=visit.pk).update(waiting_since=now - timedelta(minutes=minutes))
    sign_in(client, world.patient.user)
    client.post("/visits/walk-in/")
    visit = Visit.objects.get(patient=world.patient)

    response = client.get(f"/visits/{visit.pk}/waiting/")

    assert response.status_code == 200
    assert response.context["ahead"] == 1
