"""A Questionnaire as rows for the form template: one row per item, with its input kind,
current values, options, error, depth and enableWhen rules (the page hides and shows items
with them; the server applies the same rules when it saves)."""

import json
from dataclasses import dataclass, field

from intake import questionnaire as fhirq


@dataclass
class Row:
    link: str
    kind: str  # the item type
    text: str
    depth: int
    required: bool = False
    repeats: bool = False
    values: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    other: str = ""  # an open-choice answer not among the options; an attached file's name
    error: str = ""
    enable_when: str = ""  # JSON for the page's script
    behavior: str = "all"
    children: list["Row"] = field(default_factory=list)  # a group's items

    @property
    def input_id(self) -> str:
        return "q-" + "".join(c if c.isalnum() else "-" for c in self.link)


def _condition(condition: dict) -> dict:
    value = fhirq._expected(condition)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return {
        "question": condition["question"],
        "operator": condition["operator"],
        "answer": None if value is None else str(value),
        "exists": condition.get("answerBoolean") if condition["operator"] == "exists" else None,
    }


def rows(
    definition: dict, stored: dict[str, list], errors: dict[str, str], files: dict | None = None
) -> list[Row]:
    """The items as a tree of rows (groups hold their items); `files` names attached files."""
    files = files or {}

    def visit(items: list[dict], depth: int) -> list[Row]:
        out: list[Row] = []
        for item in items:
            if item.get("readOnly"):  # calculated by us (a total score), not asked
                continue
            values = [
                ("true" if v else "false") if isinstance(v, bool) else str(v)
                for v in stored.get(item["linkId"], [])
            ]
            options = [
                (str(fhirq.option_value(o)), fhirq.option_label(o))
                for o in item.get("answerOption", [])
            ]
            known = {value for value, _ in options}
            row = Row(
                link=item["linkId"],
                kind=item["type"],
                text=item.get("text", ""),
                depth=depth,
                required=bool(item.get("required")),
                repeats=bool(item.get("repeats")),
                values=values,
                options=options,
                other=next((v for v in values if v not in known), "")
                if item["type"] == "open-choice"
                else (files[values[0]].name if values and values[0] in files else ""),
                error=errors.get(item["linkId"], ""),
                enable_when=json.dumps([_condition(c) for c in item.get("enableWhen", [])])
                if item.get("enableWhen")
                else "",
                behavior=item.get("enableBehavior", "all"),
            )
            if item["type"] == "group":
                row.children = visit(item.get("item", []), depth + 1)
            out.append(row)
        return out

    return visit(definition.get("item", []), 0)


def posted(definition: dict, data) -> dict[str, list[str]]:
    """The submitted values per question (open-choice "other" boxes included)."""
    raw = {}
    for item in fhirq.questions(definition):
        link = item["linkId"]
        values = [v for v in data.getlist(link) if v.strip()]
        other = data.get(f"{link}__other", "").strip()
        if other:
            values.append(other)
        if values:
            raw[link] = values
    return raw
