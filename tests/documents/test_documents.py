"""Documents shared with a patient: who may share which kind, what the patient is told, the
portal list and the file (viewed and downloaded, each audited), withdrawal, uploads and the
education library."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from documents import services
from documents.models import Kind, LibraryItem, SharedDocument
from scheduling.models import Appointment
from telehealth.accounts.selectors import patient_audit_trail
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in
from tests.core.test_access_matrix import make_appointment

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TITLE = "HIV antibody test result"
COMMENT = "Negative. Nothing to do."


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def pdf(name: str = "hiv-result-pat-alpha.pdf", data: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def jpeg_with_location() -> bytes:
    image = Image.new("RGB", (400, 300), (200, 120, 90))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (42.0, 21.0, 0.0), 1: "N"}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def share(world, *, by=None, kind=Kind.LAB_RESULT, **fields) -> SharedDocument:
    fields.setdefault("upload", pdf())
    return services.document_share(
        patient=fields.pop("patient", world.patient),
        by=by or world.clinician,
        kind=kind,
        title=fields.pop("title", TITLE),
        comment=fields.pop("comment", COMMENT),
        **fields,
    )


def post_share(client, patient, **data):
    data = {"kind": Kind.LAB_RESULT, "title": TITLE, "comment": COMMENT, **data}
    return client.post(reverse("documents:share", args=[patient.pk]), data)


def events(document: SharedDocument, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.about_record(document).filter(action=action))


# --- Sharing and the notice -----------------------------------------------------------------


def test_clinician_shares_a_pdf_from_the_chart_and_the_file_is_stored_encrypted(
    client, world, media
):
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, file=pdf())
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:patient-chart", args=[world.patient.pk])
    document = SharedDocument.objects.get()
    assert (document.kind, document.title, document.comment) == (Kind.LAB_RESULT, TITLE, COMMENT)
    assert document.content_type == "application/pdf"
    assert document.name == "hiv-result-pat-alpha.pdf"
    stored = Path(media) / document.file.name
    assert "hiv" not in document.file.name  # a random name
    assert not stored.read_bytes().startswith(b"%PDF")  # encrypted at rest
    assert document.file.open("rb").read() == PDF
    assert len(events(document, "create")) == 1


def test_the_patient_is_told_by_email_that_a_document_is_ready_and_never_what_it_is(world):
    world.patient.preferred_channel = "email"
    world.patient.save(update_fields=["preferred_channel"])
    document = share(world)
    notice = OutboundMessage.objects.get(related_id=str(document.pk))
    assert (notice.channel, notice.template) == ("email", "documents.shared")
    assert reverse("documents:mine") in notice.body
    for secret in ("HIV", "Negative", "hiv-result", "Lab"):
        assert secret not in notice.body and secret not in notice.subject


def test_a_patient_who_prefers_texts_and_agreed_is_texted(world):
    world.patient.sms_consent, world.patient.sms_consent_at = True, timezone.now()
    world.patient.preferred_channel = "sms"
    world.patient.save()
    document = share(world)
    notice = OutboundMessage.objects.get(related_id=str(document.pk))
    assert notice.channel == "sms"
    assert "HIV" not in notice.body and "document is ready" in notice.body


def test_a_patient_without_a_portal_account_cannot_be_shared_with(client, world):
    world.patient.user = None
    world.patient.save(update_fields=["user"])
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, file=pdf())
    assert response.status_code == 400
    assert "no portal account" in response.content.decode()
    assert not SharedDocument.objects.exists()


def test_document_may_belong_to_one_of_the_patients_visits_only(client, world):
    own = make_appointment(world.patient)
    # An hour later: PostgreSQL refuses a provider's overlapping appointments.
    hour = timedelta(hours=1)
    Appointment.objects.filter(pk=own.pk).update(
        start=F("start") - hour,
        end=F("end") - hour,
        blocked_start=F("blocked_start") - hour,
        blocked_end=F("blocked_end") - hour,
    )
    other = make_appointment(world.other_patient)
    sign_in(client, world.clinician)
    refused = post_share(client, world.patient, file=pdf(), appointment=other.pk)
    assert refused.status_code == 400
    assert not SharedDocument.objects.exists()
    assert post_share(client, world.patient, file=pdf(), appointment=own.pk).status_code == 302
    assert SharedDocument.objects.get().appointment == own


# --- Who may share which kind ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["front_desk", "practice_admin"])
@pytest.mark.parametrize("kind", [Kind.LAB_RESULT, Kind.IMAGING_REPORT, Kind.VISIT_SUMMARY])
def test_front_desk_and_admins_cannot_share_clinical_kinds(client, world, role, kind):
    sign_in(client, world.user_for(role))
    response = post_share(client, world.patient, kind=kind, file=pdf())
    assert response.status_code == 400  # not one of the form's choices
    assert not SharedDocument.objects.exists()
    with pytest.raises(services.DocumentForbidden):
        share(world, by=world.user_for(role), kind=kind)


@pytest.mark.parametrize("role", ["front_desk", "practice_admin"])
def test_front_desk_and_admins_share_education_material(client, world, role):
    sign_in(client, world.user_for(role))
    response = post_share(client, world.patient, kind=Kind.EDUCATION, title="Diet", file=pdf())
    assert response.status_code == 302
    assert SharedDocument.objects.get().shared_by == world.user_for(role)


def test_front_desk_is_offered_only_education_material(client, world):
    sign_in(client, world.front_desk)
    page = client.get(reverse("documents:share", args=[world.patient.pk])).content.decode()
    assert 'value="education"' in page and 'value="lab_result"' not in page


def test_a_clinician_outside_the_care_team_cannot_share(client, world):
    sign_in(client, world.other_clinician)
    assert post_share(client, world.patient, file=pdf()).status_code == 404
    assert not SharedDocument.objects.exists()


# --- The patient's list and the file --------------------------------------------------------


def test_patient_sees_their_documents_and_the_list_is_audited(client, world):
    document = share(world)
    share(world, patient=world.other_patient, title="Someone else's result")
    sign_in(client, world.patient.user)
    response = client.get(reverse("documents:mine"))
    page = response.content.decode()
    assert TITLE in page and COMMENT in page and "Someone else" not in page
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.about_record(document).filter(action="view").exists()


def test_patient_views_the_file_inline_and_the_first_opening_is_kept(client, world):
    document = share(world)
    sign_in(client, world.patient.user)
    response = client.get(reverse("documents:file", args=[document.pk]))
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"
    document.refresh_from_db()
    first = document.first_opened_at
    assert first is not None
    client.get(reverse("documents:file", args=[document.pk]))
    document.refresh_from_db()
    assert document.first_opened_at == first
    assert len(events(document, "view")) == 2


def test_patient_downloads_the_file_as_an_attachment_and_it_is_audited_as_a_download(client, world):
    document = share(world)
    sign_in(client, world.patient.user)
    response = client.get(reverse("documents:download", args=[document.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="hiv-result-pat-alpha.pdf"' in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    [download] = events(document, "export")
    assert (download.actor, download.patient, download.detail) == (
        world.patient.user,
        world.patient,
        f"document #{document.pk} downloaded",
    )


def test_the_accounting_of_disclosures_shows_every_view_and_download(client, world):
    document = share(world)
    sign_in(client, world.patient.user)
    client.get(reverse("documents:file", args=[document.pk]))
    client.get(reverse("documents:download", args=[document.pk]))
    sign_in(client, world.clinician)
    client.get(reverse("documents:file", args=[document.pk]))
    _patient, trail = patient_audit_trail(user=world.admin, patient_id=world.patient.pk)
    about = [
        (e.actor, e.action, e.detail)
        for e in trail.filter(object_type="documents.SharedDocument").order_by("id")
    ]
    number = f"document #{document.pk}"
    assert about == [
        (world.clinician, "create", f"{number} shared (lab_result)"),
        (world.patient.user, "view", f"{number} opened"),
        (world.patient.user, "export", f"{number} downloaded"),
        (world.clinician, "view", f"{number} opened"),
    ]
    sign_in(client, world.admin)
    page = client.get(reverse("accounts:patient-audit", args=[world.patient.pk])).content.decode()
    assert page.count(f"{number} opened") == 2 and page.count(f"{number} downloaded") == 1


def test_staff_opening_the_file_does_not_count_as_the_patient_opening_it(client, world):
    document = share(world)
    sign_in(client, world.clinician)
    assert client.get(reverse("documents:file", args=[document.pk])).status_code == 200
    document.refresh_from_db()
    assert document.first_opened_at is None


def test_the_chart_shows_whether_and_when_the_patient_first_opened_it(client, world):
    document = share(world)
    sign_in(client, world.clinician)
    chart = reverse("accounts:patient-chart", args=[world.patient.pk])
    assert "Not opened yet" in client.get(chart).content.decode()
    SharedDocument.objects.filter(pk=document.pk).update(
        first_opened_at=timezone.now().replace(year=2026, month=3, day=4, hour=15, minute=7)
    )
    page = client.get(chart).content.decode()
    assert "Opened 4 Mar 2026" in page and "Not opened yet" not in page


def test_another_patient_gets_404_for_the_file(client, world):
    document = share(world)
    sign_in(client, world.other_patient.user)
    for name in ("documents:file", "documents:download"):
        assert client.get(reverse(name, args=[document.pk])).status_code == 404
    assert not events(document, "view") and not events(document, "export")


@pytest.mark.parametrize("role", ["front_desk", "practice_admin"])
def test_clinical_documents_are_404_to_front_desk_and_admins(client, world, role):
    document = share(world)
    sign_in(client, world.user_for(role))
    for name in ("documents:file", "documents:download"):
        assert client.get(reverse(name, args=[document.pk])).status_code == 404
    assert client.post(reverse("documents:withdraw", args=[document.pk])).status_code == 404
    chart = client.get(reverse("accounts:patient-chart", args=[world.patient.pk]))
    assert TITLE not in chart.content.decode()


def test_a_clinician_outside_the_care_team_gets_404(client, world):
    document = share(world)
    sign_in(client, world.other_clinician)
    assert client.get(reverse("documents:file", args=[document.pk])).status_code == 404


@pytest.mark.usefixtures("without_session_cache")
def test_patients_list_costs_the_same_queries_for_two_documents_or_five(client, world):
    """From two rows: one audited record rides on the event, several take one more statement.
    The signed-in user is read on each request (no snapshot), so both requests pay the same."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    share(world, title="Result A")
    share(world, title="Result B")
    sign_in(client, world.patient.user)
    with CaptureQueriesContext(connection) as two:
        client.get(reverse("documents:mine"))
    for n in range(3):
        share(world, title=f"Result {n}")
    with CaptureQueriesContext(connection) as five:
        page = client.get(reverse("documents:mine")).content.decode()
    assert page.count('<li class="thread-list__item') == 5
    assert len(five.captured_queries) == len(two.captured_queries)


