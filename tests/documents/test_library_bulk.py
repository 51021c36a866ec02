"""The education library beyond one patient: a leaflet shared with many patients at once
(chosen by name, provider or upcoming visit type; capped; audited; one notice each without
PHI; a cost that does not grow with the list), and items retired and put back."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from documents import services
from documents.models import Kind, LibraryItem, SharedDocument
from scheduling.models import Appointment, AppointmentType
from telehealth.accounts import services as accounts
from telehealth.accounts.models import CareTeamReason
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage, PhoneOptOut
from tests.conftest import make_patient, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
LEAFLET = "Living with type 2 diabetes"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def item(world) -> LibraryItem:
    upload = SimpleUploadedFile("diabetes.pdf", PDF, content_type="application/pdf")
    return services.library_item_add(by=world.admin, title=LEAFLET, upload=upload)


def more_patients(world, count: int, *, start: int = 0, on_team: bool = True) -> list:
    patients = []
    for n in range(start, start + count):
        patient = make_patient(
            world.practice, f"Bulk Patient {n:03}", f"bulk{n}@alpha.test", phone=f"+1617555{n:04}"
        )
        if on_team:
            accounts.care_team_add(
                patient=patient, clinician=world.clinician, reason=CareTeamReason.ASSIGNED, by=None
            )
        patients.append(patient)
    return patients


def share_page(item) -> str:
    return reverse("documents:library-share", args=[item.pk])


def post_many(client, item, patients, **data):
    return client.post(
        share_page(item), {"patients": [p.pk for p in patients], "comment": "", **data}
    )


# --- Sharing with many ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "front_desk", "practice_admin"])
def test_staff_share_a_leaflet_with_several_patients_in_one_go(client, world, item, role):
    patients = [world.patient, world.other_patient, *more_patients(world, 2)]
    sign_in(client, world.user_for(role))
    response = post_many(client, item, patients, comment="Please read before your visit.")
    assert response.status_code == 302
    assert response["Location"] == reverse("documents:library")
    documents = list(SharedDocument.objects.order_by("patient_id"))
    assert [d.patient for d in documents] == sorted(patients, key=lambda p: p.pk)
    for document in documents:
        assert (document.kind, document.title, document.library_item) == (
            Kind.EDUCATION,
            LEAFLET,
            item,
        )
        assert document.comment == "Please read before your visit."
        assert document.shared_by == world.user_for(role)
    page = client.get(reverse("documents:library")).content.decode()
    assert "Shared with 4 patients." in page


def test_one_audit_event_names_every_document_and_patient(world, item):
    patients = [world.patient, *more_patients(world, 2)]
    result = services.library_item_share_many(
        item=item, by=world.front_desk, patient_ids=[p.pk for p in patients]
    )
    [event] = AuditEvent.objects.filter(action="create", detail__startswith="library item")
    assert event.detail == f"library item #{item.pk} shared with 3 patients"
    for document in result.documents:
        assert list(AuditEvent.objects.about_record(document)) == [event]
        assert AuditEvent.objects.about_patient(document.patient).filter(pk=event.pk).exists()


def test_each_patient_is_told_once_on_their_channel_and_never_what_it_is(world, item):
    texter, emailer = more_patients(world, 2)
    texter.sms_consent, texter.sms_consent_at = True, timezone.now()
    texter.preferred_channel = "sms"
    texter.save()
    emailer.preferred_channel = "email"
    emailer.save()
    result = services.library_item_share_many(
        item=item, by=world.admin, patient_ids=[texter.pk, emailer.pk]
    )
    notices = {
        m.patient_id or 0: m for m in OutboundMessage.objects.filter(template="documents.shared")
    }
    assert {p: m.channel for p, m in notices.items()} == {texter.pk: "sms", emailer.pk: "email"}
    by_patient = {d.patient_id: d for d in result.documents}
    for patient_id, notice in notices.items():
        assert notice.related_id == str(by_patient[patient_id].pk)
        assert notice.dedupe_key == f"document-shared:{by_patient[patient_id].pk}:{notice.channel}"
        assert reverse("documents:mine") in notice.body
        for secret in ("diabetes", "Living", "diabetes.pdf"):
            assert secret.lower() not in (notice.body + notice.subject).lower()


def test_an_opted_out_texter_gets_an_email_instead(world, item):
    [patient] = more_patients(world, 1)
    patient.sms_consent, patient.sms_consent_at = True, timezone.now()
    patient.preferred_channel = "sms"
    patient.save()
    PhoneOptOut.objects.create(phone_index=patient.phone_index, source="test")
    services.library_item_share_many(item=item, by=world.admin, patient_ids=[patient.pk])
    assert OutboundMessage.objects.get(patient=patient).channel == "email"


def test_patients_who_have_it_or_no_portal_account_are_skipped_and_counted(client, world, item):
    services.document_share(
        patient=world.patient,
        by=world.admin,
        kind=Kind.EDUCATION,
        title=LEAFLET,
        library_item=item,
    )
    offline = make_patient(world.practice, "Offline Alpha", "off@alpha.test", login=False)
    sign_in(client, world.admin)
    response = post_many(client, item, [world.patient, world.other_patient, offline])
    assert response.status_code == 302
    assert set(SharedDocument.objects.values_list("patient_id", flat=True)) == {
        world.patient.pk,
        world.other_patient.pk,
    }
    page = client.get(reverse("documents:library")).content.decode()
    assert "Shared with 1 patient. 1 already had it. 1 has no portal account yet" in page


def test_more_patients_than_the_cap_are_refused_with_a_message_and_nothing_is_shared(
    client, world, item, monkeypatch
):
    monkeypatch.setattr(services, "MAX_BULK_SHARE", 3)
    patients = [world.patient, world.other_patient, *more_patients(world, 2)]
    sign_in(client, world.admin)
    response = post_many(client, item, patients)
    assert response.status_code == 400
    assert "You chose 4 patients; share with at most 3 at a time." in response.content.decode()
    assert not SharedDocument.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert post_many(client, item, patients[:3]).status_code == 302
    assert SharedDocument.objects.count() == 3


def test_choosing_nobody_is_a_clear_400(client, world, item):
    sign_in(client, world.admin)
    response = post_many(client, item, [])
    assert response.status_code == 400
    assert "Choose at least one patient." in response.content.decode()


def test_a_patient_id_that_is_not_a_number_is_a_clear_400(client, world, item):
    sign_in(client, world.admin)
    response = client.post(share_page(item), {"patients": ["1; DROP"], "comment": ""})
    assert response.status_code == 400
    assert "Choose patients from the list." in response.content.decode()


@pytest.mark.parametrize("whose", ["another_practice", "off_the_care_team"])
def test_a_patient_the_user_may_not_see_spoils_the_whole_share(client, world, item, whose):
    [outsider] = (
        [world.outside_patient]
        if whose == "another_practice"
        else more_patients(world, 1, on_team=False)
    )
    sign_in(client, world.clinician)
    response = post_many(client, item, [world.patient, outsider])
    assert response.status_code == 400
    assert "not yours to share with" in response.content.decode()
    assert not SharedDocument.objects.exists()
    assert not AuditEvent.objects.filter(
        action="create", detail__startswith="library item"
    ).exists()


def test_a_clinician_is_offered_only_their_care_teams_patients(client, world, item):
    [stranger] = more_patients(world, 1, on_team=False)
    sign_in(client, world.clinician)
    page = client.get(share_page(item)).content.decode()
    assert "Pat Alpha" in page and "Other Alpha" in page
    assert stranger.legal_name not in page and "Pat Beta" not in page


def test_the_candidate_list_is_searched_by_name(client, world, item):
    sign_in(client, world.front_desk)
    page = client.get(share_page(item), {"q": "other"}).content.decode()
    assert "Other Alpha" in page and "Pat Alpha" not in page
    assert "checked" not in page  # a name search chooses nobody for you


def test_a_providers_patients_are_listed_and_chosen_and_have_it_marked(client, world, item):
    services.document_share(
        patient=world.patient, by=world.admin, kind=Kind.EDUCATION, title=LEAFLET, library_item=item
    )
    [stranger] = more_patients(world, 1, on_team=False)
    provider = world.clinician.provider
    sign_in(client, world.front_desk)
    page = client.get(share_page(item), {"provider": provider.pk}).content.decode()
    assert stranger.legal_name not in page
    assert f'value="{world.other_patient.pk}" id="patient-{world.other_patient.pk}" checked' in page
    assert f'value="{world.patient.pk}" id="patient-{world.patient.pk}" disabled' in page
    assert "Already has it" in page


def test_patients_with_an_upcoming_visit_of_a_type_are_listed(client, world, item):
    video = AppointmentType.objects.create(
        practice=world.practice, name="Diabetes review", slug="dm"
    )
    provider = world.clinician.provider
    start = timezone.now() + timedelta(days=3)
    Appointment.objects.create(
        practice=world.practice,
        provider=provider,
        patient=world.other_patient,
        appointment_type=video,
        start=start,
        end=start + timedelta(minutes=30),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=30),
        status="booked",
    )
    sign_in(client, world.admin)
    page = client.get(share_page(item), {"visit_type": video.pk}).content.decode()
    assert "Other Alpha" in page and "Pat Alpha" not in page


def test_sharing_with_six_patients_costs_the_same_statements_as_with_two(world, item):
    """One read of the patients, one of who has it, one of opt-outs, one of the practice's
    wording, one INSERT of documents, the audit event and its subjects, one INSERT of
    notices: nothing per patient."""
    patients = more_patients(world, 8)
    for patient in (patients[0], patients[2]):  # a texter in each batch
        patient.sms_consent, patient.sms_consent_at = True, timezone.now()
        patient.preferred_channel = "sms"
        patient.save()
    with CaptureQueriesContext(connection) as two:
        services.library_item_share_many(
            item=item, by=world.admin, patient_ids=[p.pk for p in patients[:2]]
        )
    with CaptureQueriesContext(connection) as six:
        services.library_item_share_many(
            item=item, by=world.admin, patient_ids=[p.pk for p in patients[2:]]
        )
    assert SharedDocument.objects.count() == 8
    assert OutboundMessage.objects.filter(template="documents.shared").count() == 8
    assert len(six.captured_queries) == len(two.captured_queries)
    # On PostgreSQL the audit event is one call of audit_append, on SQLite the chain's tail
    # and the insert.
    most = {"postgresql": 11, "sqlite": 12}[connection.vendor]
    assert len(two.captured_queries) <= most, [q["sql"][:90] for q in two.captured_queries]


# --- Retiring items -----------------------------------------------------------------------------


def test_a_retired_item_is_not_offered_for_new_shares_and_old_ones_stay_readable(
    client, world, item
):
    document = services.document_share(
        patient=world.patient, by=world.admin, kind=Kind.EDUCATION, title=LEAFLET, library_item=item
    )
    sign_in(client, world.admin)
    response = client.post(reverse("documents:library-retire", args=[item.pk]))
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.retired_by, item.is_retired) == (world.admin, True)
    [event] = AuditEvent.objects.about_record(item).filter(action="update")
    assert event.detail == f"library item #{item.pk} retired"

    library = client.get(reverse("documents:library")).content.decode()
    assert "Retired items" in library and "Put back" in library
    chart_share = client.get(reverse("documents:share", args=[world.other_patient.pk]))
    assert f'value="{item.pk}"' not in chart_share.content.decode()
    refused = client.post(
        reverse("documents:share", args=[world.other_patient.pk]),
        {"kind": Kind.EDUCATION, "title": "", "library_item": item.pk},
    )
    assert refused.status_code == 400
    assert post_many(client, item, [world.other_patient]).status_code == 400
    with pytest.raises(services.DocumentError, match="retired"):
        services.document_share(
            patient=world.other_patient,
            by=world.admin,
            kind=Kind.EDUCATION,
            title=LEAFLET,
            library_item=item,
        )
    assert SharedDocument.objects.count() == 1

    sign_in(client, world.patient.user)
    assert LEAFLET in client.get(reverse("documents:mine")).content.decode()
    assert client.get(reverse("documents:file", args=[document.pk])).content == PDF


def test_a_retired_item_is_put_back_and_shared_again(client, world, item):
    services.library_item_retire(item=item, by=world.clinician)
    sign_in(client, world.clinician)
    assert client.post(reverse("documents:library-restore", args=[item.pk])).status_code == 302
    item.refresh_from_db()
    assert (item.retired_at, item.retired_by) == (None, None)
    assert [e.detail for e in AuditEvent.objects.about_record(item).filter(action="update")] == [
        f"library item #{item.pk} retired",
        f"library item #{item.pk} put back",
    ]
    assert post_many(client, item, [world.other_patient]).status_code == 302
    assert SharedDocument.objects.get().patient == world.other_patient


def test_retiring_twice_or_putting_back_a_live_item_says_so(client, world, item):
    with pytest.raises(services.DocumentError, match="not retired"):
        services.library_item_restore(item=item, by=world.admin)
    services.library_item_retire(item=item, by=world.admin)
    sign_in(client, world.admin)
    client.post(reverse("documents:library-retire", args=[item.pk]))
    assert (
        "This item is already retired." in client.get(reverse("documents:library")).content.decode()
    )
    assert AuditEvent.objects.about_record(item).filter(action="update").count() == 1


def test_front_desk_cannot_retire_and_sees_no_retire_button(client, world, item):
    sign_in(client, world.front_desk)
    assert "Retire" not in client.get(reverse("documents:library")).content.decode()
    assert client.post(reverse("documents:library-retire", args=[item.pk])).status_code == 403
    with pytest.raises(services.DocumentForbidden):
        services.library_item_retire(item=item, by=world.front_desk)
    item.refresh_from_db()
    assert not item.is_retired


def test_the_share_page_of_a_retired_item_says_so_and_offers_no_form(client, world, item):
    services.library_item_retire(item=item, by=world.admin)
    sign_in(client, world.front_desk)
    page = client.get(share_page(item)).content.decode()
    assert "This item is retired" in page and "Share with the chosen patients" not in page
