"""FHIR Questionnaires: validation of a definition, enableWhen, checking and converting a
patient's answers, building the QuestionnaireResponse, and scoring (PHQ-9, GAD-7).

Pure functions over plain dicts; the structure is checked with fhir.resources (R4B, which is
R4 for these two resources) and by the rules below that the schema alone does not state."""

from datetime import date
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

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
        if item["type"] not in ANSWERED:
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
        elif (
            complete and item.get("required") and item["type"] in ANSWERED and not answers.get(link)
        ):
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
        "authored": authored.isoformat(),
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

SCORED = {
    # questionnaire url: (name, item prefix, bands as (lowest total, band))
    "http://loinc.org/q/44249-1": (
        "PHQ-9",
        "phq9-",
        [(0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")],
    ),
    "http://loinc.org/q/69737-5": (
        "GAD-7",
        "gad7-",
        [(0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")],
    ),
}


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
    """{"name", "total", "band", "answered", "flag"} for a scored form, else {}. PHQ-9 flags
    any answer above "not at all" to item 9 (thoughts of self-harm)."""
    scored = SCORED.get(definition.get("url", ""))
    if scored is None:
        return {}
    name, prefix, bands = scored
    items = [q for q in questions(definition) if q["linkId"].startswith(prefix)]
    total = 0
    answered = 0
    for item in items:
        values = answers.get(item["linkId"])
        if values:
            answered += 1
            total += _ordinal(item, values[0])
    band = [label for lowest, label in bands if total >= lowest][-1]
    flag = ""
    if name == "PHQ-9":
        item9 = answers.get("phq9-9")
        if item9 and _ordinal(next(i for i in items if i["linkId"] == "phq9-9"), item9[0]) > 0:
            flag = "self-harm"
    return {
        "name": name,
        "total": total,
        "band": band,
        "answered": answered,
        "questions": len(items),
        "flag": flag,
    }
