"""FHIR Questionnaires: validation of a definition, enableWhen, checking and converting a
patient's answers, building the QuestionnaireResponse, and scoring (PHQ-9, GAD-7).

Pure functions over plain dicts; the structure is checked with fhir.resources (R4B, which is
R4 for these two resources) and by the rules below that the schema alone does not state."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from telehealth.fhir.registry import instant

TYPES = {
    "string",
    "text",
    "boolean",
    "choice",
    "open-choice",
    "integer",
    "decimal",
    "date",
    "attachment",
    "display",
    "group",
}
ANSWERED = TYPES - {"display", "group"}
OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
LOINC = "http://loinc.org"
MAX_TEXT = 5000
# FHIR integer is 32-bit signed. A decimal answer goes out as a float, so it must be finite and
# small enough that the float keeps its whole-number part exactly; no form asks for more.
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
DECIMAL_MAX = Decimal("1e15")
MAX_NUMBER_CHARS = 40


class QuestionnaireError(ValueError):
    pass


class AnswerErrors(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# --- Definitions ---------------------------------------------------------------------------


def walk(items: list[dict], parents: tuple = ()):
    """Every item, depth first, with its enclosing groups."""
    for item in items or []:
        yield item, parents
        yield from walk(item.get("item", []), (*parents, item))


def validate(definition: dict) -> None:
    """Refuse a definition with the reason: FHIR structure, then our rules (known item types,
    unique linkIds, choices with options, enableWhen pointing at an earlier question)."""
    if not isinstance(definition, dict) or definition.get("resourceType") != "Questionnaire":
        raise QuestionnaireError(_("A form is a FHIR Questionnaire (resourceType Questionnaire)."))
    try:
        Questionnaire.model_validate(definition)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise QuestionnaireError(
            _("Not a valid FHIR Questionnaire: %(where)s: %(why)s")
            % {"where": where, "why": first.get("msg", "")}
        ) from error
    if definition.get("status") not in ("draft", "active", "retired", "unknown"):
        raise QuestionnaireError(_("status must be draft, active, retired or unknown."))
    if not definition.get("item"):
        raise QuestionnaireError(_("A form needs at least one item."))
    seen: dict[str, dict] = {}
    for item, _parents in walk(definition.get("item", [])):
        link = item.get("linkId")
        kind = item.get("type")
        if kind not in TYPES:
            raise QuestionnaireError(
                _("Item %(link)s has type %(type)s, which forms do not support.")
                % {"link": link, "type": kind}
            )
        if link in seen:
            raise QuestionnaireError(_("Two items share the linkId %(link)s.") % {"link": link})
        if kind in ("choice", "open-choice") and not item.get("answerOption"):
            raise QuestionnaireError(
                _("Item %(link)s is a choice with no answer options.") % {"link": link}
            )
        for option in item.get("answerOption", []):
            coding = option.get("valueCoding")
            if coding is not None and not coding.get("system"):
                raise QuestionnaireError(
                    _("Option %(option)s of item %(link)s has a code but no code system.")
                    % {"option": option_label(option), "link": link}
                )
        if kind == "group" and not item.get("item"):
            raise QuestionnaireError(_("Group %(link)s has no items.") % {"link": link})
        for condition in item.get("enableWhen", []):
            target = condition.get("question")
            if target not in seen:
                raise QuestionnaireError(
                    _("Item %(link)s depends on %(target)s, which is not an earlier question.")
                    % {"link": link, "target": target}
                )
            if condition.get("operator") not in OPERATORS:
                raise QuestionnaireError(
                    _("Item %(link)s uses an unknown enableWhen operator.") % {"link": link}
                )
        seen[link] = item


def questions(definition: dict) -> list[dict]:
    return [item for item, _ in walk(definition.get("item", [])) if item["type"] in ANSWERED]


def patient_answers(item: dict) -> bool:
    """Whether the patient answers this item: not a heading, and not calculated by us."""
    return item["type"] in ANSWERED and not item.get("readOnly")


def codes_of(element: dict, system: str = LOINC) -> set[str]:
    """The codes of a Questionnaire or item in one code system."""
    return {c.get("code", "") for c in element.get("code", []) if c.get("system") == system}


def option_value(option: dict):
    """An answerOption's value: the code of a Coding, or the plain value."""
    if "valueCoding" in option:
        return option["valueCoding"].get("code")
    for key in ("valueString", "valueInteger", "valueDate"):
        if key in option:
            return option[key]
    return None