# --- Withdrawal -----------------------------------------------------------------------------


def test_withdrawn_document_leaves_the_patients_sight_and_stays_in_the_record(client, world):
    document = share(world)
    sign_in(client, world.clinician)
    response = client.post(reverse("documents:withdraw", args=[document.pk]))
    assert response.status_code == 302
    document.refresh_from_db()
    assert document.withdrawn_by == world.clinician
    assert OutboundMessage.objects.get(related_id=str(document.pk)).status == "cancelled"
    [withdrawal] = events(document, "update")
    assert withdrawal.detail == f"document #{document.pk} withdrawn"
    chart = client.get(reverse("accounts:patient-chart", args=[world.patient.pk]))
    assert "Withdrawn" in chart.content.decode()
    assert client.get(reverse("documents:file", args=[document.pk])).status_code == 200

    sign_in(client, world.patient.user)
    assert TITLE not in client.get(reverse("documents:mine")).content.decode()
    assert client.get(reverse("documents:file", args=[document.pk])).status_code == 404
    assert client.get(reverse("documents:download", args=[document.pk])).status_code == 404


def test_withdrawing_twice_says_so(world):
    document = share(world)
    services.document_withdraw(document=document, by=world.clinician)
    with pytest.raises(services.DocumentError, match="already withdrawn"):
        services.document_withdraw(document=document, by=world.clinician)
    assert len(events(document, "update")) == 1


