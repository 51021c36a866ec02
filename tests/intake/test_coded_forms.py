"""Coded intake forms: LOINC codes on PHQ-9 and GAD-7 (checked against published
Questionnaires), a calculated total score, answer codings with a system, canonical URLs of the
practice with versions that every stored response resolves, and the migration of forms and
responses saved before."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from intake import builtin, canonical, editor, selectors, services
from intake import questionnaire as fhirq
from intake.models import Form, FormVersion, Response
from tests.conftest import sign_in
from tests.migrating import migrate

pytestmark = pytest.mark.django_db

PUBLISHED = Path(__file__).parent.parent / "fixtures" / "fhir" / "intake"
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"


@pytest.fixture
def practice_forms(world):
    services.install_builtin(world.practice)
    return {f.slug: f for f in Form.objects.filter(practice=world.practice)}


def fsh(name: str) -> str:
    return (PUBLISHED / name).read_text()


def fsh_codes(text: str, key: str) -> list[str]:
    """The LOINC codes after `* <key> = $...Loinc#` in a FSH file, in order."""
    return re.findall(rf"\b{key} = \$CodeSystemLoinc#([\w-]+)", text)


def fsh_answers(text: str) -> dict[str, str]:
    """A FSH QuestionnaireResponse's answers: {linkId: answer code}."""
    pairs = re.findall(
        r'linkId = "([\w-]+)".*?valueCoding = \$CodeSystemLoinc#([\w-]+)', text, re.DOTALL
    )
    return dict(pairs)


def coded_items(definition: dict) -> dict[str, dict]:
    return {
        code: item for item, _ in fhirq.walk(definition["item"]) for code in fhirq.codes_of(item)
    }


def complete_every_form(patient, forms) -> list[Response]:
    """Answer each form, choosing the first option of each choice."""
    done = []
    for form in forms:
        definition = form.current.questionnaire
        raw = {}
        for item in fhirq.questions(definition):
            if not fhirq.patient_answers(item):
                continue
            kind = item["type"]
            if kind in ("choice", "open-choice"):
                raw[item["linkId"]] = [str(fhirq.option_value(item["answerOption"][0]))]
            else:
                raw[item["linkId"]] = [
                    {"boolean": "true", "integer": "3", "date": "2024-01-02"}.get(kind, "Yes")
                ]
        response = services.response_for(patient=patient, form=form)
        services.response_save(response=response, raw=raw, complete=True)
        response.refresh_from_db()
        done.append(response)
    return done


# --- Codes, checked against published Questionnaires ----------------------------------------


def test_phq9_codes_are_those_of_the_published_loinc_questionnaire():
    published = json.loads((PUBLISHED / "lforms-phq9.json").read_text())
    ours = builtin.phq9("alpha")
    assert fhirq.codes_of(ours) == fhirq.codes_of(published) == {"44249-1"}
    theirs = [fhirq.codes_of(i).pop() for i in published["item"]]
    mine = [fhirq.codes_of(i).pop() for i in ours["item"] if fhirq.codes_of(i)]
    # LHC-Forms puts the total before the difficulty question, as we do.
    assert mine == theirs
    for code, item in coded_items(ours).items():
        assert option_codes(item) == option_codes(coded_items(published)[code]), code


def test_phq9_carries_every_code_of_the_fhir_core_example():
    core = json.loads((PUBLISHED / "core-Questionnaire-phq-9-questionnaire.json").read_text())
    Questionnaire.model_validate(core)
    ours = builtin.phq9("alpha")
    assert fhirq.codes_of(ours) == fhirq.codes_of(core) == {"44249-1"}
    theirs = {fhirq.codes_of(i).pop() for i in core["item"] if i["linkId"] != "Difficulty"}
    assert len(theirs) == 9  # eight questions and the total score
    assert theirs < set(coded_items(ours))


def option_codes(item: dict) -> list[tuple[str, str, int]]:
    """(system, code, ordinal weight) of each answer option."""
    return [
        (coding["system"], coding["code"], fhirq._ordinal(item, coding["code"]))
        for coding in (o["valueCoding"] for o in item.get("answerOption", []))
    ]


