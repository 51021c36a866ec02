"""The forms and consent every practice starts with: medical history, reason for visit, PHQ-9,
GAD-7 and a telehealth consent. Built as FHIR Questionnaires here, named under the practice's
canonical base and installed per practice by `services.install_builtin` (a practice then edits
its own copies; the scored forms' questions stay fixed)."""

from intake import canonical
from intake.questionnaire import CALCULATED, ORDINAL

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

# LOINC codes checked against published Questionnaires: PHQ-9 against LHC-Forms'
# test/data/R4/phq9.json (LHNCBC/lforms), GAD-7 against the HL7 Personal Health Record Format
# IG (HL7/personal-health-record-format-ig, Questionnaire-ScoredAssessment-GAD7.fsh); copies
# are kept under tests/fixtures/fhir/ and the tests compare these codes with them.
FREQUENCY = [
    ("LA6568-5", "Not at all", 0),
    ("LA6569-3", "Several days", 1),
    ("LA6570-1", "More than half the days", 2),
    ("LA6571-9", "Nearly every day", 3),
]
DIFFICULTY = [
    ("LA6572-7", "Not difficult at all"),
    ("LA6573-5", "Somewhat difficult"),
    ("LA6575-0", "Very difficult"),
    ("LA6574-3", "Extremely difficult"),
]
# SNOMED CT codes for the answers where one concept says exactly what the option says (checked
# against HL7 Germany's GECCO IG, hl7germany/forschungsnetz-covid19, and other published FHIR
# content). The other options are coded in the practice's own code system for the form.
SNOMED_ANSWERS = {
    "Yes": ("373066001", "Yes (qualifier value)"),
    "No": ("373067005", "No (qualifier value)"),
    "High blood pressure": ("38341003", "Hypertensive disorder"),
    "Diabetes": ("73211009", "Diabetes mellitus"),
    "Asthma": ("195967001", "Asthma"),
    "Heart disease": ("56265001", "Heart disease"),
    "Cancer": ("363346000", "Malignant neoplastic disease"),
    "Stroke": ("230690007", "Cerebrovascular accident"),
}


def _loinc(code: str, display: str) -> dict:
    return {"system": LOINC, "code": code, "display": display}


def _scored_options() -> list[dict]:
    return [
        {
            "valueCoding": _loinc(code, display),
            "extension": [{"url": ORDINAL, "valueDecimal": weight}],
        }
        for code, display, weight in FREQUENCY
    ]


def _options(system: str, *labels: str) -> list[dict]:
    """Options coded in SNOMED CT where `SNOMED_ANSWERS` has the label, else in `system`."""
    options = []
    for label in labels:
        if label in SNOMED_ANSWERS:
            # The patient reads the display, so it keeps our wording ("Cancer", not SNOMED's
            # "Malignant neoplastic disease"); the code carries the meaning.
            code, _term = SNOMED_ANSWERS[label]
            coding = {"system": SNOMED, "code": code, "display": label}
        else:
            coding = {"system": system, "code": label.lower().replace(" ", "-"), "display": label}
        options.append({"valueCoding": coding})
    return options


def _scored(
    *,
    url: str,
    title: str,
    panel: tuple[str, str],
    prefix: str,
    prompt: str,
    questions: list[tuple[str, str]],
    total: tuple[str, str],
    after: list[dict],
) -> dict:
    """A LOINC panel: its scored questions, then the total score as a calculated, read-only
    item (the SDC calculatedExpression says how; the server computes the same sum)."""
    scored_links = " | ".join(f"'{prefix}{n}'" for n in range(1, len(questions) + 1))
    return {
        "resourceType": "Questionnaire",
        "url": url,
        "name": prefix.strip("-").upper(),
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "code": [_loinc(*panel)],
        "derivedFrom": [f"http://loinc.org/q/{panel[0]}"],
        "item": [
            {"linkId": "intro", "type": "display", "text": prompt},
            *[
                {
                    "linkId": f"{prefix}{n}",
                    "code": [_loinc(code, text)],
                    "type": "choice",
                    "text": text,
                    "required": True,
                    "answerOption": _scored_options(),
                }
                for n, (code, text) in enumerate(questions, start=1)
            ],
            {
                "linkId": f"{prefix}total",
                "code": [_loinc(*total)],
                "type": "integer",
                "text": "Total score",
                "readOnly": True,
                "extension": [
                    {
                        "url": CALCULATED,
                        "valueExpression": {
                            "language": "text/fhirpath",
                            "expression": f"%resource.item.where(linkId in ({scored_links}))"
                            ".answer.value.ordinal().sum()",
                        },
                    }
                ],
            },
            *after,
        ],
    }