def test_front_desk_withdraws_education_material(client, world):
    document = share(world, by=world.front_desk, kind=Kind.EDUCATION, title="Diet")
    sign_in(client, world.front_desk)
    assert client.post(reverse("documents:withdraw", args=[document.pk])).status_code == 302
    document.refresh_from_db()
    assert document.withdrawn_at is not None


# --- Uploads ----------------------------------------------------------------------------------


def test_a_renamed_executable_is_refused_by_its_bytes(client, world):
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, file=pdf("result.pdf", b"MZ\x90\x00" + PDF))
    assert response.status_code == 400
    assert "is not a PDF or a picture" in response.content.decode()
    assert not SharedDocument.objects.exists()


def test_a_file_over_the_size_limit_is_refused(client, world, monkeypatch):
    monkeypatch.setattr(services, "MAX_BYTES", len(PDF) - 1)
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, file=pdf())
    assert response.status_code == 400
    assert "larger than 20 MB" in response.content.decode()
    assert not SharedDocument.objects.exists()


def test_a_picture_is_stored_without_its_metadata(world):
    upload = SimpleUploadedFile("rash-gps.jpeg", jpeg_with_location(), content_type="image/jpeg")
    document = share(world, kind=Kind.IMAGING_REPORT, upload=upload)
    assert (document.content_type, document.name) == ("image/jpeg", "rash-gps.jpg")
    with Image.open(document.file.open("rb")) as stored:
        assert dict(stored.getexif()) == {}
        assert stored.size == (400, 300)


