"""Intake forms get canonical URLs of their practice, and coded answers.

1. Every saved version is named `{FHIR_CANONICAL_BASE}/{practice}/Questionnaire/{form}` with its
   version number, and every completed response's `questionnaire` follows (same version). The
   built-in PHQ-9 and GAD-7 were named by LOINC's address (http://loinc.org/q/...), which is
   LOINC's to publish, and the other forms by a URN shared by all practices. The old URL stays on
   the version as an identifier, and reversing puts it back; a version saved after this
   migration gets the old name of its form, because the code before found PHQ-9 and GAD-7 to
   score (and PHQ-9's self-harm question to flag) by that URL alone.
2. Forms still on the version the platform installed get the current built-in definition (LOINC
   item codes and total score, SNOMED CT answers) as their next version; a version a practice
   saved, whose options have codes but no code system, gets a next version with the practice's
   code system for the form. In-progress responses stay on their version.
   Reversing puts each form back on a version the code before can show: a version added here
   that no response uses is deleted; one a response uses stays (that response still scores,
   under the old name) and the version before it is saved again as the next. A newest version
   saved later with a calculated total gets a next version without it, which the code before
   would show as a question.

Step 2 builds the built-in forms with `intake.builtin` as it is in this release. Reversed with a
later release, a version added here may no longer be recognised as such; it is then kept and
handled as a version saved later."""

import copy

from django.conf import settings
from django.db import migrations

URI = "urn:ietf:rfc:3986"
# The names forms had before this migration (intake.canonical keeps them for reading).
LEGACY_SCORED = {"phq-9": "http://loinc.org/q/44249-1", "gad-7": "http://loinc.org/q/69737-5"}
LEGACY_URN_PREFIX = "urn:telehealth:questionnaire:"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"


def _base(form) -> str:
    return f"{settings.FHIR_CANONICAL_BASE}/{form.practice.slug}"


def _walk(items):
    for item in items or []:
        yield item
        yield from _walk(item.get("item", []))


def name_canonically(apps, schema_editor):
    FormVersion = apps.get_model("intake", "FormVersion")
    Response = apps.get_model("intake", "Response")
    renamed: dict[int, tuple[str, str]] = {}
    for version in FormVersion.objects.select_related("form__practice"):
        questionnaire = dict(version.questionnaire)
        old = questionnaire.get("url", "")
        new = f"{_base(version.form)}/Questionnaire/{version.form.slug}"
        if old and old != new:
            questionnaire["identifier"] = [
                *questionnaire.get("identifier", []),
                {"system": URI, "value": old},
            ]
        questionnaire["url"], questionnaire["version"] = new, str(version.version)
        version.questionnaire = questionnaire
        version.save(update_fields=["questionnaire"])
        renamed[version.pk] = (f"{old}|{version.version}", f"{new}|{version.version}")
    _rename_responses(Response, renamed)


def _legacy_url(form_slug: str) -> str:
    return LEGACY_SCORED.get(form_slug, f"{LEGACY_URN_PREFIX}{form_slug}")


def restore_legacy_names(apps, schema_editor):
    FormVersion = apps.get_model("intake", "FormVersion")
    Response = apps.get_model("intake", "Response")
    renamed: dict[int, tuple[str, str]] = {}
    for version in FormVersion.objects.select_related("form"):
        questionnaire = dict(version.questionnaire)
        identifiers = questionnaire.get("identifier", [])
        legacy = [i for i in identifiers if i.get("system") == URI]
        kept = legacy[-1] if legacy else None
        new = questionnaire.get("url", "")
        questionnaire["url"] = kept["value"] if kept else _legacy_url(version.form.slug)
        questionnaire.pop("version", None)
        rest = [i for i in identifiers if i is not kept]
        if rest:
            questionnaire["identifier"] = rest
        else:
            questionnaire.pop("identifier", None)
        version.questionnaire = questionnaire
        version.save(update_fields=["questionnaire"])
        renamed[version.pk] = (
            f"{new}|{version.version}",
            f"{questionnaire['url']}|{version.version}",
        )
    _rename_responses(Response, renamed)