def test_phq9_and_gad7_codes_match_the_hl7_personal_health_record_ig():
    for ours, published in [
        (builtin.phq9("alpha"), fsh("phr-Questionnaire-ScoredAssessment-PHQ9.fsh")),
        (builtin.gad7("alpha"), fsh("phr-Questionnaire-ScoredAssessment-GAD7.fsh")),
    ]:
        panel, *questions = fsh_codes(published, "code")
        assert fhirq.codes_of(ours) == {panel}
        scale = fhirq.scale_of(ours)
        assert scale is not None
        assert [code for code, _item in fhirq.scale_questions(ours, scale)] == questions
        answers = set(re.findall(r"valueCoding = \$CodeSystemLoinc#([\w-]+)", published))
        for _code, item in fhirq.scale_questions(ours, scale):
            assert {o["valueCoding"]["code"] for o in item["answerOption"]} == answers
            assert {o["valueCoding"]["system"] for o in item["answerOption"]} == {LOINC}
            assert [fhirq._ordinal(item, code) for code in sorted(answers)] == [0, 1, 2, 3]


def test_the_total_score_codes_match_the_publishers():
    sdc = json.loads((PUBLISHED / "sdc-questionnaire-PHQ9.json").read_text())
    Questionnaire.model_validate(sdc)
    sdc_total = [i for i, _ in fhirq.walk(sdc["item"]) if fhirq.codes_of(i)][0]
    phq9_total = coded_items(builtin.phq9("alpha"))["44261-6"]
    assert fhirq.codes_of(sdc_total) == fhirq.codes_of(phq9_total)
    assert [e["url"] for e in sdc_total["extension"]] == [e["url"] for e in phq9_total["extension"]]
    assert "70274-6" in fsh("phr-Observation-PHR-ScoredAssessment-GAD7.fsh")
    assert "70274-6" in coded_items(builtin.gad7("alpha"))
    for total in (phq9_total, coded_items(builtin.gad7("alpha"))["70274-6"]):
        assert total["readOnly"] is True and total["type"] == "integer"


def test_yes_and_no_options_use_snomed_ct_as_published_by_hl7_germany():
    published = dict(
        (term, code)
        for code, term in re.findall(
            r'#(\d+) "(\w+) \(qualifier value\)"', fsh("gecco-YesNoUnknownOtherNa.fsh")
        )
    )
    assert builtin.SNOMED_ANSWERS["Yes"][0] == published["Yes"]
    assert builtin.SNOMED_ANSWERS["No"][0] == published["No"]


# --- A published response, scored as its publisher scored it -------------------------------


@pytest.mark.parametrize(
    ("ours", "response", "observation"),
    [
        (
            builtin.phq9,
            "phr-QuestionnaireResponse-ScoredAssessment-PHQ9.fsh",
            "phr-Observation-PHR-ScoredAssessment-PHQ9.fsh",
        ),
        (
            builtin.gad7,
            "phr-QuestionnaireResponse-ScoredAssessment-GAD7.fsh",
            "phr-Observation-PHR-ScoredAssessment-GAD7.fsh",
        ),
    ],
)
def test_a_published_response_scores_as_its_publisher_scored_it(ours, response, observation):
    definition = ours("alpha")
    by_code = coded_items(definition)
    published = fsh_answers(fsh(response))
    # The published response's linkIds are the LOINC item codes: answer our items with the same
    # code, with the published LOINC answer codes.
    raw = {by_code[code]["linkId"]: [answer] for code, answer in published.items()}
    answers = fhirq.clean(definition, raw, complete=True)
    result = fhirq.score(definition, answers)
    found = re.search(r"valueInteger = (\d+)", fsh(observation))
    assert found is not None
    expected = int(found.group(1))
    assert result["answered"] == len(published) == result["questions"]
    assert result["total"] == expected
    assert "noneToMinimal" in fsh(observation) and result["band"] == "minimal"


