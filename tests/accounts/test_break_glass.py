from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from telehealth.accounts import services
from telehealth.accounts.models import BreakGlassGrant
from telehealth.audit.models import Action, AuditEvent
from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def chart(patient) -> str:
    return reverse("accounts:patient-chart", args=[patient.pk])


def test_clinician_outside_the_care_team_is_offered_emergency_access(client, world):
    sign_in(client, world.other_clinician)
    response = client.get(chart(world.patient))
    assert response["Location"] == reverse("accounts:break-glass", args=[world.patient.pk])
    assert not AuditEvent.objects.filter(action=Action.VIEW, patient=world.patient).exists()


def test_emergency_access_needs_a_reason(client, world):
    sign_in(client, world.other_clinician)
    url = reverse("accounts:break-glass", args=[world.patient.pk])
    response = client.post(url, {"reason": "urgent", "confirm": "on"})
    assert response.status_code == 400
    assert not BreakGlassGrant.objects.exists()


def test_emergency_access_opens_the_chart_audits_it_and_alerts_admins(
    client, world, django_capture_on_commit_callbacks
):
    sign_in(client, world.other_clinician)
    url = reverse("accounts:break-glass", args=[world.patient.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"reason": "Patient unresponsive, covering for Dr Alpha", "confirm": "on"}
        )
    assert response["Location"] == chart(world.patient)
    page = client.get(chart(world.patient))
    assert page.status_code == 200
    assert b"Emergency access" in page.content
    event = AuditEvent.objects.get(action=Action.BREAK_GLASS)
    assert event.actor == world.other_clinician
    assert event.patient_id == world.patient.pk
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["admin@alpha.test"]
    assert "Pat Alpha" not in mail.outbox[0].body  # no PHI in the alert


def test_emergency_access_expires_after_sixty_minutes(client, world):
    grant = services.break_glass_grant(
        clinician=world.other_clinician,
        patient=world.patient,
        reason="Covering the on-call shift tonight",
    )
    assert grant.expires_at - grant.granted_at == timedelta(minutes=60)
    sign_in(client, world.other_clinician)
    assert client.get(chart(world.patient)).status_code == 200
    BreakGlassGrant.objects.filter(pk=grant.pk).update(
        granted_at=timezone.now() - timedelta(minutes=61),
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    assert client.get(chart(world.patient))["Location"].endswith("/emergency-access/")
    assert client.get(f"/api/v1/patients/{world.patient.pk}").status_code == 404


def test_clinician_of_another_practice_cannot_break_glass(client, world):
    sign_in(client, world.outside_clinician)
    url = reverse("accounts:break-glass", args=[world.patient.pk])
    assert (
        client.post(url, {"reason": "I would like to see this", "confirm": "on"}).status_code == 404
    )
    with pytest.raises(ValueError):
        services.break_glass_grant(
            clinician=world.outside_clinician,
            patient=world.patient,
            reason="Cross-practice attempt here",
        )


def test_admin_reviews_an_emergency_access(client, world):
    grant = services.break_glass_grant(
        clinician=world.other_clinician,
        patient=world.patient,
        reason="Covering the on-call shift tonight",
    )
    sign_in(client, world.admin)
    assert b"1 access to review" in client.get("/").content
    url = reverse("accounts:break-glass-review", args=[grant.pk])
    response = client.post(url, {"note": "Confirmed with the on-call rota."})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.reviewed_by == world.admin
    assert b"No emergency chart access waits" in client.get("/").content
