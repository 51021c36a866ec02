"""The e-visit conditions every practice starts with, each with its questionnaire (a FHIR
Questionnaire installed as the practice's intake form, which the practice may then edit)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinCondition:
    slug: str
    name: str
    sla_business_hours: int
    questionnaire: dict


def _choice(link: str, text: str, *labels: str, required: bool = True, repeats: bool = False):
    item = {
        "linkId": link,
        "type": "choice",
        "text": text,
        "required": required,
        "answerOption": [{"valueString": label} for label in labels],
    }
    if repeats:
        item["repeats"] = True
    return item


def _text(link: str, text: str, *, required: bool = True, kind: str = "text") -> dict:
    return {"linkId": link, "type": kind, "text": text, "required": required}


def _yes_no(link: str, text: str) -> dict:
    return {"linkId": link, "type": "boolean", "text": text, "required": True}


EMERGENCY = (
    "If you have trouble breathing, chest pain, a high fever with confusion, or feel very "
    "unwell, call 911 now: an e-visit is answered within a business day."
)


def _questionnaire(title: str, items: list[dict]) -> dict:
    """Named (url, version) by intake when installed, under the practice's canonical base."""
    return {
        "resourceType": "Questionnaire",
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": [{"linkId": "emergency", "type": "display", "text": EMERGENCY}, *items],
    }


def conditions() -> list[BuiltinCondition]:
    return [
        BuiltinCondition(
            slug="rash",
            name="Rash or skin problem",
            sla_business_hours=8,
            questionnaire=_questionnaire(
                "E-visit: rash or skin problem",
                [
                    _text("where", "Where on your body is the rash?", kind="string"),
                    _choice(
                        "since",
                        "When did it start?",
                        "Today",
                        "1-3 days ago",
                        "4-14 days ago",
                        "More than 2 weeks ago",
                    ),
                    _choice(
                        "feels",
                        "How does it feel?",
                        "Itchy",
                        "Painful",
                        "Burning",
                        "No feeling",
                        repeats=True,
                    ),
                    _yes_no("spreading", "Is it spreading?"),
                    _yes_no("fever", "Do you have a fever?"),
                    _text("tried", "What have you tried so far?", required=False),
                ],
            ),
        ),
        BuiltinCondition(
            slug="uti",
            name="Urinary tract infection symptoms",
            sla_business_hours=4,
            questionnaire=_questionnaire(
                "E-visit: urinary symptoms",
                [
                    _choice(
                        "symptoms",
                        "Which symptoms do you have?",
                        "Burning when passing urine",
                        "Needing to go often",
                        "Urgency",
                        "Blood in the urine",
                        "Lower belly pain",
                        repeats=True,
                    ),
                    _choice(
                        "since", "When did they start?", "Today", "1-2 days ago", "3 or more days"
                    ),
                    _yes_no("fever", "Do you have a fever, chills or back pain?"),
                    _yes_no("pregnant", "Could you be pregnant?"),
                    _text("allergies", "Are you allergic to any medicines?", required=False),
                ],
            ),
        ),
        BuiltinCondition(
            slug="refill",
            name="Medication refill",
            sla_business_hours=8,
            questionnaire=_questionnaire(
                "E-visit: medication refill",
                [
                    _text("medication", "Which medicine, and what dose?", kind="string"),
                    _text("pharmacy", "Which pharmacy should we send it to?", kind="string"),
                    _yes_no("side_effects", "Any side effects or problems with it?"),
                    _text("notes", "Anything else we should know?", required=False),
                ],
            ),
        ),
        BuiltinCondition(
            slug="follow-up",
            name="Follow-up question",
            sla_business_hours=16,
            questionnaire=_questionnaire(
                "E-visit: follow-up question",
                [
                    _text("about", "Which visit or treatment is your question about?"),
                    _text("question", "Your question"),
                ],
            ),
        ),
    ]
