"""Intake: Questionnaire validation, enableWhen, required items, scoring, responses as valid
QuestionnaireResponses, insurance uploads, signatures and their PDF, access."""

import base64
import copy
import hashlib
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pypdf import PdfReader

from intake import builtin, selectors, services
from intake import questionnaire as fhirq
from intake.links import INTAKE
from intake.models import ConsentDocument, Form, InsuranceCard, IntakeRequest, Response, Signature
from telehealth import links
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def canvas_png() -> str:
    """A drawn signature as a canvas sends it: a data URL of a PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (600, 180), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(20, 150), (200, 40), (380, 150), (580, 30)], fill="black", width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


DRAWING = canvas_png()
BROKEN = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 10).decode()


@pytest.fixture
def practice_forms(world):
    services.install_builtin(world.practice)
    return {f.slug: f for f in Form.objects.filter(practice=world.practice)}


def history_answers(**overrides):
    answers = {
        "conditions.list": ["38341003"],  # SNOMED CT: hypertensive disorder
        "medications.any": ["true"],
        "medications.list": ["Lisinopril 10 mg daily"],
        "allergies.any": ["false"],
        "surgeries.any": ["false"],
        "smoking": ["never"],
    }
    answers.update(overrides)
    return answers


# --- Definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ({"resourceType": "Patient"}, "resourceType Questionnaire"),
        ({"status": "active", "item": [{"type": "string", "text": "x"}]}, "linkId"),
        ({"status": "sometimes", "item": [{"linkId": "a", "type": "string"}]}, "status"),
        ({"status": "active", "item": [{"linkId": "a", "type": "slider"}]}, "slider"),
        ({"status": "active", "item": [{"linkId": "a", "type": "choice"}]}, "no answer options"),
        (
            {
                "status": "active",
                "item": [{"linkId": "a", "type": "string"}, {"linkId": "a", "type": "string"}],
            },
            "share the linkId",
        ),
        (
            {
                "status": "active",
                "item": [
                    {
                        "linkId": "a",
                        "type": "string",
                        "enableWhen": [{"question": "b", "operator": "=", "answerString": "x"}],
                    },
                    {"linkId": "b", "type": "string"},
                ],
            },
            "not an earlier question",
        ),
    ],
)
def test_a_malformed_definition_is_refused_with_the_reason(broken, reason):
    definition = {"resourceType": "Questionnaire", **broken}
    with pytest.raises(fhirq.QuestionnaireError, match=reason):
        fhirq.validate(definition)


def test_the_built_in_forms_are_valid():
    for _slug, definition in builtin.forms("any-practice"):
        fhirq.validate(definition)


def test_saving_a_new_version_keeps_old_responses_on_theirs(world, practice_forms):
    form = practice_forms["reason-for-visit"]
    response = services.response_for(patient=world.patient, form=form)
    changed = copy.deepcopy(form.current.questionnaire)
    changed["item"][0]["text"] = "What brings you in?"
    version = services.form_save_version(form=form, definition=changed, by=world.admin)
    assert version.version == 2
    response.refresh_from_db()
    assert response.form_version.version == 1
    bad = {**changed, "item": [{"linkId": "x", "type": "slider"}]}
    with pytest.raises(fhirq.QuestionnaireError):
        services.form_save_version(form=form, definition=bad, by=world.admin)
    assert form.versions.count() == 2


# --- Answers -------------------------------------------------------------------------------


def test_enable_when_hides_follow_ups_and_drops_their_answers():
    definition = builtin.medical_history("p")
    answers = fhirq.clean(
        definition,
        history_answers(**{"allergies.list": ["Penicillin: rash"]}),
        complete=True,
    )
    assert "allergies.list" not in answers  # allergies.any is "no": the follow-up is hidden
    assert answers["medications.list"] == ["Lisinopril 10 mg daily"]
    assert answers["medications.any"] == [True]


def test_required_items_are_checked_only_when_shown_and_on_completion():
    definition = builtin.medical_history("p")
    raw = history_answers(**{"medications.list": []})
    with pytest.raises(fhirq.AnswerErrors) as problem:
        fhirq.clean(definition, raw, complete=True)
    assert set(problem.value.errors) == {"medications.list"}
    assert fhirq.clean(definition, raw, complete=False)  # saving for later is fine
    raw["medications.any"] = ["false"]
    assert "medications.list" not in fhirq.clean(definition, raw, complete=True)


def test_bad_values_get_a_reason():
    with pytest.raises(fhirq.AnswerErrors) as problem:
        fhirq.clean(
            builtin.reason_for_visit("p"),
            {"reason": ["Cough"], "pain": ["a lot"], "since": ["yesterday"]},
            complete=True,
        )
    assert problem.value.errors == {
        "pain": "Enter a whole number.",
        "since": "Enter a date such as 2024-03-12.",
    }


PHQ9_CODES = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


@pytest.mark.parametrize(
    ("weights", "total", "band", "flag"),
    [
        ([0] * 9, 0, "minimal", ""),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal", ""),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild", ""),
        ([2, 2, 2, 2, 1, 1, 0, 0, 0], 10, "moderate", ""),
        ([2, 2, 2, 2, 2, 2, 2, 1, 0], 15, "moderately severe", ""),
        ([3, 3, 3, 3, 2, 2, 2, 1, 1], 20, "severe", "self-harm"),
        ([3] * 9, 27, "severe", "self-harm"),
    ],
)
def test_phq9_scores_and_bands(weights, total, band, flag):
    raw = {f"phq9-{n}": [PHQ9_CODES[w]] for n, w in enumerate(weights, start=1)}
    answers = fhirq.clean(builtin.phq9("p"), raw, complete=True)
    result = fhirq.score(builtin.phq9("p"), answers)
    assert (result["total"], result["band"], result["flag"]) == (total, band, flag)


@pytest.mark.parametrize(
    ("weights", "total", "band"),
    [
        ([0] * 7, 0, "minimal"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "mild"),
        ([2, 2, 2, 1, 1, 1, 1], 10, "moderate"),
        ([3, 2, 2, 2, 2, 2, 2], 15, "severe"),
        ([3] * 7, 21, "severe"),
    ],
)
def test_gad7_scores_and_bands(weights, total, band):
    raw = {f"gad7-{n}": [PHQ9_CODES[w]] for n, w in enumerate(weights, start=1)}
    answers = fhirq.clean(builtin.gad7("p"), raw, complete=True)
    result = fhirq.score(builtin.gad7("p"), answers)
    assert (result["total"], result["band"]) == (total, band)


def test_a_completed_response_is_a_valid_questionnaire_response(world, practice_forms):
    form = practice_forms["medical-history"]
    response = services.response_for(patient=world.patient, form=form)
    services.response_save(response=response, raw=history_answers(), complete=True)
    response.refresh_from_db()
    assert response.status == Response.Status.COMPLETED
    resource = QuestionnaireResponse.model_validate(response.resource)
    assert resource.questionnaire is not None and resource.questionnaire.endswith("|1")
    assert resource.subject is not None
    assert resource.subject.reference == f"Patient/{world.patient.pk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT answers, resource FROM intake_response")
        raw = " ".join(cursor.fetchone())
        assert "Lisinopril" not in raw  # encrypted at rest


# --- Patient pages -------------------------------------------------------------------------


def test_save_and_resume_then_submit_with_server_side_checks(client, world, practice_forms):
    form = practice_forms["medical-history"]
    sign_in(client, world.patient.user)
    url = f"/intake/forms/{form.pk}/"
    assert b"Do you take any medicines" in client.get(url).content
    client.post(url, {"medications.any": "true", "action": "save"})
    page = client.get(url).content.decode()
    assert 'value="true" checked' in page  # resumed
    missing = client.post(url, {"medications.any": "true", "action": "submit"})
    assert missing.status_code == 400
    assert b"This question needs an answer." in missing.content
    done = client.post(url, {**history_answers(), "action": "submit"})
    assert done["Location"] == "/intake/"
    assert Response.objects.get().status == Response.Status.COMPLETED


def test_the_link_from_the_booking_opens_forms_after_a_date_of_birth_check(
    client, world, practice_forms
):
    url = f"/intake/start/{links.token_for(INTAKE, world.patient)}/"
    assert client.get("/intake/").status_code == 404
    wrong = client.post(url, {"date_of_birth": "1999-09-09"})
    assert wrong.status_code == 400
    right = client.post(url, {"date_of_birth": "1980-01-02"})
    assert right["Location"] == "/intake/"
    assert b"Medical history" in client.get("/intake/").content
    assert client.get("/intake/start/forged/").status_code == 410


def test_new_bookings_are_asked_once(world, practice_forms, video_type):
    from tests.visits.test_consumers import make_visit

    practice_forms["medical-history"].appointment_types.add(video_type)
    make_visit(world, video_type)
    assert services.request_forms() == 1
    assert services.request_forms() == 0
    assert IntakeRequest.objects.count() == 1
    email = OutboundMessage.objects.get(template="intake.request")
    assert "/intake/start/" in email.body


def test_insurance_card_checks_content_and_is_encrypted(client, world):
    sign_in(client, world.patient.user)
    data = {
        "payer": "Blue Cross",
        "member_id": "XYZ123456",
        "subscriber_name": "Pat Alpha",
        "relationship": "self",
    }
    exe = SimpleUploadedFile("card.jpg", b"MZ\x90\x00" + b"\x00" * 100, "image/jpeg")
    refused = client.post("/intake/insurance/", {**data, "front": exe})
    assert refused.status_code == 400 and b"must be a photo" in refused.content
    assert not InsuranceCard.objects.exists()
    ok = client.post(
        "/intake/insurance/", {**data, "front": SimpleUploadedFile("f.png", PNG, "image/png")}
    )
    assert ok.status_code == 302
    card = InsuranceCard.objects.get()
    with open(card.front.path, "rb") as raw:
        assert PNG not in raw.read()
    with connection.cursor() as cursor:
        cursor.execute("SELECT member_id FROM intake_insurancecard")
        assert "XYZ123456" not in cursor.fetchone()[0]
    sign_in(client, world.front_desk)
    image = client.get(f"/intake/cards/{card.pk}/front/")
    assert b"".join(image.streaming_content) == PNG
    sign_in(client, world.outside_clinician)
    assert client.get(f"/intake/cards/{card.pk}/front/").status_code == 404


def test_signing_records_the_exact_text_and_makes_a_readable_pdf(client, world, practice_forms):
    document = ConsentDocument.objects.get(practice=world.practice)
    sign_in(client, world.patient.user)
    page = client.get(f"/intake/consents/{document.pk}/")
    assert b"Consent to telehealth care" in page.content
    unsigned = client.post(f"/intake/consents/{document.pk}/", {"signer_name": "Pat Alpha"})
    assert unsigned.status_code == 400  # the box was not ticked
    client.post(
        f"/intake/consents/{document.pk}/",
        {"signer_name": "Pat Alpha", "drawing": DRAWING, "agree": "on"},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="TestBrowser/1.0",
    )
    signature = Signature.objects.get()
    version = document.current
    assert version is not None
    assert signature.text_sha256 == hashlib.sha256(version.text.encode()).hexdigest()
    assert (signature.ip, signature.user_agent, signature.method) == (
        "203.0.113.9",
        "TestBrowser/1.0",
        "drawn",
    )
    pdf = b"".join(client.get(f"/intake/signatures/{signature.pk}/pdf/").streaming_content)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Consent to telehealth care" in text and "Pat Alpha" in text
    assert signature.text_sha256 in text
    # A later edit of the document never touches what was signed.
    version.text = "Changed wording"
    version.save()
    again = b"".join(client.get(f"/intake/signatures/{signature.pk}/pdf/").streaming_content)
    assert again == pdf
    sign_in(client, world.other_patient.user)
    assert client.get(f"/intake/signatures/{signature.pk}/pdf/").status_code == 404


def test_a_forged_drawing_is_refused(world, practice_forms):
    version = ConsentDocument.objects.get(practice=world.practice).current
    assert version is not None
    with pytest.raises(services.IntakeError):
        services.consent_sign(
            patient=world.patient,
            consent=version,
            signer_name="Pat",
            drawing="data:image/png;base64," + base64.b64encode(b"MZ" * 10).decode(),
        )
    with pytest.raises(services.IntakeError):
        services.consent_sign(
            patient=world.patient, consent=version, signer_name="Pat", drawing=BROKEN
        )
    assert not Signature.objects.exists()


# --- Staff ---------------------------------------------------------------------------------


def test_status_and_summary_by_role(client, world, practice_forms):
    assert selectors.status_of(world.patient) == selectors.NOT_STARTED
    phq = practice_forms["phq-9"]
    history = practice_forms["medical-history"]
    response = services.response_for(patient=world.patient, form=history)
    services.response_save(response=response, raw=history_answers(), complete=True)
    assert selectors.status_of(world.patient) == selectors.PARTIAL  # the consent is unsigned
    consent = ConsentDocument.objects.get(practice=world.practice).current
    assert consent is not None
    services.consent_sign(
        patient=world.patient,
        consent=consent,
        signer_name="Pat Alpha",
    )
    assert selectors.status_of(world.patient) == selectors.COMPLETE
    scored = services.response_for(patient=world.patient, form=phq)
    services.response_save(
        response=scored,
        raw={f"phq9-{n}": ["LA6570-1"] for n in range(1, 10)},
        complete=True,
    )
    sign_in(client, world.clinician)
    page = client.get(f"/intake/patients/{world.patient.pk}/").content.decode()
    assert "Lisinopril 10 mg daily" in page
    assert "PHQ-9 18" in page and "moderately severe" in page
    assert "Self-harm item answered" in page
    desk = sign_in(Client(), world.front_desk).get(f"/intake/patients/{world.patient.pk}/")
    assert b"Lisinopril" not in desk.content and b"Intake complete" in desk.content
    sign_in(client, world.outside_clinician)
    assert client.get(f"/intake/patients/{world.patient.pk}/").status_code == 404


def test_admins_edit_forms_into_new_versions(client, world, practice_forms, video_type):
    sign_in(client, world.admin)
    form = practice_forms["reason-for-visit"]
    page = client.get(f"/intake/manage/{form.pk}/")
    assert page.status_code == 200
    data = {
        "title": "Reason for your visit",
        "appointment_types": [video_type.pk],
        "is_active": "on",
        "items-TOTAL_FORMS": "3",
        "items-INITIAL_FORMS": "0",
        "items-0-text": "What is the problem?",
        "items-0-type": "text",
        "items-0-required": "on",
        "items-0-ORDER": "1",
        "items-1-text": "Have you had a fever?",
        "items-1-link_id": "fever",
        "items-1-type": "boolean",
        "items-1-ORDER": "2",
        "items-2-text": "Highest temperature",
        "items-2-type": "decimal",
        "items-2-show_if_question": "fever",
        "items-2-show_if_answer": "yes",
        "items-2-ORDER": "3",
    }
    saved = client.post(f"/intake/manage/{form.pk}/", data)
    assert saved.status_code == 302
    current = form.current.questionnaire
    assert form.current.version == 2
    assert current["item"][2]["enableWhen"] == [
        {"question": "fever", "operator": "=", "answerBoolean": True}
    ]
    assert list(form.appointment_types.all()) == [video_type]
    data["items-2-show_if_question"] = "later"  # not an earlier question
    refused = client.post(f"/intake/manage/{form.pk}/", data)
    assert refused.status_code == 400 and b"not an earlier question" in refused.content
    assert client.get(f"/intake/manage/{form.pk}/preview/").status_code == 200
    sign_in(client, world.clinician)
    assert client.get(f"/intake/manage/{form.pk}/").status_code == 403


def test_visit_room_shows_intake(client, world, practice_forms, video_type):
    from tests.visits.test_consumers import make_visit
    from visits import services as visits

    visit = make_visit(world, video_type)
    visits.clinician_joins(visit=visit, user=world.clinician)
    sign_in(client, world.clinician)
    page = client.get(f"/visits/{visit.pk}/room/").content.decode()
    assert "Intake not started" in page
    assert timezone.now() - timedelta(days=1) < visit.created_at


def test_patient_pages_refuse_staff_strangers_and_other_practices(world, practice_forms):
    form = practice_forms["medical-history"]
    document = ConsentDocument.objects.get(practice=world.practice)
    urls = ["/intake/", f"/intake/forms/{form.pk}/", "/intake/insurance/"]
    urls.append(f"/intake/consents/{document.pk}/")
    for url in urls:
        assert Client().get(url).status_code == 404, url
        assert sign_in(Client(), world.front_desk).get(url).status_code == 404, url
    outsider = sign_in(Client(), world.outside_patient.user)
    assert outsider.get(f"/intake/forms/{form.pk}/").status_code == 404
    assert outsider.get(f"/intake/consents/{document.pk}/").status_code == 404


def test_attachment_questions_take_a_checked_file_kept_encrypted(client, world):
    services.install_builtin(world.practice)
    definition = {
        "resourceType": "Questionnaire",
        "url": "urn:test:photo",
        "title": "Skin check",
        "status": "active",
        "item": [
            {"linkId": "where", "type": "string", "text": "Where is it?", "required": True},
            {"linkId": "photo", "type": "attachment", "text": "A photo of it", "required": True},
        ],
    }
    form = Form.objects.create(practice=world.practice, slug="skin", title="Skin check")
    services.form_save_version(form=form, definition=definition, by=None)
    sign_in(client, world.patient.user)
    url = f"/intake/forms/{form.pk}/"
    exe = SimpleUploadedFile("rash.png", b"MZ" + b"\x00" * 50, "image/png")
    refused = client.post(url, {"where": "Arm", "photo": exe, "action": "submit"})
    assert refused.status_code == 400 and b"must be a photo" in refused.content
    missing = client.post(url, {"where": "Arm", "action": "submit"})
    assert b"This question needs an answer." in missing.content
    photo = SimpleUploadedFile("rash.png", PNG, "image/png")
    assert client.post(url, {"where": "Arm", "photo": photo, "action": "submit"}).status_code == 302
    response = Response.objects.get(form_version__form=form)
    attachment = response.resource["item"][1]["answer"][0]["valueAttachment"]
    QuestionnaireResponse.model_validate(response.resource)
    assert attachment["contentType"] == "image/png" and attachment["title"] == "rash.png"
    stored = response.files.get()
    with open(stored.file.path, "rb") as raw:
        assert PNG not in raw.read()
    assert b"".join(client.get(attachment["url"]).streaming_content) == PNG
    sign_in(client, world.clinician)
    summary = client.get(f"/intake/patients/{world.patient.pk}/").content.decode()
    assert f'href="{attachment["url"]}"' in summary
    sign_in(client, world.other_patient.user)
    assert client.get(attachment["url"]).status_code == 404
