"""The forms and consent every practice starts with: medical history, reason for visit, PHQ-9,
GAD-7 and a telehealth consent. Built as FHIR Questionnaires here, installed per practice by
`services.install_builtin_forms` (a practice then edits its own copies)."""

from intake.questionnaire import ORDINAL

FREQUENCY = [
    ("LA6568-5", "Not at all", 0),
    ("LA6569-3", "Several days", 1),
    ("LA6570-1", "More than half the days", 2),
    ("LA6571-9", "Nearly every day", 3),
]


def _scored_options() -> list[dict]:
    return [
        {
            "valueCoding": {"system": "http://loinc.org", "code": code, "display": display},
            "extension": [{"url": ORDINAL, "valueDecimal": weight}],
        }
        for code, display, weight in FREQUENCY
    ]


def _options(*labels: str) -> list[dict]:
    return [
        {"valueCoding": {"code": label.lower().replace(" ", "-"), "display": label}}
        for label in labels
    ]


def _scored(url: str, title: str, prefix: str, prompt: str, texts: list[str]) -> dict:
    return {
        "resourceType": "Questionnaire",
        "url": url,
        "title": title,
        "status": "active",
        "item": [
            {"linkId": "intro", "type": "display", "text": prompt},
            *[
                {
                    "linkId": f"{prefix}{n}",
                    "type": "choice",
                    "text": text,
                    "required": True,
                    "answerOption": _scored_options(),
                }
                for n, text in enumerate(texts, start=1)
            ],
        ],
    }


PHQ9 = _scored(
    "http://loinc.org/q/44249-1",
    "Depression screening (PHQ-9)",
    "phq9-",
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    [
        "Little interest or pleasure in doing things",
        "Feeling down, depressed, or hopeless",
        "Trouble falling or staying asleep, or sleeping too much",
        "Feeling tired or having little energy",
        "Poor appetite or overeating",
        "Feeling bad about yourself, or that you are a failure or have let yourself or your "
        "family down",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
        "Moving or speaking so slowly that other people could have noticed, or the opposite: "
        "being so fidgety or restless that you have been moving around a lot more than usual",
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
    ],
)

GAD7 = _scored(
    "http://loinc.org/q/69737-5",
    "Anxiety screening (GAD-7)",
    "gad7-",
    "Over the last 2 weeks, how often have you been bothered by the following problems?",
    [
        "Feeling nervous, anxious, or on edge",
        "Not being able to stop or control worrying",
        "Worrying too much about different things",
        "Trouble relaxing",
        "Being so restless that it is hard to sit still",
        "Becoming easily annoyed or irritable",
        "Feeling afraid, as if something awful might happen",
    ],
)

MEDICAL_HISTORY = {
    "resourceType": "Questionnaire",
    "url": "urn:telehealth:questionnaire:medical-history",
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
                        "Heart disease", "Diabetes", "Cancer", "Stroke", "None of these"
                    ),
                },
            ],
        },
        {
            "linkId": "smoking",
            "type": "choice",
            "required": True,
            "text": "Do you smoke or vape?",
            "answerOption": _options("Never", "Used to", "Yes"),
        },
    ],
}

REASON_FOR_VISIT = {
    "resourceType": "Questionnaire",
    "url": "urn:telehealth:questionnaire:reason-for-visit",
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

FORMS = [
    ("medical-history", MEDICAL_HISTORY),
    ("reason-for-visit", REASON_FOR_VISIT),
    ("phq-9", PHQ9),
    ("gad-7", GAD7),
]

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