def option_label(option: dict) -> str:
    if "valueCoding" in option:
        coding = option["valueCoding"]
        return coding.get("display") or coding.get("code", "")
    return str(option_value(option))


# --- enableWhen ----------------------------------------------------------------------------


def _compare(answer, operator: str, expected) -> bool:
    if operator == "=":
        return answer == expected
    if operator == "!=":
        return answer != expected
    try:
        if operator == ">":
            return answer > expected
        if operator == "<":
            return answer < expected
        if operator == ">=":
            return answer >= expected
        if operator == "<=":
            return answer <= expected
    except TypeError:
        return False
    return False


def _expected(condition: dict):
    for key, value in condition.items():
        if key.startswith("answer"):
            if key == "answerCoding":
                return value.get("code")
            if key == "answerDate":
                return date.fromisoformat(value)
            if key == "answerDecimal":
                return Decimal(str(value))
            return value
    return None


def enabled(item: dict, answers: dict[str, list], parents: tuple = ()) -> bool:
    """Whether an item is shown, given the answers so far (its groups must be shown too)."""
    for parent in parents:
        if not enabled(parent, answers):
            return False
    conditions = item.get("enableWhen", [])
    if not conditions:
        return True
    results = []
    for condition in conditions:
        given = answers.get(condition["question"], [])
        if condition["operator"] == "exists":
            results.append(bool(given) == bool(condition.get("answerBoolean")))
        else:
            expected = _expected(condition)
            results.append(any(_compare(a, condition["operator"], expected) for a in given))
    return any(results) if item.get("enableBehavior") == "any" else all(results)


# --- Answers -------------------------------------------------------------------------------


def _convert(item: dict, raw: str):
    kind = item["type"]
    raw = raw.strip()
    if kind in ("string", "text"):
        if len(raw) > MAX_TEXT:
            raise ValueError(_("Keep this under 5,000 characters."))
        return raw
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(_("Answer yes or no."))
        return raw == "true"
    if kind == "integer":
        try:
            number = int(raw)
        except ValueError as exc:
            raise ValueError(_("Enter a whole number.")) from exc
        if not INTEGER_MIN <= number <= INTEGER_MAX:
            raise ValueError(_("That number is out of range."))
        return number
    if kind == "decimal":
        if len(raw) > MAX_NUMBER_CHARS:
            raise ValueError(_("That number is out of range."))
        try:
            decimal = Decimal(raw)
        except InvalidOperation as exc:
            raise ValueError(_("Enter a number.")) from exc
        if not decimal.is_finite():  # NaN, sNaN and Infinity parse, but are not answers
            raise ValueError(_("Enter a number."))
        if abs(decimal) > DECIMAL_MAX:
            raise ValueError(_("That number is out of range."))
        return decimal
    if kind == "date":
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError(_("Enter a date such as 2024-03-12.")) from exc
    if kind == "attachment":
        if not raw.startswith("file:") or not raw[5:].isdigit():
            raise ValueError(_("Attach a photo or a PDF."))
        return raw
    if kind in ("choice", "open-choice"):
        allowed = {str(option_value(o)): option_value(o) for o in item["answerOption"]}
        if raw in allowed:
            return allowed[raw]
        if kind == "open-choice" and raw:
            return raw[:500]
        raise ValueError(_("Choose one of the options."))
    raise ValueError(_("This question cannot be answered here."))


