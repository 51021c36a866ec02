"""Undoing migration intake 0005 leaves forms the code before it can score: that code found a
scored form by its URL alone (LOINC's address) and showed every integer item as a question, so
the form version new responses get must carry the old URL and no calculated total."""

import pytest

from intake import builtin, services
from intake import questionnaire as fhirq
from intake.models import Form, FormVersion, Response
from tests.migrating import migrate

BEFORE = [("intake", "0004_random_file_names")]

# How the code before 0005 scored (intake/questionnaire.py at 9c57068): by the form's url only,
# summing the ordinals of the items whose linkId has the scale's prefix.
OLD_SCORED = {
    "http://loinc.org/q/44249-1": ("PHQ-9", "phq9-"),
    "http://loinc.org/q/69737-5": ("GAD-7", "gad7-"),
}


def old_ordinal(item: dict, value) -> int:
    for option in item.get("answerOption", []):
        if fhirq.option_value(option) == value:
            for extension in option.get("extension", []):
                if extension.get("url") == fhirq.ORDINAL:
                    return int(extension["valueDecimal"])
    return 0


def old_score(definition: dict, answers: dict[str, list]) -> dict:
    scored = OLD_SCORED.get(definition.get("url", ""))
    if scored is None:
        return {}
    name, prefix = scored
    items = [q for q in fhirq.questions(definition) if q["linkId"].startswith(prefix)]
    weights = {
        item["linkId"]: old_ordinal(item, answers[item["linkId"]][0])
        for item in items
        if answers.get(item["linkId"])
    }
    total = sum(weights.values())
    flag = name == "PHQ-9" and weights.get("phq9-9", 0) > 0
    return {"name": name, "total": total, "flag": "self-harm" if flag else ""}


def legacy_scored(url: str, prefix: str, count: int) -> dict:
    """A PHQ-9 or GAD-7 as the platform installed it before 0005."""
    return {
        "resourceType": "Questionnaire",
        "url": url,
        "title": prefix,
        "status": "active",
        "item": [
            {"linkId": "intro", "type": "display", "text": "Over the last 2 weeks"},
            *[
                {
                    "linkId": f"{prefix}{n}",
                    "type": "choice",
                    "text": f"Question {n}",
                    "required": True,
                    "answerOption": [
                        {
                            "valueCoding": {"system": builtin.LOINC, "code": code, "display": text},
                            "extension": [{"url": fhirq.ORDINAL, "valueDecimal": weight}],
                        }
                        for code, text, weight in builtin.FREQUENCY
                    ],
                }
                for n in range(1, count + 1)
            ],
        ],
    }


def answered_all(prefix: str, count: int) -> dict[str, list]:
    return {f"{prefix}{n}": ["LA6570-1"] for n in range(1, count + 1)}  # 2 points each


SCALES = {"phq-9": ("phq9-", 9, 18), "gad-7": ("gad7-", 7, 14)}


def assert_old_code_scores_what_new_responses_get(forms: list[Form]) -> None:
    for form in forms:
        prefix, count, total = SCALES[form.slug]
        current = form.versions.order_by("-version").first()
        assert current is not None
        definition = current.questionnaire
        result = old_score(definition, answered_all(prefix, count))
        assert result.get("total") == total, (form.practice.slug, form.slug, definition.get("url"))
        assert result["flag"] == ("self-harm" if form.slug == "phq-9" else "")
        shown = fhirq.questions(definition)
        assert not [item for item in shown if item.get("readOnly")], "a total shown as a question"


@pytest.mark.django_db(transaction=True)
def test_undoing_0005_leaves_every_scored_form_scoreable_by_the_code_before(world):
    migrate(BEFORE)
    try:
        alpha = {}
        for slug, url, prefix, count in (
            ("phq-9", "http://loinc.org/q/44249-1", "phq9-", 9),
            ("gad-7", "http://loinc.org/q/69737-5", "gad7-", 7),
        ):
            alpha[slug] = Form.objects.create(practice=world.practice, slug=slug, title=slug)
            FormVersion.objects.create(
                form=alpha[slug], version=1, questionnaire=legacy_scored(url, prefix, count)
            )
    finally:
        migrate()
    # After the upgrade: a patient starts the coded GAD-7 that 0005 added, and a practice
    # joins with today's built-in forms (canonical URL, codes, a calculated total).
    assert alpha["gad-7"].versions.count() == 2
    started = services.response_for(patient=world.patient, form=alpha["gad-7"])
    assert started.form_version.version == 2
    services.install_builtin(world.outside_practice)
    scored = list(Form.objects.filter(slug__in=SCALES).select_related("practice"))
    assert len(scored) == 4

    migrate(BEFORE)
    try:
        assert_old_code_scores_what_new_responses_get(scored)
        # The coded PHQ-9 nobody answered is gone; the answered GAD-7 keeps its version
        # (under the old name, so finishing it still scores) and the form is back on v1's text.
        assert list(alpha["phq-9"].versions.values_list("version", flat=True)) == [1]
        started.refresh_from_db()
        assert old_score(started.form_version.questionnaire, answered_all("gad7-", 7)) != {}
        gad7 = alpha["gad-7"].versions.order_by("-version").first()
        assert gad7 is not None and gad7.version == 3
        assert (
            gad7.questionnaire["item"]
            == alpha["gad-7"].versions.get(version=1).questionnaire["item"]
        )
    finally:
        migrate()

    for form in scored:
        current = form.current
        assert current is not None
        definition = current.questionnaire
        scale = fhirq.scale_of(definition)
        assert scale is not None
        totals = [i for i in fhirq.questions(definition) if scale.total in fhirq.codes_of(i)]
        assert totals and totals[0]["readOnly"]
        prefix, count, total = SCALES[form.slug]
        assert fhirq.score(definition, answered_all(prefix, count))["total"] == total
    assert Response.objects.get(pk=started.pk).status == Response.Status.IN_PROGRESS