def test_a_broken_picture_is_refused_with_a_message(client, world):
    sign_in(client, world.clinician)
    broken = SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    response = post_share(client, world.patient, file=broken)
    assert response.status_code == 400
    assert "could not be read as a picture" in response.content.decode()


@pytest.mark.parametrize("with_file", [False, True])
def test_a_file_and_a_library_item_or_neither_is_refused(client, world, with_file):
    item = services.library_item_add(by=world.admin, title="Diet", upload=pdf("diet.pdf"))
    sign_in(client, world.clinician)
    data: dict[str, object] = {"kind": Kind.EDUCATION, "title": "Diet"}
    if with_file:
        data.update(file=pdf(), library_item=item.pk)
    response = post_share(client, world.patient, **data)
    assert response.status_code == 400
    assert "Upload a file or choose one from the library" in response.content.decode()


# --- The education library --------------------------------------------------------------------


def test_a_library_item_is_shared_with_many_patients_without_copying_the_file(client, world, media):
    sign_in(client, world.admin)
    response = client.post(
        reverse("documents:library"), {"title": "Low-salt diet", "file": pdf("diet.pdf")}
    )
    assert response.status_code == 302
    item = LibraryItem.objects.get()
    files_before = sorted(p for p in Path(media).rglob("*") if p.is_file())
    for patient in (world.patient, world.other_patient):
        response = post_share(client, patient, kind=Kind.EDUCATION, title="", library_item=item.pk)
        assert response.status_code == 302
    assert sorted(p for p in Path(media).rglob("*") if p.is_file()) == files_before
    shared = SharedDocument.objects.order_by("pk")
    assert [(d.library_item, d.file.name, d.title) for d in shared] == [
        (item, "", "Low-salt diet"),
        (item, "", "Low-salt diet"),
    ]
    sign_in(client, world.other_patient.user)
    response = client.get(reverse("documents:download", args=[shared[1].pk]))
    assert response.content == PDF
    assert 'filename="diet.pdf"' in response["Content-Disposition"]


def test_the_same_library_item_is_not_shared_twice_with_one_patient(client, world):
    item = services.library_item_add(by=world.admin, title="Diet", upload=pdf("diet.pdf"))
    share(world, kind=Kind.EDUCATION, upload=None, library_item=item)
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, kind=Kind.EDUCATION, library_item=item.pk)
    assert response.status_code == 400
    assert "already has this item" in response.content.decode()
    assert SharedDocument.objects.count() == 1


def test_a_library_item_is_shared_as_education_material_only(world):
    item = services.library_item_add(by=world.admin, title="Diet", upload=pdf("diet.pdf"))
    with pytest.raises(services.DocumentError, match="education material"):
        share(world, kind=Kind.LAB_RESULT, upload=None, library_item=item)


def test_another_practices_library_item_cannot_be_shared(client, world):
    theirs = services.library_item_add(
        by=world.outside_clinician, title="Diet", upload=pdf("diet.pdf")
    )
    sign_in(client, world.clinician)
    response = post_share(client, world.patient, kind=Kind.EDUCATION, library_item=theirs.pk)
    assert response.status_code == 400
    assert not SharedDocument.objects.exists()
    assert client.get(reverse("documents:library-file", args=[theirs.pk])).status_code == 404


def test_front_desk_sees_the_library_but_cannot_add_to_it(client, world):
    sign_in(client, world.front_desk)
    page = client.get(reverse("documents:library"))
    assert page.status_code == 200 and "Add an item" not in page.content.decode()
    response = client.post(reverse("documents:library"), {"title": "Diet", "file": pdf()})
    assert response.status_code == 403
    assert not LibraryItem.objects.exists()


def test_a_library_upload_that_is_not_a_pdf_or_picture_is_refused(client, world):
    sign_in(client, world.clinician)
    response = client.post(
        reverse("documents:library"),
        {"title": "Diet", "file": SimpleUploadedFile("diet.pdf", b"<html>not a pdf</html>")},
    )
    assert response.status_code == 400
    assert "is not a PDF or a picture" in response.content.decode()
    assert not LibraryItem.objects.exists()


def test_patient_home_says_how_many_documents_are_new(client, world):
    share(world)
    sign_in(client, world.patient.user)
    assert "1 new document is ready for you" in client.get(reverse("home")).content.decode()