# --- What we export --------------------------------------------------------------------------


def test_every_built_in_form_is_a_valid_questionnaire_with_our_url_and_its_version(
    world, practice_forms
):
    assert set(practice_forms) == set(builtin.BUILDERS)
    base = f"{settings.FHIR_CANONICAL_BASE}/alpha/Questionnaire/"
    for slug, form in practice_forms.items():
        exported = form.current.questionnaire
        Questionnaire.model_validate(exported)
        fhirq.validate(exported)
        assert exported["url"] == base + slug
        assert exported["version"] == str(form.current.version)
        assert "loinc.org" not in exported["url"]


def test_the_response_holds_the_total_score_the_patient_cannot_set(world, practice_forms):
    form = practice_forms["phq-9"]
    raw = {f"phq9-{n}": ["LA6570-1"] for n in range(1, 10)}  # "more than half the days": 2
    raw["phq9-total"] = ["0"]
    response = services.response_for(patient=world.patient, form=form)
    services.response_save(response=response, raw=raw, complete=True)
    response.refresh_from_db()
    items = {i["linkId"]: i for i in response.resource["item"]}
    assert items["phq9-total"]["answer"] == [{"valueInteger": 18}]
    assert response.scores["total"] == 18
    assert "phq9-total" not in response.answers


def test_every_stored_response_names_a_questionnaire_we_serve_and_validates(
    client, world, practice_forms, video_type
):
    sign_in(client, world.admin)
    client.post("/intake/manage/new/", {"title": "Travel screening"})
    authored = Form.objects.get(practice=world.practice, slug="travel-screening")
    saved = client.post(
        f"/intake/manage/{authored.pk}/",
        {
            "title": "Travel screening",
            "is_active": "on",
            "items-TOTAL_FORMS": "2",
            "items-INITIAL_FORMS": "0",
            "items-0-text": "Have you travelled abroad this month?",
            "items-0-link_id": "abroad",
            "items-0-type": "choice",
            "items-0-options": "Yes\nNo",
            "items-0-required": "on",
            "items-0-ORDER": "1",
            "items-1-text": "How did you travel?",
            "items-1-type": "choice",
            "items-1-options": "Plane\nCar",
            "items-1-show_if_question": "abroad",
            "items-1-show_if_answer": "Yes",
            "items-1-ORDER": "2",
        },
    )
    assert saved.status_code == 302
    follow_up = authored.versions.get(version=2).questionnaire["item"][1]
    assert follow_up["enableWhen"][0]["answerCoding"] == {"system": SNOMED, "code": "373066001"}
    forms = Form.objects.filter(practice=world.practice)
    complete_every_form(world.patient, forms)
    travel = Response.objects.get(form_version__form=authored).resource
    assert [i["linkId"] for i in travel["item"]] == ["abroad", "how-did-you-travel"]
    assert Response.objects.filter(status="completed").count() == forms.count() == 5
    for response in Response.objects.filter(status="completed").select_related("patient"):
        QuestionnaireResponse.model_validate(response.resource)
        named = response.resource["questionnaire"]
        version = selectors.form_version_named(
            practice=response.patient.practice, questionnaire=named
        )
        assert version is not None, named
        served = version.questionnaire
        Questionnaire.model_validate(served)
        assert f"{served['url']}|{served['version']}" == named
        assert version == response.form_version


def test_every_coded_answer_names_its_code_system(client, world, practice_forms):
    complete_every_form(world.patient, Form.objects.filter(practice=world.practice))
    systems = set()
    for response in Response.objects.filter(status="completed"):
        for item, _ in fhirq.walk(response.resource["item"]):
            for answer in item.get("answer", []):
                if "valueCoding" in answer:
                    assert answer["valueCoding"].get("system"), item["linkId"]
                    systems.add(answer["valueCoding"]["system"])
    history = canonical.code_system_url("alpha", "medical-history")
    assert systems == {LOINC, SNOMED, history}
    options = {
        fhirq.option_label(o): o["valueCoding"]
        for item in fhirq.questions(practice_forms["medical-history"].current.questionnaire)
        for o in item.get("answerOption", [])
    }
    assert options["High blood pressure"] == {
        "system": SNOMED,
        "code": "38341003",
        "display": "High blood pressure",
    }
    assert options["Stroke"]["code"] == "230690007"
    assert options["Used to"]["system"] == history


