"""The form editor's translation between a Questionnaire and the editor's rows: one row per
item; items after a section heading belong to that section; one "show only if" rule each.

Rows carry only wording, so saving keeps what the rows cannot show from the previous version:
an item's codes and, for an option whose label is unchanged, its coding (a SNOMED CT or LOINC
code, an ordinal weight). A new option is coded in SNOMED CT when it is a plain yes or no, else
in the practice's own code system for the form."""

from django.utils.text import slugify

from intake import builtin
from intake import questionnaire as fhirq

KEPT_FROM_PREVIOUS = ("code", "derivedFrom", "identifier", "subjectType", "name")
YES_NO = {"yes": "Yes", "sí": "Yes", "si": "Yes", "no": "No"}


def to_rows(definition: dict) -> list[dict]:
    rows = []

    def condition_of(item: dict) -> tuple[str, str]:
        for condition in item.get("enableWhen", [])[:1]:
            value = fhirq._expected(condition)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            return condition["question"], "" if value is None else str(value)
        return "", ""

    def add(item: dict) -> None:
        question, answer = condition_of(item)
        rows.append(
            {
                "link_id": item["linkId"],
                "text": item.get("text", ""),
                "type": item["type"],
                "required": bool(item.get("required")),
                "repeats": bool(item.get("repeats")),
                "options": "\n".join(fhirq.option_label(o) for o in item.get("answerOption", [])),
                "show_if_question": question,
                "show_if_answer": answer,
            }
        )

    for item in definition.get("item", []):
        add(item)
        for child in item.get("item", []) if item["type"] == "group" else []:
            add(child)
    return rows


def _option(label: str, code_system: str, previous: dict[str, dict]) -> dict:
    if label.lower() in previous:
        kept = previous[label.lower()]
        coding = {**kept["valueCoding"], "system": kept["valueCoding"].get("system") or code_system}
        return {**kept, "valueCoding": {**coding, "display": label}}
    if label.lower() in YES_NO:
        code, _term = builtin.SNOMED_ANSWERS[YES_NO[label.lower()]]
        return {"valueCoding": {"system": builtin.SNOMED, "code": code, "display": label}}
    code = slugify(label)[:60] or label[:60]
    return {"valueCoding": {"system": code_system, "code": code, "display": label}}


def _previous_items(previous: dict | None) -> dict[str, dict]:
    return {item["linkId"]: item for item, _ in fhirq.walk((previous or {}).get("item", []))}


def from_rows(
    *, title: str, url: str, rows: list[dict], code_system: str, previous: dict | None = None
) -> dict:
    """A Questionnaire from the editor's rows (validate it before saving). `previous` is the
    version being edited; `code_system` codes options that have no code yet."""
    before = _previous_items(previous)
    kinds: dict[str, dict] = {}
    items: list[dict] = []
    section: dict | None = None
    used: set[str] = set()
    for n, row in enumerate(rows, start=1):
        link = row.get("link_id") or slugify(row["text"])[:30] or f"q{n}"
        while link in used:
            link = f"{link}-{n}"
        used.add(link)
        item = {"linkId": link, "type": row["type"], "text": row["text"]}
        earlier = before.get(link, {})
        if earlier.get("code") and earlier.get("type") == row["type"]:
            item["code"] = earlier["code"]
        if row.get("required") and row["type"] not in ("display", "group"):
            item["required"] = True
        if row.get("repeats") and row["type"] in ("choice", "open-choice", "string"):
            item["repeats"] = True
        if row["type"] in ("choice", "open-choice"):
            labels = [line.strip() for line in row.get("options", "").splitlines() if line.strip()]
            options = {
                fhirq.option_label(o).lower(): o
                for o in earlier.get("answerOption", [])
                if "valueCoding" in o
            }
            item["answerOption"] = [_option(label, code_system, options) for label in labels]
        question = (row.get("show_if_question") or "").strip()
        if question:
            item["enableWhen"] = [_condition(kinds.get(question), question, row)]
        kinds[link] = item
        if row["type"] == "group":
            item["item"] = []
            section = item
            items.append(item)
        elif section is not None:
            section["item"].append(item)
        else:
            items.append(item)
    return {
        "resourceType": "Questionnaire",
        **{key: previous[key] for key in KEPT_FROM_PREVIOUS if previous and key in previous},
        "url": url,
        "title": title,
        "status": "active",
        "item": items,
    }


def _condition(target: dict | None, question: str, row: dict) -> dict:
    answer = (row.get("show_if_answer") or "").strip()
    kind = target["type"] if target else ""
    if kind == "boolean":
        return {
            "question": question,
            "operator": "=",
            "answerBoolean": answer.lower() in ("yes", "true", "sí", "si"),
        }
    if target and kind in ("choice", "open-choice"):
        option = next(
            (
                o
                for o in target.get("answerOption", [])
                if fhirq.option_label(o).lower() == answer.lower()
                or str(fhirq.option_value(o)) == answer
            ),
            None,
        )
        if option is not None and "valueCoding" in option:
            coding = {k: v for k, v in option["valueCoding"].items() if k in ("system", "code")}
        else:
            coding = {"code": slugify(answer)}
        return {"question": question, "operator": "=", "answerCoding": coding}
    if not answer:
        return {"question": question, "operator": "exists", "answerBoolean": True}
    return {"question": question, "operator": "=", "answerString": answer}