def phq9(practice_slug: str) -> dict:
    return _scored(
        url=canonical.questionnaire_url(practice_slug, "phq-9"),
        title="Depression screening (PHQ-9)",
        panel=("44249-1", "PHQ-9 quick depression assessment panel"),
        prefix="phq9-",
        prompt="Over the last 2 weeks, how often have you been bothered by any of the following "
        "problems?",
        questions=[
            ("44250-9", "Little interest or pleasure in doing things"),
            ("44255-8", "Feeling down, depressed, or hopeless"),
            ("44259-0", "Trouble falling or staying asleep, or sleeping too much"),
            ("44254-1", "Feeling tired or having little energy"),
            ("44251-7", "Poor appetite or overeating"),
            (
                "44258-2",
                "Feeling bad about yourself, or that you are a failure or have let yourself or "
                "your family down",
            ),
            (
                "44252-5",
                "Trouble concentrating on things, such as reading the newspaper or watching "
                "television",
            ),
            (
                "44253-3",
                "Moving or speaking so slowly that other people could have noticed, or the "
                "opposite: being so fidgety or restless that you have been moving around a lot "
                "more than usual",
            ),
            (
                "44260-8",
                "Thoughts that you would be better off dead, or of hurting yourself in some way",
            ),
        ],
        total=("44261-6", "Patient health questionnaire 9 item total score"),
        after=[
            {
                "linkId": "phq9-difficulty",
                "code": [
                    _loinc(
                        "69722-7",
                        "How difficult have these problems made it for you to do your work, take "
                        "care of things at home, or get along with other people?",
                    )
                ],
                "type": "choice",
                "text": "If you checked off any problems, how difficult have these problems made "
                "it for you to do your work, take care of things at home, or get along with "
                "other people?",
                "answerOption": [
                    {"valueCoding": _loinc(code, display)} for code, display in DIFFICULTY
                ],
            }
        ],
    )


def gad7(practice_slug: str) -> dict:
    return _scored(
        url=canonical.questionnaire_url(practice_slug, "gad-7"),
        title="Anxiety screening (GAD-7)",
        panel=("69737-5", "Generalized anxiety disorder 7 item (GAD-7)"),
        prefix="gad7-",
        prompt="Over the last 2 weeks, how often have you been bothered by the following problems?",
        questions=[
            ("69725-0", "Feeling nervous, anxious, or on edge"),
            ("68509-9", "Not being able to stop or control worrying"),
            ("69733-4", "Worrying too much about different things"),
            ("69734-2", "Trouble relaxing"),
            ("69735-9", "Being so restless that it is hard to sit still"),
            ("69689-8", "Becoming easily annoyed or irritable"),
            ("69736-7", "Feeling afraid, as if something awful might happen"),
        ],
        total=("70274-6", "Generalized anxiety disorder 7 item total score"),
        after=[],
    )