def clean(definition: dict, raw: dict[str, list[str]], *, complete: bool) -> dict[str, list]:
    """Typed answers for the enabled questions; answers to hidden questions are dropped.
    With `complete`, required questions must be answered. AnswerErrors maps linkId to why."""
    answers: dict[str, list] = {}
    errors: dict[str, str] = {}
    for item, _parents in walk(definition.get("item", [])):
        if not patient_answers(item):
            continue
        values = [v for v in raw.get(item["linkId"], []) if str(v).strip()]
        if not item.get("repeats"):
            values = values[:1]
        converted = []
        for value in values:
            try:
                converted.append(_convert(item, str(value)))
            except ValueError as error:
                errors[item["linkId"]] = str(error)
        if converted:
            answers[item["linkId"]] = converted
    # Visibility depends on answers, so prune after converting everything.
    for item, parents in walk(definition.get("item", [])):
        link = item["linkId"]
        if not enabled(item, answers, parents):
            answers.pop(link, None)
            errors.pop(link, None)
        elif complete and item.get("required") and patient_answers(item) and not answers.get(link):
            errors.setdefault(link, _("This question needs an answer."))
    if errors:
        raise AnswerErrors(errors)
    return answers


def _answer_value(item: dict, value, files: dict[str, dict]) -> dict:
    kind = item["type"]
    if kind == "attachment":
        return {"valueAttachment": files.get(value, {"title": "attachment"})}
    if kind == "boolean":
        return {"valueBoolean": value}
    if kind == "integer":
        return {"valueInteger": value}
    if kind == "decimal":
        return {"valueDecimal": float(value)}
    if kind == "date":
        return {"valueDate": value.isoformat()}
    if kind in ("choice", "open-choice"):
        for option in item.get("answerOption", []):
            if option_value(option) == value:
                return {k: v for k, v in option.items() if k.startswith("value")}
        return {"valueString": str(value)}
    return {"valueString": str(value)}


def response_resource(
    *,
    definition: dict,
    canonical: str,
    answers: dict[str, list],
    patient_ref: str,
    authored,
    files: dict[str, dict] | None = None,
) -> dict:
    """The completed QuestionnaireResponse, nested like the questionnaire, validated.
    `files` maps an attachment answer ("file:<id>") to its FHIR Attachment."""
    files = files or {}

    def build(items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            link = item["linkId"]
            # FHIR strings may not be empty: an item without text has no text in the response.
            text = {"text": item["text"]} if item.get("text") else {}
            if item["type"] == "group":
                children = build(item.get("item", []))
                if children:
                    out.append({"linkId": link, **text, "item": children})
            elif item["type"] in ANSWERED and answers.get(link):
                out.append(
                    {
                        "linkId": link,
                        **text,
                        "answer": [_answer_value(item, v, files) for v in answers[link]],
                    }
                )
        return out

    resource = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": canonical,
        "status": "completed",
        "subject": {"reference": patient_ref},
        "authored": instant(authored),
        "item": build(definition.get("item", [])),
    }
    try:
        QuestionnaireResponse.model_validate(resource)
    except ValidationError as error:
        # clean() keeps answers FHIR can hold, so this is a stored answer or a definition saved
        # without validation: say which question when the error points into one.
        link = _link_at(resource, error.errors()[0].get("loc", ()))
        raise AnswerErrors(
            {link: _("This answer could not be recorded. Check it and try again.")}
            if link
            else {"": _("This form could not be recorded. Please call the practice.")}
        ) from error
    return resource


def _link_at(resource: dict, loc: tuple) -> str:
    """The linkId of the innermost item on a validation error's path, or ""."""
    node, link = resource, ""
    for step in loc:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "linkId" in node:
            link = node["linkId"]
    return link


def answers_from_storage(definition: dict, stored: dict[str, list]) -> dict[str, list]:
    """Stored answers (JSON) back to typed values, for enableWhen and scoring."""
    typed: dict[str, list] = {}
    kinds = {item["linkId"]: item for item in questions(definition)}
    for link, values in stored.items():
        item = kinds.get(link)
        if item is None:
            continue
        try:
            typed[link] = [
                _convert(item, str(v).lower() if isinstance(v, bool) else str(v)) for v in values
            ]
        except ValueError:
            continue
    return typed


def answers_for_storage(answers: dict[str, list]) -> dict[str, list]:
    def plain(value):
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    return {link: [plain(v) for v in values] for link, values in answers.items()}