def test_the_editor_codes_new_options_and_keeps_existing_codes(client, world, practice_forms):
    form = practice_forms["medical-history"]
    sign_in(client, world.admin)
    rows = editor.to_rows(form.current.questionnaire)
    rows.append({"text": "Do you drive?", "type": "choice", "options": "Yes\nNo\nSometimes"})
    data = {"title": "Medical history", "is_active": "on", "items-INITIAL_FORMS": "0"}
    data["items-TOTAL_FORMS"] = str(len(rows))
    for n, row in enumerate(rows):
        for key, value in row.items():
            if value is True:
                data[f"items-{n}-{key}"] = "on"
            elif value not in (False, None, ""):
                data[f"items-{n}-{key}"] = str(value)
        data[f"items-{n}-ORDER"] = str(n + 1)
    saved = client.post(f"/intake/manage/{form.pk}/", data)
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    current = form.current.questionnaire
    assert form.current.version == 2 and current["version"] == "2"
    options = {
        (item["linkId"], fhirq.option_label(o)): o["valueCoding"]
        for item in fhirq.questions(current)
        for o in item.get("answerOption", [])
    }
    assert options[("conditions.list", "Asthma")]["code"] == "195967001"
    assert options[("do-you-drive", "Yes")] == {
        "system": SNOMED,
        "code": "373066001",
        "display": "Yes",
    }
    assert options[("do-you-drive", "No")]["code"] == "373067005"
    assert options[("do-you-drive", "Sometimes")] == {
        "system": canonical.code_system_url("alpha", "medical-history"),
        "code": "sometimes",
        "display": "Sometimes",
    }


def test_a_coded_option_without_a_code_system_is_refused():
    definition = builtin.reason_for_visit("alpha")
    definition["item"].append(
        {
            "linkId": "when",
            "type": "choice",
            "text": "Morning or afternoon?",
            "answerOption": [{"valueCoding": {"code": "am", "display": "Morning"}}],
        }
    )
    with pytest.raises(fhirq.QuestionnaireError, match="Morning of item when has a code but no"):
        fhirq.validate(definition)


# --- Legacy URLs -------------------------------------------------------------------------------


def test_urls_from_before_and_from_other_practices_resolve_only_to_this_practices_forms(
    world, practice_forms
):
    services.install_builtin(world.outside_practice)
    phq9 = practice_forms["phq-9"].versions.get(version=1)
    history = practice_forms["medical-history"].versions.get(version=1)

    def named(questionnaire):
        return selectors.form_version_named(practice=world.practice, questionnaire=questionnaire)

    assert named("http://loinc.org/q/44249-1|1") == phq9
    assert named("urn:telehealth:questionnaire:medical-history|1") == history
    assert named(f"{phq9.questionnaire['url']}|1") == phq9
    outside = canonical.questionnaire_url("beta", "phq-9")
    assert named(f"{outside}|1") is None
    assert named("http://loinc.org/q/44249-1|7") is None
    assert named("http://loinc.org/q/44249-1") is None
    # Versions are ASCII digits: "²" is a digit to str.isdigit() but int() refuses it, and
    # int() reads the Arabic-Indic "١" as 1.
    assert named("http://loinc.org/q/44249-1|\u00b2") is None
    assert named("http://loinc.org/q/44249-1|\u0661") is None
    assert named("https://example.org/Questionnaire/phq-9|1") is None


# --- The migration -------------------------------------------------------------------------------

BEFORE = [("intake", "0004_random_file_names")]