def medical_history(practice_slug: str) -> dict:
    codes = canonical.code_system_url(practice_slug, "medical-history")
    return {
        "resourceType": "Questionnaire",
        "url": canonical.questionnaire_url(practice_slug, "medical-history"),
        "title": "Medical history",
        "status": "active",
        "item": [
            {
                "linkId": "conditions",
                "type": "group",
                "text": "Health conditions",
                "item": [
                    {
                        "linkId": "conditions.list",
                        "type": "open-choice",
                        "repeats": True,
                        "text": "Conditions you have been diagnosed with",
                        "answerOption": _options(
                            codes,
                            "High blood pressure",
                            "Diabetes",
                            "Asthma",
                            "Heart disease",
                            "Depression or anxiety",
                            "None",
                        ),
                    },
                ],
            },
            {
                "linkId": "medications",
                "type": "group",
                "text": "Medications",
                "item": [
                    {
                        "linkId": "medications.any",
                        "type": "boolean",
                        "required": True,
                        "text": "Do you take any medicines, vitamins or supplements?",
                    },
                    {
                        "linkId": "medications.list",
                        "type": "text",
                        "required": True,
                        "text": "Which ones, with the dose and how often",
                        "enableWhen": [
                            {"question": "medications.any", "operator": "=", "answerBoolean": True}
                        ],
                    },
                ],
            },
            {
                "linkId": "allergies",
                "type": "group",
                "text": "Allergies",
                "item": [
                    {
                        "linkId": "allergies.any",
                        "type": "boolean",
                        "required": True,
                        "text": "Are you allergic to any medicines, foods or other things?",
                    },
                    {
                        "linkId": "allergies.list",
                        "type": "text",
                        "required": True,
                        "text": "What are you allergic to, and what happens?",
                        "enableWhen": [
                            {"question": "allergies.any", "operator": "=", "answerBoolean": True}
                        ],
                    },
                ],
            },
            {
                "linkId": "surgeries",
                "type": "group",
                "text": "Surgeries",
                "item": [
                    {
                        "linkId": "surgeries.any",
                        "type": "boolean",
                        "required": True,
                        "text": "Have you had any operations?",
                    },
                    {
                        "linkId": "surgeries.list",
                        "type": "text",
                        "text": "Which operations, and when?",
                        "enableWhen": [
                            {"question": "surgeries.any", "operator": "=", "answerBoolean": True}
                        ],
                    },
                ],
            },
            {
                "linkId": "family",
                "type": "group",
                "text": "Family history",
                "item": [
                    {
                        "linkId": "family.conditions",
                        "type": "choice",
                        "repeats": True,
                        "text": "Have parents, brothers or sisters had any of these?",
                        "answerOption": _options(
                            codes, "Heart disease", "Diabetes", "Cancer", "Stroke", "None of these"
                        ),
                    },
                ],
            },
            {
                "linkId": "smoking",
                "type": "choice",
                "required": True,
                "text": "Do you smoke or vape?",
                # Not SNOMED's smoker concepts: those are about tobacco, and this asks about
                # vaping too.
                "answerOption": [
                    {"valueCoding": {"system": codes, "code": code, "display": label}}
                    for code, label in (("never", "Never"), ("used-to", "Used to"), ("yes", "Yes"))
                ],
            },
        ],
    }


def reason_for_visit(practice_slug: str) -> dict:
    return {
        "resourceType": "Questionnaire",
        "url": canonical.questionnaire_url(practice_slug, "reason-for-visit"),
        "title": "Reason for your visit",
        "status": "active",
        "item": [
            {
                "linkId": "reason",
                "type": "text",
                "required": True,
                "text": "What would you like help with at this visit?",
            },
            {"linkId": "since", "type": "date", "text": "When did it start?"},
            {
                "linkId": "pain",
                "type": "integer",
                "text": "If you are in pain, how bad is it from 0 (none) to 10 (worst)?",
            },
        ],
    }


BUILDERS = {
    "medical-history": medical_history,
    "reason-for-visit": reason_for_visit,
    "phq-9": phq9,
    "gad-7": gad7,
}


def forms(practice_slug: str) -> list[tuple[str, dict]]:
    """The built-in forms as (slug, Questionnaire) named under the practice's canonical base."""
    return [(slug, build(practice_slug)) for slug, build in BUILDERS.items()]


TELEHEALTH_CONSENT_TITLE = "Consent to telehealth care"
TELEHEALTH_CONSENT = "\n".join(
    [
        "I agree to receive care from this practice by video, phone and secure messaging "
        "(telehealth).",
        "",
        "I understand that:",
        "- A telehealth visit is not the same as an in-person visit. My clinician may decide "
        "that I need to be seen in person.",
        "- The practice protects my information: video visits are encrypted and are not "
        "recorded, and my messages and records are stored securely.",
        "- Technical problems may interrupt a visit. If that happens, the practice will call me.",
        "- In an emergency I will call 911 and not rely on telehealth or messages.",
        "- I may withdraw this consent at any time by telling the practice, without losing my "
        "right to in-person care.",
        "- My health insurance may bill telehealth visits like other visits, and I may owe a "
        "copay.",
        "",
        "By signing, I confirm that I have read this consent and that my questions were answered.",
    ]
)