# --- Scoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """A scored LOINC panel: the codes of its questions and of its total score, and the
    bands of the total (lowest total of each)."""

    name: str
    panel: str
    questions: tuple[str, ...]
    total: str
    bands: tuple[tuple[int, str], ...]
    legacy_url: str  # how forms saved before items carried codes named the panel
    legacy_prefix: str  # and the linkId prefix of their questions, numbered in order
    self_harm: str = ""  # the question whose any "yes" is flagged


PHQ9 = Scale(
    name="PHQ-9",
    panel="44249-1",
    questions=(
        "44250-9",
        "44255-8",
        "44259-0",
        "44254-1",
        "44251-7",
        "44258-2",
        "44252-5",
        "44253-3",
        "44260-8",
    ),
    total="44261-6",
    bands=(
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "moderately severe"),
        (20, "severe"),
    ),
    legacy_url="http://loinc.org/q/44249-1",
    legacy_prefix="phq9-",
    self_harm="44260-8",
)
GAD7 = Scale(
    name="GAD-7",
    panel="69737-5",
    questions=("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    total="70274-6",
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
    legacy_url="http://loinc.org/q/69737-5",
    legacy_prefix="gad7-",
)
SCALES = (PHQ9, GAD7)


def scale_of(definition: dict) -> Scale | None:
    """The scale a form is, by its LOINC panel code; a form saved before forms carried codes,
    by the URL it had then (migration 0005 keeps it as an identifier)."""
    panels = codes_of(definition)
    names = {definition.get("url")} | {i.get("value") for i in definition.get("identifier", [])}
    for scale in SCALES:
        if scale.panel in panels or scale.legacy_url in names:
            return scale
    return None


def scale_questions(definition: dict, scale: Scale) -> list[tuple[str, dict]]:
    """The scored questions as (LOINC code, item) in the scale's order: found by item code,
    or, in a form saved before items carried codes, by the numbered linkIds."""
    items = questions(definition)
    by_code = {code: item for item in items for code in codes_of(item)}
    if not any(code in by_code for code in scale.questions):
        by_link = {item["linkId"]: item for item in items}
        for n, code in enumerate(scale.questions, start=1):
            if f"{scale.legacy_prefix}{n}" in by_link:
                by_code[code] = by_link[f"{scale.legacy_prefix}{n}"]
    return [(code, by_code[code]) for code in scale.questions if code in by_code]


def _ordinal(item: dict, value) -> int:
    for option in item.get("answerOption", []):
        if option_value(option) == value:
            for extension in option.get("extension", []) + option.get("valueCoding", {}).get(
                "extension", []
            ):
                if extension.get("url") == ORDINAL:
                    return int(extension["valueDecimal"])
    return 0


def score(definition: dict, answers: dict[str, list]) -> dict:
    """{"name", "total", "band", "answered", "questions", "flag"} for a scored form, else {}.
    PHQ-9 flags any answer above "not at all" to its item 9 (thoughts of self-harm)."""
    scale = scale_of(definition)
    if scale is None:
        return {}
    items = scale_questions(definition, scale)
    total = 0
    answered = 0
    flag = ""
    for code, item in items:
        values = answers.get(item["linkId"])
        if not values:
            continue
        answered += 1
        weight = _ordinal(item, values[0])
        total += weight
        if code == scale.self_harm and weight > 0:
            flag = "self-harm"
    band = [label for lowest, label in scale.bands if total >= lowest][-1]
    return {
        "name": scale.name,
        "total": total,
        "band": band,
        "answered": answered,
        "questions": len(items),
        "flag": flag,
    }


def with_total(definition: dict, answers: dict[str, list]) -> dict[str, list]:
    """The answers with the scale's calculated total-score item filled in (when the form has
    one and any scored question is answered), as the form's calculatedExpression would."""
    scale = scale_of(definition)
    if scale is None:
        return answers
    result = score(definition, answers)
    totals = [item for item in questions(definition) if scale.total in codes_of(item)]
    if not totals or not result["answered"]:
        return answers
    return {**answers, totals[0]["linkId"]: [result["total"]]}
