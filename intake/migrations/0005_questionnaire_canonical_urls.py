"""Intake forms get canonical URLs of their practice, and coded answers.

1. Every saved version is named `{FHIR_CANONICAL_BASE}/{practice}/Questionnaire/{form}` with its
   version number, and every completed response's `questionnaire` follows (same version). The
   built-in PHQ-9 and GAD-7 were named by LOINC's address (http://loinc.org/q/...), which is
   LOINC's to publish, and the other forms by a URN shared by all practices. The old URL stays on
   the version as an identifier, and reversing puts it back.
2. Forms still on the version the platform installed get the current built-in definition (LOINC
   item codes and total score, SNOMED CT answers) as their next version; a version a practice
   saved, whose options have codes but no code system, gets a next version with the practice's
   code system for the form. In-progress responses stay on their version. Reversing keeps these
   versions: they are valid forms, and patients may already have answered them.

Step 2 builds the built-in forms with `intake.builtin` as it is in this release."""

import copy

from django.conf import settings
from django.db import migrations

URI = "urn:ietf:rfc:3986"


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


def restore_legacy_names(apps, schema_editor):
    FormVersion = apps.get_model("intake", "FormVersion")
    Response = apps.get_model("intake", "Response")
    renamed: dict[int, tuple[str, str]] = {}
    for version in FormVersion.objects.all():
        questionnaire = dict(version.questionnaire)
        identifiers = questionnaire.get("identifier", [])
        legacy = [i for i in identifiers if i.get("system") == URI]
        if not legacy:
            continue
        new = questionnaire.get("url", "")
        questionnaire["url"] = legacy[-1]["value"]
        questionnaire.pop("version", None)
        rest = [i for i in identifiers if i is not legacy[-1]]
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


def add_coded_versions(apps, schema_editor):
    from intake import builtin

    Form = apps.get_model("intake", "Form")
    FormVersion = apps.get_model("intake", "FormVersion")
    for form in Form.objects.select_related("practice"):
        latest = form.versions.order_by("-version").first()
        if latest is None:
            continue
        if form.slug in builtin.BUILDERS and latest.created_by_id is None:
            fresh = builtin.BUILDERS[form.slug](form.practice.slug)
        else:
            system = f"{_base(form)}/CodeSystem/{form.slug}"
            fresh = _with_code_system(latest.questionnaire, system)
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


class Migration(migrations.Migration):
    dependencies = [("intake", "0004_random_file_names")]

    operations = [
        migrations.RunPython(name_canonically, restore_legacy_names),
        migrations.RunPython(add_coded_versions, migrations.RunPython.noop),
    ]
