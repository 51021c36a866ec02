"""`_include` (https://hl7.org/fhir/R4/search.html#include): the resources a page's matches
point at, added to the searchset as entries with search.mode "include".

Each mapper names what it can include (`Mapper.includes`: the rows a page points at); the
core fetches those rows again through the target type's own scoped search, so a resource the
user may not see is left out rather than leaked, builds each once, and audits
the PHI among them."""

from django.http import HttpRequest

from telehealth.audit.phi import note_phi_access
from telehealth.fhir import auth as fhir_auth
from telehealth.fhir.registry import Computed, Mapper, mapper_for


def included_entries(
    request: HttpRequest, mapper: Mapper, includes: list[str], page: list
) -> list[dict]:
    """The include entries for a page of `mapper`'s rows, each resource once."""
    if not includes or not page:
        return []
    # Per type, the pks in the order the page first points at them (a dict: deduplicated).
    wanted: dict[str, dict[int, None]] = {}
    for name in includes:
        for resource_type, row in mapper.includes[name](page):
            wanted.setdefault(resource_type, {})[row.pk] = None
    root = request.build_absolute_uri(request.path).rsplit("/", 1)[0]
    entries = []
    for resource_type, pks in wanted.items():
        target = mapper_for(resource_type)
        if target is None or not fhir_auth.permitted(request, resource_type, "r"):
            continue  # a token without read scope on the type gets no includes of it
        visible = target.search(request.user, {})
        if isinstance(visible, Computed):
            raise TypeError(f"{resource_type} is computed and cannot be included")
        order = list(pks)
        rows = sorted(visible.filter(pk__in=order), key=lambda row: order.index(row.pk))
        for row in rows:
            entries.append(
                {
                    "fullUrl": f"{root}/{resource_type}/{target.resource_id(row)}",
                    "resource": target.to_fhir(row),
                    "search": {"mode": "include"},
                }
            )
            patient = target.phi_patient(row)
            if patient is not None:
                note_phi_access(request, row, patient=patient)
    return entries
