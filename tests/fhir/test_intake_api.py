"""intake over the FHIR API: form versions as Questionnaires, completed responses as
QuestionnaireResponses, signatures as Consents and their signed PDFs as DocumentReferences,
insurance cards as Coverage. Round trips, each search parameter, scoping (anonymous, another
practice, a patient's own, the front desk), audit, and comparisons with the examples HL7
publishes (tests/fixtures/fhir/)."""

import copy
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from intake import builtin, canonical, selectors, services
from intake import questionnaire as fhirq
from intake.models import (
    ConsentDocument,
    ConsentVersion,
    Form,
    FormVersion,
    InsuranceCard,
    Response,
)
from telehealth.audit.models import AuditEvent
from telehealth.fhir import registry
from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LOINC = "http://loinc.org"
PHQ9_ANSWERS = {
    **{f"phq9-{n}": ["LA6569-3"] for n in range(1, 10)},  # "several days": 1 point each
    "phq9-difficulty": ["LA6573-5"],
}


def published(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def ids(bundle: dict) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def round_trip(model, body: dict):
    """The served JSON parsed back with fhir.resources gives the same JSON."""
    parsed = model.model_validate(body)
    assert parsed.model_dump(mode="json", exclude_none=True) == body
    return parsed


@pytest.fixture
def forms(world):
    services.install_builtin(world.practice)
    services.install_builtin(world.outside_practice)
    return {f.slug: f for f in Form.objects.filter(practice=world.practice)}


def current(form: Form) -> FormVersion:
    version = form.current
    assert version is not None
    return version


def completed_at(response: Response) -> datetime:
    assert response.completed_at is not None
    return response.completed_at


def complete(patient, form, raw: dict) -> Response:
    response = services.response_for(patient=patient, form=form)
    services.response_save(response=response, raw=raw, complete=True)
    response.refresh_from_db()
    return response


def sign(patient, document: ConsentDocument):
    version = document.current
    assert version is not None
    return services.consent_sign(patient=patient, consent=version, signer_name=patient.legal_name)


def card(patient, **fields) -> InsuranceCard:
    data = {
        "payer": "Blue Cross Blue Shield",
        "member_id": "XYZ123456",
        "group_number": "GRP-77",
        "subscriber_name": patient.legal_name,
        "relationship": "self",
        **fields,
    }
    front = SimpleUploadedFile("front.png", PNG, "image/png")
    return services.insurance_card_save(patient=patient, data=data, front=front)


# --- Questionnaire -------------------------------------------------------------------------


def test_a_form_version_round_trips_as_a_questionnaire(fhir, world, forms):
    version = current(forms["phq-9"])
    status, body = fhir.as_user(world.clinician).get(f"Questionnaire/{version.pk}")
    assert status == 200, body
    round_trip(Questionnaire, body)
    assert body["url"] == canonical.questionnaire_url("alpha", "phq-9")
    assert body["version"] == str(version.version) and body["status"] == "active"
    assert body["publisher"] == "Alpha Health" and body["name"] == "PHQ9"
    assert body["item"] == version.questionnaire["item"]
    named = selectors.form_version_named(
        practice=world.practice, questionnaire=f"{body['url']}|{body['version']}"
    )
    assert named == version


def test_the_fhir_core_phq9_is_imported_as_a_form_and_read_back_with_its_items(fhir, world, forms):
    core = published("intake/core-Questionnaire-phq-9-questionnaire.json")
    form = Form.objects.create(practice=world.practice, slug="phq-9-core", title="PHQ-9 (core)")
    # Intake resolves no value sets: a choice must list its options.
    with pytest.raises(fhirq.QuestionnaireError, match="no answer options"):
        services.form_save_version(form=form, definition=core, by=world.admin)
    # The example's only value set, LOINC's PHQ-9 answer list LL358-3, as options.
    expanded = copy.deepcopy(core)
    for item in expanded["item"]:
        if item.pop("answerValueSet", None) == "http://loinc.org/vs/LL358-3":
            item["answerOption"] = [
                {
                    "valueCoding": {"system": LOINC, "code": code, "display": display},
                    "extension": [{"url": fhirq.ORDINAL, "valueDecimal": weight}],
                }
                for code, display, weight in builtin.FREQUENCY
            ]
    saved = services.form_save_version(form=form, definition=expanded, by=world.admin)

    url = canonical.questionnaire_url("alpha", "phq-9-core")
    status, bundle = fhir.as_user(world.patient.user).get("Questionnaire", url=url)
    assert status == 200, bundle
    assert ids(bundle) == [str(saved.pk)]
    body = bundle["entry"][0]["resource"]
    round_trip(Questionnaire, body)
    assert body["item"] == expanded["item"]
    assert [i["linkId"] for i in body["item"]] == [i["linkId"] for i in core["item"]]
    assert [i["code"] for i in body["item"]] == [i["code"] for i in core["item"]]
    for key in ("title", "code", "subjectType", "identifier", "extension", "meta"):
        assert body[key] == core[key], key
    # Published under our name for it; the example's own id and version are not ours.
    assert (body["url"], body["version"], body["status"]) == (url, "1", "draft")
    assert body["id"] == str(saved.pk)
    assert fhirq.scale_of(saved.questionnaire) is fhirq.PHQ9


def test_questionnaire_search_by_url_version_status_name_title_and_id(fhir, world, forms):
    history = forms["medical-history"]
    first = current(history)
    definition = {**first.questionnaire, "title": "Medical history and allergies"}
    second = services.form_save_version(form=history, definition=definition, by=world.admin)
    draft = current(services.form_create(practice=world.practice, title="Travel screening"))
    gad7 = forms["gad-7"]
    gad7.is_active = False
    gad7.save(update_fields=["is_active"])
    client = fhir.as_user(world.front_desk)
    url = canonical.questionnaire_url("alpha", "medical-history")

    assert sorted(ids(client.get("Questionnaire", url=url)[1])) == sorted(
        [str(first.pk), str(second.pk)]
    )
    assert ids(client.get("Questionnaire", url=f"{url}|1")[1]) == [str(first.pk)]
    assert ids(client.get("Questionnaire", url=f"{url}|9")[1]) == []
    # The address PHQ-9 had before forms carried their own still finds it.
    legacy = client.get("Questionnaire", url="http://loinc.org/q/44249-1")[1]
    assert ids(legacy) == [str(current(forms["phq-9"]).pk)]
    assert str(second.pk) in ids(client.get("Questionnaire", version="2")[1])
    assert str(first.pk) not in ids(client.get("Questionnaire", version="2")[1])

    retired = ids(client.get("Questionnaire", status="retired")[1])
    assert str(first.pk) in retired and str(current(gad7).pk) in retired
    assert str(second.pk) not in retired
    active = ids(client.get("Questionnaire", status="active")[1])
    assert str(second.pk) in active and str(current(forms["phq-9"]).pk) in active
    assert str(first.pk) not in active and str(draft.pk) not in active
    assert ids(client.get("Questionnaire", status="draft")[1]) == [str(draft.pk)]
    _status, body = client.get(f"Questionnaire/{first.pk}")
    assert body["status"] == "retired"

    assert ids(client.get("Questionnaire", name="phq9")[1]) == [str(current(forms["phq-9"]).pk)]
    assert ids(client.get("Questionnaire", title="allergies")[1]) == [str(second.pk)]
    assert ids(client.get("Questionnaire", title="depress")[1]) == [str(current(forms["phq-9"]).pk)]
    assert ids(client.get("Questionnaire", _id=str(draft.pk))[1]) == [str(draft.pk)]
    # Not an id of ours (and not a number int() takes): nothing, never an error.
    status, bundle = client.get("Questionnaire", _id="²")
    assert (status, bundle["total"]) == (200, 0)


def test_questionnaires_are_the_practices_own(fhir, world, forms):
    theirs = current(Form.objects.get(practice=world.outside_practice, slug="phq-9"))
    mine = current(forms["phq-9"])
    for user in (world.patient.user, world.clinician, world.admin):
        client = fhir.as_user(user)
        assert client.get(f"Questionnaire/{theirs.pk}")[0] == 404
        found = ids(client.get("Questionnaire")[1])
        assert str(mine.pk) in found and str(theirs.pk) not in found
    assert fhir.as_user(world.outside_patient.user).get(f"Questionnaire/{mine.pk}")[0] == 404
    assert fhir.as_user(world.clinician).get("Questionnaire/x1")[0] == 404


# --- QuestionnaireResponse -----------------------------------------------------------------


def test_a_completed_response_round_trips_and_names_the_version_it_answered(fhir, world, forms):
    response = complete(world.patient, forms["phq-9"], PHQ9_ANSWERS)
    status, body = fhir.as_user(world.clinician).get(f"QuestionnaireResponse/{response.pk}")
    assert status == 200, body
    parsed = round_trip(QuestionnaireResponse, body)
    assert body["subject"] == {"reference": f"Patient/{world.patient.pk}"}
    assert parsed.authored == response.completed_at
    assert body["meta"]["lastUpdated"] == response.updated_at.isoformat().replace("+00:00", "Z")
    # The canonical resolves, through the Questionnaire endpoint, to the version answered.
    url, version = canonical.split(body["questionnaire"])
    _status, found = fhir.get("Questionnaire", url=url, version=version)
    assert ids(found) == [str(response.form_version_id)]
    answers = {item["linkId"]: item["answer"] for item in body["item"]}
    assert answers["phq9-total"] == [{"valueInteger": 9}]
    assert answers["phq9-3"][0]["valueCoding"]["code"] == "LA6569-3"
    assert AuditEvent.objects.filter(
        object_type="intake.Response", object_id=str(response.pk), patient=world.patient
    ).exists()


def test_coded_answers_are_shaped_like_the_published_gcs_response(fhir, world, forms):
    example = published("QuestionnaireResponse-gcs.json")
    QuestionnaireResponse.model_validate(example)
    response = complete(world.patient, forms["phq-9"], PHQ9_ANSWERS)
    _status, body = fhir.as_user(world.patient.user).get(f"QuestionnaireResponse/{response.pk}")
    for key in ("questionnaire", "status", "subject", "authored"):
        assert key in body and key in example
    assert body["status"] == example["status"] == "completed"
    assert body["subject"]["reference"].split("/")[0] == "Patient"
    theirs = [a["valueCoding"] for i in example["item"] for a in i["answer"]]
    ours = [
        a["valueCoding"] for i in body["item"] for a in i.get("answer", []) if "valueCoding" in a
    ]
    assert len(ours) == 10
    for coding in ours + theirs:
        assert coding["system"] == LOINC and coding["code"].startswith("LA") and coding["display"]


def test_an_attached_file_is_a_link_to_the_checked_download(fhir, world, client):
    form = Form.objects.create(practice=world.practice, slug="skin", title="Skin check")
    definition = {
        "resourceType": "Questionnaire",
        "title": "Skin check",
        "status": "active",
        "item": [{"linkId": "photo", "type": "attachment", "text": "A photo", "required": True}],
    }
    services.form_save_version(form=form, definition=definition, by=None)
    response = services.response_for(patient=world.patient, form=form)
    upload = SimpleUploadedFile("rash.png", PNG, "image/png")
    answer = services.response_attach(response=response, link_id="photo", upload=upload)
    services.response_save(response=response, raw={"photo": [answer]}, complete=True)

    _status, body = fhir.as_user(world.patient.user).get(f"QuestionnaireResponse/{response.pk}")
    round_trip(QuestionnaireResponse, body)
    attachment = body["item"][0]["answer"][0]["valueAttachment"]
    assert "data" not in attachment and attachment["contentType"] == "image/png"
    assert attachment["url"].startswith("http") and attachment["url"].endswith(
        f"/intake/files/{answer.removeprefix('file:')}/"
    )
    path = "/" + attachment["url"].split("/", 3)[3]
    assert b"".join(client.get(path).streaming_content) == PNG
    assert sign_in(Client(), world.other_patient.user).get(path).status_code == 404


def test_questionnaire_response_search_by_patient_questionnaire_authored_and_status(
    fhir, world, forms
):
    phq9 = complete(world.patient, forms["phq-9"], PHQ9_ANSWERS)
    gad7 = complete(world.patient, forms["gad-7"], {f"gad7-{n}": ["LA6568-5"] for n in range(1, 8)})
    theirs = complete(world.other_patient, forms["phq-9"], PHQ9_ANSWERS)
    started = services.response_for(patient=world.other_patient, form=forms["gad-7"])
    Response.objects.filter(pk=gad7.pk).update(completed_at=completed_at(gad7) - timedelta(days=30))
    client = fhir.as_user(world.clinician)
    mine = sorted([str(phq9.pk), str(gad7.pk)])

    assert sorted(ids(client.get("QuestionnaireResponse")[1])) == sorted([*mine, str(theirs.pk)])
    reference = f"Patient/{world.patient.pk}"
    assert sorted(ids(client.get("QuestionnaireResponse", patient=reference)[1])) == mine
    assert sorted(ids(client.get("QuestionnaireResponse", subject=reference)[1])) == mine

    url = canonical.questionnaire_url("alpha", "phq-9")
    both = sorted([str(phq9.pk), str(theirs.pk)])
    for named in (
        url,
        f"{url}|{phq9.form_version.version}",
        f"Questionnaire/{phq9.form_version_id}",
        "http://loinc.org/q/44249-1",
    ):
        found = client.get("QuestionnaireResponse", questionnaire=named)[1]
        assert sorted(ids(found)) == both, named
    assert ids(client.get("QuestionnaireResponse", questionnaire=f"{url}|99")[1]) == []
    elsewhere = canonical.questionnaire_url("beta", "phq-9")
    assert ids(client.get("QuestionnaireResponse", questionnaire=elsewhere)[1]) == []

    cutoff = (completed_at(phq9) - timedelta(days=7)).date().isoformat()
    recent = client.get("QuestionnaireResponse", patient=reference, authored=f"ge{cutoff}")[1]
    assert ids(recent) == [str(phq9.pk)]
    older = client.get("QuestionnaireResponse", patient=reference, authored=f"lt{cutoff}")[1]
    assert ids(older) == [str(gad7.pk)]
    day = (completed_at(gad7) - timedelta(days=30)).date().isoformat()
    assert str(gad7.pk) in ids(client.get("QuestionnaireResponse", authored=day)[1])

    assert len(ids(client.get("QuestionnaireResponse", status="completed")[1])) == 3
    # Answers still being filled in are not submitted: not served.
    assert ids(client.get("QuestionnaireResponse", status="in-progress")[1]) == []
    assert client.get(f"QuestionnaireResponse/{started.pk}")[0] == 404


def test_responses_are_seen_by_their_patient_and_the_care_team_only(fhir, world, forms):
    mine = complete(world.patient, forms["phq-9"], PHQ9_ANSWERS)
    theirs = complete(world.other_patient, forms["phq-9"], PHQ9_ANSWERS)
    patient = fhir.as_user(world.patient.user)
    assert ids(patient.get("QuestionnaireResponse")[1]) == [str(mine.pk)]
    assert patient.get(f"QuestionnaireResponse/{theirs.pk}")[0] == 404
    # Answers are clinical: the front desk reads none.
    desk = fhir.as_user(world.front_desk)
    assert ids(desk.get("QuestionnaireResponse")[1]) == []
    assert desk.get(f"QuestionnaireResponse/{mine.pk}")[0] == 404
    assert fhir.as_user(world.admin).get(f"QuestionnaireResponse/{mine.pk}")[0] == 200
    # A clinician of the practice outside the care team, and another practice's, see nothing.
    assert fhir.as_user(world.other_clinician).get(f"QuestionnaireResponse/{mine.pk}")[0] == 404
    outsider = fhir.as_user(world.outside_clinician)
    assert outsider.get(f"QuestionnaireResponse/{mine.pk}")[0] == 404
    assert ids(outsider.get("QuestionnaireResponse")[1]) == []


# --- Consent and DocumentReference -----------------------------------------------------------


@pytest.fixture
def telehealth_consent(world, forms):
    return ConsentDocument.objects.get(practice=world.practice, slug="telehealth")


def test_a_signature_round_trips_as_a_consent_sourced_from_its_document(
    fhir, world, telehealth_consent
):
    signature = sign(world.patient, telehealth_consent)
    client = fhir.as_user(world.clinician)
    status, body = client.get(f"Consent/{signature.pk}")
    assert status == 200, body
    parsed = round_trip(Consent, body)
    assert parsed.dateTime == signature.signed_at
    assert body["status"] == "active"
    assert body["patient"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["organization"] == [{"reference": f"Organization/{world.practice.pk}"}]
    assert body["sourceReference"] == {"reference": f"DocumentReference/consent-{signature.pk}"}
    status, document = client.get(body["sourceReference"]["reference"])
    assert status == 200 and document["id"] == f"consent-{signature.pk}"
    assert AuditEvent.objects.filter(
        object_type="intake.Signature", object_id=str(signature.pk), patient=world.patient
    ).exists()


def test_a_consent_is_coded_like_the_published_examples(fhir, world, telehealth_consent):
    basic = published("Consent-consent-example-basic.json")
    signed = published("Consent-consent-example-signature.json")
    for example in (basic, signed):
        Consent.model_validate(example)
    signature = sign(world.patient, telehealth_consent)
    _status, body = fhir.as_user(world.patient.user).get(f"Consent/{signature.pk}")
    shared = {"status", "scope", "category", "patient", "dateTime", "performer", "organization"}
    assert shared | {"policyRule"} <= set(body) and shared <= set(signed)
    codes = [(c["system"], c["code"]) for c in body["category"][0]["coding"]]
    assert codes == [(c["system"], c["code"]) for c in basic["category"][0]["coding"]]
    assert body["policyRule"] == signed["policyRule"] == basic["policyRule"]  # opted in
    assert body["scope"]["coding"][0]["system"] == signed["scope"]["coding"][0]["system"]
    assert body["performer"] == [body["patient"]]  # like the example: the patient signed


def test_signing_again_makes_the_earlier_consent_inactive(fhir, world, telehealth_consent):
    first = sign(world.patient, telehealth_consent)
    ConsentVersion.objects.create(document=telehealth_consent, version=2, text="New terms.")
    second = sign(world.patient, telehealth_consent)
    client = fhir.as_user(world.clinician)
    assert client.get(f"Consent/{first.pk}")[1]["status"] == "inactive"
    assert client.get(f"Consent/{second.pk}")[1]["status"] == "active"


def test_consent_search_by_patient_date_status_and_category(fhir, world, telehealth_consent):
    first = sign(world.patient, telehealth_consent)
    second = sign(world.patient, telehealth_consent)
    theirs = sign(world.other_patient, telehealth_consent)
    type(first).objects.filter(pk=first.pk).update(signed_at=first.signed_at - timedelta(days=400))
    client = fhir.as_user(world.front_desk)  # the front desk sees consents
    reference = f"Patient/{world.patient.pk}"
    mine = sorted([str(first.pk), str(second.pk)])
    assert sorted(ids(client.get("Consent", patient=reference)[1])) == mine
    assert sorted(ids(client.get("Consent")[1])) == sorted([*mine, str(theirs.pk)])
    year = second.signed_at.year
    assert sorted(ids(client.get("Consent", patient=reference, date=str(year))[1])) == [
        str(second.pk)
    ]
    old = first.signed_at - timedelta(days=400)
    assert ids(client.get("Consent", date=f"le{old.date().isoformat()}")[1]) == [str(first.pk)]
    assert ids(client.get("Consent", status="inactive")[1]) == [str(first.pk)]
    assert sorted(ids(client.get("Consent", status="active")[1])) == sorted(
        [str(second.pk), str(theirs.pk)]
    )
    assert len(ids(client.get("Consent", category=f"{LOINC}|59284-0")[1])) == 3
    assert len(ids(client.get("Consent", category="59284-0")[1])) == 3
    assert ids(client.get("Consent", category="http://snomed.info/sct|59284-0")[1]) == []


def test_the_signed_pdf_is_a_document_reference_linking_the_checked_download(
    fhir, world, telehealth_consent, client
):
    signature = sign(world.patient, telehealth_consent)
    status, body = fhir.as_user(world.patient.user).get(f"DocumentReference/consent-{signature.pk}")
    assert status == 200, body
    parsed = round_trip(DocumentReference, body)
    assert parsed.date == signature.signed_at
    assert body["subject"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["context"]["related"] == [{"reference": f"Consent/{signature.pk}"}]
    attachment = body["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf" and "data" not in attachment
    path = "/" + attachment["url"].split("/", 3)[3]
    assert path == f"/intake/signatures/{signature.pk}/pdf/"
    assert b"".join(client.get(path).streaming_content).startswith(b"%PDF")
    assert sign_in(Client(), world.other_patient.user).get(path).status_code == 404

    example = published("DocumentReference-example.json")
    DocumentReference.model_validate(example)
    assert body["status"] == example["status"] == "current"
    assert body["type"]["coding"][0]["system"] == example["type"]["coding"][0]["system"] == LOINC
    assert set(attachment) <= set(example["content"][0]["attachment"])


def test_document_reference_ids_carry_their_source_and_search_works(
    fhir, world, telehealth_consent
):
    signature = sign(world.patient, telehealth_consent)
    theirs = sign(world.other_patient, telehealth_consent)
    type(theirs).objects.filter(pk=theirs.pk).update(
        signed_at=theirs.signed_at - timedelta(days=60)
    )
    client = fhir.as_user(world.clinician)
    # The bare number names no document: ids say which source they come from.
    assert client.get(f"DocumentReference/{signature.pk}")[0] == 404
    assert client.get("DocumentReference/consent-x")[0] == 404
    mine = f"consent-{signature.pk}"
    _status, bundle = client.get("DocumentReference", _id=mine)
    Bundle.model_validate(bundle)
    assert ids(bundle) == [mine]
    assert bundle["entry"][0]["fullUrl"].endswith(f"/fhir/R4/DocumentReference/{mine}")
    assert ids(client.get("DocumentReference", _id=str(signature.pk))[1]) == []
    reference = f"Patient/{world.patient.pk}"
    assert ids(client.get("DocumentReference", patient=reference)[1]) == [mine]
    assert ids(client.get("DocumentReference", subject=reference)[1]) == [mine]
    since = (signature.signed_at - timedelta(days=7)).date().isoformat()
    assert ids(client.get("DocumentReference", date=f"ge{since}")[1]) == [mine]
    assert ids(client.get("DocumentReference", date=f"lt{since}")[1]) == [f"consent-{theirs.pk}"]
    assert len(ids(client.get("DocumentReference", type=f"{LOINC}|59284-0")[1])) == 2
    assert ids(client.get("DocumentReference", type=f"{LOINC}|11506-3")[1]) == []
    assert len(ids(client.get("DocumentReference", status="current")[1])) == 2
    assert ids(client.get("DocumentReference", status="superseded")[1]) == []
    _status, paged = client.get("DocumentReference", _count=1)
    following = next(link["url"] for link in paged["link"] if link["relation"] == "next")
    assert ids(paged) + ids(client.url(following)[1]) == [mine, f"consent-{theirs.pk}"]


def test_consents_and_their_documents_are_scoped(fhir, world, telehealth_consent):
    mine = sign(world.patient, telehealth_consent)
    theirs = sign(world.other_patient, telehealth_consent)
    patient = fhir.as_user(world.patient.user)
    assert ids(patient.get("Consent")[1]) == [str(mine.pk)]
    assert ids(patient.get("DocumentReference")[1]) == [f"consent-{mine.pk}"]
    assert patient.get(f"Consent/{theirs.pk}")[0] == 404
    assert patient.get(f"DocumentReference/consent-{theirs.pk}")[0] == 404
    outsider = fhir.as_user(world.outside_clinician)
    assert outsider.get(f"Consent/{mine.pk}")[0] == 404
    assert outsider.get(f"DocumentReference/consent-{mine.pk}")[0] == 404
    assert ids(outsider.get("Consent")[1]) == []


# --- Coverage -------------------------------------------------------------------------------


def test_an_insurance_card_round_trips_as_coverage(fhir, world):
    insured = card(world.patient)
    status, body = fhir.as_user(world.front_desk).get(f"Coverage/{insured.pk}")
    assert status == 200, body
    round_trip(Coverage, body)
    patient = {"reference": f"Patient/{world.patient.pk}"}
    assert body["beneficiary"] == body["subscriber"] == body["policyHolder"] == patient
    assert body["subscriberId"] == "XYZ123456" and body["status"] == "active"
    assert body["relationship"]["coding"][0]["code"] == "self"
    assert body["payor"] == [{"reference": "#payor", "display": "Blue Cross Blue Shield"}]
    assert body["contained"] == [
        {"resourceType": "Organization", "id": "payor", "name": "Blue Cross Blue Shield"}
    ]
    assert body["class"][0]["value"] == "GRP-77"
    assert AuditEvent.objects.filter(
        object_type="intake.InsuranceCard", object_id=str(insured.pk), patient=world.patient
    ).exists()


def test_a_spouses_policy_names_the_policy_holder(fhir, world):
    insured = card(
        world.patient,
        relationship="spouse",
        subscriber_name="Jane Alpha",
        birth_date=date(1979, 8, 9),
        sex="female",
        address={"line1": "77 Harbor Way", "city": "Quincy", "state": "MA", "postal_code": "02169"},
    )
    _status, body = fhir.as_user(world.clinician).get(f"Coverage/{insured.pk}")
    round_trip(Coverage, body)
    holder = next(r for r in body["contained"] if r["resourceType"] == "RelatedPerson")
    assert body["subscriber"] == body["policyHolder"] == {"reference": "#subscriber"}
    assert body["beneficiary"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["relationship"]["coding"][0]["code"] == "spouse"
    assert holder["name"] == [{"text": "Jane Alpha"}]
    assert (holder["gender"], holder["birthDate"]) == ("female", "1979-08-09")
    assert holder["address"] == [
        {"line": ["77 Harbor Way"], "city": "Quincy", "state": "MA", "postalCode": "02169"}
    ]
    assert holder["relationship"][0]["coding"][0]["code"] == "SPS"
    assert holder["patient"] == body["beneficiary"]


def test_coverage_is_coded_like_the_published_example(fhir, world):
    example = published("Coverage-9876B1.json")
    Coverage.model_validate(example)
    insured = card(world.patient)
    _status, body = fhir.as_user(world.clinician).get(f"Coverage/{insured.pk}")
    for key in ("status", "subscriber", "beneficiary", "relationship", "payor", "class"):
        assert key in body and key in example, key
    assert body["relationship"]["coding"][0]["code"] == example["relationship"]["coding"][0]["code"]
    group = next(c for c in example["class"] if c["type"]["coding"][0]["code"] == "group")
    assert body["class"][0]["type"] == group["type"]


def test_coverage_search_by_patient_status_and_payor(fhir, world):
    old = card(world.patient, payer="Aetna")
    current = card(world.patient)
    theirs = card(world.other_patient, payer="Harvard Pilgrim")
    client = fhir.as_user(world.clinician)
    reference = f"Patient/{world.patient.pk}"
    mine = sorted([str(old.pk), str(current.pk)])
    assert sorted(ids(client.get("Coverage", patient=reference)[1])) == mine
    assert sorted(ids(client.get("Coverage", beneficiary=reference)[1])) == mine
    assert client.get(f"Coverage/{old.pk}")[1]["status"] == "cancelled"
    assert ids(client.get("Coverage", status="cancelled")[1]) == [str(old.pk)]
    assert sorted(ids(client.get("Coverage", status="active")[1])) == sorted(
        [str(current.pk), str(theirs.pk)]
    )
    assert ids(client.get("Coverage", payor="aet")[1]) == [str(old.pk)]
    assert ids(client.get("Coverage", payor="pilgrim")[1]) == [str(theirs.pk)]
    assert ids(client.get("Coverage", payor="Cigna")[1]) == []


def test_coverage_is_scoped(fhir, world):
    mine = card(world.patient)
    theirs = card(world.other_patient)
    patient = fhir.as_user(world.patient.user)
    assert ids(patient.get("Coverage")[1]) == [str(mine.pk)]
    assert patient.get(f"Coverage/{theirs.pk}")[0] == 404
    outsider = fhir.as_user(world.outside_clinician)
    assert outsider.get(f"Coverage/{mine.pk}")[0] == 404
    assert ids(outsider.get("Coverage")[1]) == []
    assert fhir.as_user(world.other_clinician).get(f"Coverage/{mine.pk}")[0] == 404


# --- Every type -----------------------------------------------------------------------------

TYPES = ("Questionnaire", "QuestionnaireResponse", "Consent", "DocumentReference", "Coverage")


@pytest.mark.parametrize("resource_type", TYPES)
def test_anonymous_callers_get_401(fhir, world, resource_type):
    assert fhir.get(resource_type)[0] == 401
    assert fhir.get(f"{resource_type}/1")[0] == 401


@pytest.mark.parametrize("resource_type", TYPES)
def test_an_unknown_parameter_is_refused(fhir, world, resource_type):
    status, body = fhir.as_user(world.clinician).get(resource_type, flavour="x")
    assert status == 400 and "flavour" in body["issue"][0]["diagnostics"]


def test_the_capability_statement_offers_intakes_types_and_parameters(fhir):
    _status, body = fhir.get("metadata")
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    expected = {
        "Questionnaire": {"url", "version", "status", "name", "title", "_id"},
        "QuestionnaireResponse": {
            "patient",
            "subject",
            "questionnaire",
            "authored",
            "status",
            "_lastUpdated",
        },
        "Consent": {"patient", "date", "status", "category"},
        "DocumentReference": {"patient", "subject", "date", "type", "status"},
        "Coverage": {"patient", "beneficiary", "status", "payor"},
    }
    for resource_type, names in expected.items():
        offered = {p["name"] for p in resources[resource_type]["searchParam"]}
        assert names <= offered, resource_type


def test_a_page_costs_one_query_whatever_its_size(world, forms, telehealth_consent):
    for patient in (world.patient, world.other_patient):
        complete(patient, forms["phq-9"], PHQ9_ANSWERS)
        complete(patient, forms["gad-7"], {f"gad7-{n}": ["LA6568-5"] for n in range(1, 8)})
        for _again in range(2):
            sign(patient, telehealth_consent)
            card(patient)
    for resource_type in TYPES:
        mapper = registry.mapper_for(resource_type)
        assert mapper is not None
        counts = {}
        for size in (1, 4):
            with CaptureQueriesContext(connection) as queries:
                found = mapper.search(world.admin, {})
                assert isinstance(found, QuerySet)
                rows = list(found.order_by("pk")[:size])
                resources = [registry.validated(mapper, mapper.to_fhir(row)) for row in rows]
            assert len(resources) == size
            counts[size] = len(queries)
        assert counts == {1: 1, 4: 1}, resource_type
