"""The form editor's translation between a Questionnaire and the editor's rows: one row per
item; items after a section heading belong to that section; one "show only if" rule each."""

from django.utils.text import slugify

from intake import questionnaire as fhirq


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


def _option(label: str) -> dict:
    return {"valueCoding": {"code": slugify(label)[:60] or label[:60], "display": label}}


def from_rows(*, title: str, url: str, rows: list[dict]) -> dict:
    """A Questionnaire from the editor's rows (validate it before saving)."""
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
        if row.get("required") and row["type"] not in ("display", "group"):
            item["required"] = True
        if row.get("repeats") and row["type"] in ("choice", "open-choice", "string"):
            item["repeats"] = True
        if row["type"] in ("choice", "open-choice"):
            labels = [line.strip() for line in row.get("options", "").splitlines() if line.strip()]
            item["answerOption"] = [_option(label) for label in labels]
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
        code = next(
            (
                fhirq.option_value(o)
                for o in target.get("answerOption", [])
                if fhirq.option_label(o).lower() == answer.lower()
                or str(fhirq.option_value(o)) == answer
            ),
            slugify(answer),
        )
        return {"question": question, "operator": "=", "answerCoding": {"code": code}}
    if not answer:
        return {"question": question, "operator": "exists", "answerBoolean": True}
    return {"question": question, "operator": "=", "answerString": answer}