@pytest.mark.django_db(transaction=True)
def test_forms_and_responses_saved_before_move_to_canonical_urls_and_back(world):
    legacy = {
        "resourceType": "Questionnaire",
        "url": "http://loinc.org/q/44249-1",
        "title": "Depression screening (PHQ-9)",
        "status": "active",
        "item": [
            {
                "linkId": f"phq9-{n}",
                "type": "choice",
                "text": f"Question {n}",
                "required": True,
                "answerOption": [
                    {
                        "valueCoding": {"system": LOINC, "code": code, "display": display},
                        "extension": [{"url": fhirq.ORDINAL, "valueDecimal": weight}],
                    }
                    for code, display, weight in builtin.FREQUENCY
                ],
            }
            for n in range(1, 10)
        ],
    }
    edited = {
        "resourceType": "Questionnaire",
        "url": "urn:telehealth:questionnaire:travel",
        "title": "Travel",
        "status": "active",
        "item": [
            {
                "linkId": "abroad",
                "type": "choice",
                "text": "Abroad?",
                "answerOption": [{"valueCoding": {"code": "yes", "display": "Yes"}}],
            }
        ],
    }
    migrate(BEFORE)
    try:
        phq9 = Form.objects.create(practice=world.practice, slug="phq-9", title="PHQ-9")
        old = FormVersion.objects.create(form=phq9, version=1, questionnaire=legacy)
        travel = Form.objects.create(practice=world.practice, slug="travel", title="Travel")
        FormVersion.objects.create(
            form=travel, version=1, questionnaire=edited, created_by=world.admin
        )
        answered = Response.objects.create(
            patient=world.patient, form_version=old, status="completed"
        )
        answered.answers = {"phq9-1": ["LA6569-3"]}
        answered.resource = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": "http://loinc.org/q/44249-1|1",
            "status": "completed",
            "subject": {"reference": f"Patient/{world.patient.pk}"},
            "item": [{"linkId": "phq9-1", "answer": [{"valueCoding": {"code": "LA6569-3"}}]}],
        }
        answered.save(update_fields=["answers", "resource"])
        started = Response.objects.create(patient=world.other_patient, form_version=old)
    finally:
        migrate()
    url = canonical.questionnaire_url("alpha", "phq-9")
    old.refresh_from_db()
    answered.refresh_from_db()
    assert old.questionnaire["url"] == url and old.questionnaire["version"] == "1"
    assert old.questionnaire["identifier"] == [
        {"system": "urn:ietf:rfc:3986", "value": "http://loinc.org/q/44249-1"}
    ]
    assert answered.resource["questionnaire"] == f"{url}|1"
    assert fhirq.score(old.questionnaire, {"phq9-1": ["LA6569-3"]})["total"] == 1
    # A form started before is finished on the version it was started on, under the new name.
    assert services.response_for(patient=world.other_patient, form=phq9) == started
    raw = {f"phq9-{n}": ["LA6570-1"] for n in range(1, 10)}
    services.response_save(response=started, raw=raw, complete=True)
    started.refresh_from_db()
    assert started.resource["questionnaire"] == f"{url}|1"
    assert started.scores["total"] == 18 and started.scores["flag"] == "self-harm"
    assert selectors.form_version_named(practice=world.practice, questionnaire=f"{url}|1") == old
    coded = phq9.versions.get(version=2).questionnaire
    assert fhirq.codes_of(coded) == {"44249-1"} and coded["version"] == "2"
    travel_v2 = travel.versions.get(version=2).questionnaire
    assert travel_v2["item"][0]["answerOption"][0]["valueCoding"]["system"] == (
        canonical.code_system_url("alpha", "travel")
    )
    for version in FormVersion.objects.all():
        Questionnaire.model_validate(version.questionnaire)
    for form in (phq9, travel):
        current = form.current
        assert current is not None
        fhirq.validate(current.questionnaire)  # our rules too: codings have a system

    migrate(BEFORE)
    try:
        old.refresh_from_db()
        answered.refresh_from_db()
        assert old.questionnaire == legacy
        assert answered.resource["questionnaire"] == "http://loinc.org/q/44249-1|1"
    finally:
        migrate()
    assert phq9.versions.count() == 2  # migrating again adds nothing
