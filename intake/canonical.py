"""The names under which a practice publishes its intake forms: FHIR canonical URLs for its
Questionnaires and for the CodeSystem of each form's own answer codes.

Per practice, because a practice edits its copy of a form: two practices' version 2 of the
medical history are different Questionnaires and must not share one `url|version`."""

from django.conf import settings

# Before forms carried their own canonical URL, the built-in scored forms were named by LOINC's
# address and the others by a URN. Responses completed then, and copies sent elsewhere, still
# name these; `legacy_slug` reads them back.
LEGACY_SCORED_URLS = {
    "http://loinc.org/q/44249-1": "phq-9",
    "http://loinc.org/q/69737-5": "gad-7",
}
LEGACY_URN_PREFIX = "urn:telehealth:questionnaire:"


def practice_base(practice_slug: str) -> str:
    return f"{settings.FHIR_CANONICAL_BASE}/{practice_slug}"


def questionnaire_url(practice_slug: str, form_slug: str) -> str:
    return f"{practice_base(practice_slug)}/Questionnaire/{form_slug}"


def code_system_url(practice_slug: str, form_slug: str) -> str:
    """The practice's own code system for the answers of one form that have no standard code."""
    return f"{practice_base(practice_slug)}/CodeSystem/{form_slug}"


def split(canonical: str) -> tuple[str, str]:
    """A canonical reference as (url, version); version is "" when not given."""
    url, _bar, version = canonical.partition("|")
    return url, version


def slug_in(url: str, practice_slug: str) -> str | None:
    """The form slug a Questionnaire URL of this practice names, current or legacy; else None."""
    prefix = f"{practice_base(practice_slug)}/Questionnaire/"
    if url.startswith(prefix) and "/" not in url[len(prefix) :]:
        return url[len(prefix) :] or None
    return legacy_slug(url)


def legacy_slug(url: str) -> str | None:
    if url in LEGACY_SCORED_URLS:
        return LEGACY_SCORED_URLS[url]
    if url.startswith(LEGACY_URN_PREFIX):
        return url[len(LEGACY_URN_PREFIX) :] or None
    return None