def _rename_responses(Response, renamed: dict[int, tuple[str, str]]) -> None:
    completed = Response.objects.filter(status="completed", form_version_id__in=list(renamed))
    for response in completed.only("pk", "form_version_id", "resource").iterator():
        old, new = renamed[response.form_version_id]
        if response.resource.get("questionnaire") == old:
            response.resource = {**response.resource, "questionnaire": new}
            response.save(update_fields=["resource"])


def _content(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k not in ("url", "version", "identifier")}


def _with_code_system(definition: dict, system: str) -> dict:
    coded = copy.deepcopy(definition)
    for item in _walk(coded.get("item", [])):
        for option in item.get("answerOption", []):
            coding = option.get("valueCoding")
            if coding is not None and not coding.get("system"):
                coding["system"] = system
        for condition in item.get("enableWhen", []):
            coding = condition.get("answerCoding")
            if coding is not None and not coding.get("system"):
                coding["system"] = system
    return coded


def _coded(form, latest) -> dict:
    """What step 2 makes of a form whose newest version is `latest`."""
    from intake import builtin

    if form.slug in builtin.BUILDERS and latest.created_by_id is None:
        return builtin.BUILDERS[form.slug](form.practice.slug)
    return _with_code_system(latest.questionnaire, f"{_base(form)}/CodeSystem/{form.slug}")


def add_coded_versions(apps, schema_editor):
    Form = apps.get_model("intake", "Form")
    FormVersion = apps.get_model("intake", "FormVersion")
    for form in Form.objects.select_related("practice"):
        latest = form.versions.order_by("-version").first()
        if latest is None:
            continue
        fresh = _coded(form, latest)
        if _content(fresh) == _content(latest.questionnaire):
            continue
        number = latest.version + 1
        FormVersion.objects.create(
            form=form,
            version=number,
            questionnaire={
                **_content(fresh),
                "url": f"{_base(form)}/Questionnaire/{form.slug}",
                "version": str(number),
            },
        )


def _calculated(item: dict) -> bool:
    return any(e.get("url") == CALCULATED for e in item.get("extension", []))


def _without_calculated(items: list[dict]) -> list[dict]:
    return [
        {**item, "item": _without_calculated(item["item"])} if "item" in item else item
        for item in items
        if not _calculated(item)
    ]


def remove_coded_versions(apps, schema_editor):
    """Runs before `restore_legacy_names`: a version saved here keeps the form's canonical URL
    and legacy identifier, which that step turns back into the old name."""
    Form = apps.get_model("intake", "Form")
    FormVersion = apps.get_model("intake", "FormVersion")
    Response = apps.get_model("intake", "Response")
    # Only the practice's slug: when this is undone, a later migration that added a practice
    # column may already have been undone (the graph does not order the two apps).
    forms = Form.objects.select_related("practice").only("slug", "practice", "practice__slug")
    for form in forms:
        versions = list(form.versions.order_by("-version")[:2])
        if not versions:
            continue
        newest, previous = versions[0], (versions[1] if len(versions) > 1 else None)
        added_here = (
            previous is not None
            and newest.created_by_id is None
            and newest.version == previous.version + 1
            and _content(newest.questionnaire) == _content(_coded(form, previous))
        )
        if added_here and not Response.objects.filter(form_version=newest).exists():
            newest.delete()
            continue
        if added_here:
            restored = previous.questionnaire
        else:
            restored = {
                **newest.questionnaire,
                "item": _without_calculated(newest.questionnaire.get("item", [])),
            }
            if restored == newest.questionnaire:
                continue
        number = newest.version + 1
        FormVersion.objects.create(
            form=form, version=number, questionnaire={**restored, "version": str(number)}
        )


class Migration(migrations.Migration):
    dependencies = [("intake", "0004_random_file_names")]

    operations = [
        migrations.RunPython(name_canonically, restore_legacy_names),
        migrations.RunPython(add_coded_versions, remove_coded_versions),
    ]
