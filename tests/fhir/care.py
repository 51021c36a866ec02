"""What the FHIR tests of visits, messaging and billing share: the round trip every served
resource must survive, and the published examples."""

import json
from pathlib import Path

from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from telehealth.fhir.registry import Mapper, mapper_for, validated

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def assert_served_form(mapper: Mapper, resource: dict) -> None:
    """The resource a mapper built is what the API may serve as is: plain JSON, valid for the
    type's fhir.resources model and equal to what the model writes (instants in UTC with "Z",
    decimals as numbers, no nulls)."""
    text = json.dumps(resource)  # only JSON types (a Decimal or a datetime fails here)
    assert resource.get("resourceType") == mapper.resource_type
    written = validated(mapper, json.loads(text))
    assert written == resource, _first_difference(resource, written)


def _first_difference(built, written, path: str = "") -> str:
    if isinstance(built, dict) and isinstance(written, dict):
        for key in built.keys() | written.keys():
            if key not in built or key not in written or built[key] != written[key]:
                return _first_difference(built.get(key), written.get(key), f"{path}.{key}")
    if isinstance(built, list) and isinstance(written, list) and len(built) == len(written):
        for n, (one, other) in enumerate(zip(built, written, strict=True)):
            if one != other:
                return _first_difference(one, other, f"{path}[{n}]")
    return f"{path or 'resource'}: built {built!r}, the model writes {written!r}"


def round_trip(resource_type: str, row) -> dict:
    """Row → FHIR JSON as served → parsed back by fhir.resources from its JSON text: the
    parsed resource must say exactly what was served."""
    mapper = mapper_for(resource_type)
    assert mapper is not None
    served = mapper.to_fhir(row)
    assert_served_form(mapper, served)
    parsed = mapper.model.model_validate_json(json.dumps(served))
    assert parsed.model_dump(mode="json", exclude_none=True) == served
    assert parsed.get_resource_type() == resource_type
    return served


def ids(bundle: dict) -> list[str]:
    return sorted(entry["resource"]["id"] for entry in bundle.get("entry", []))


def queries_for_a_page(resource_type: str, user) -> tuple[int, int]:
    """(rows, queries) of building a whole search page as the search view does: the rows,
    each one's resource and whose PHI it is."""
    mapper = mapper_for(resource_type)
    assert mapper is not None
    with CaptureQueriesContext(connection) as queries:
        found = mapper.search(user, {})
        assert isinstance(found, QuerySet)
        rows = list(found.order_by("pk"))
        for row in rows:
            validated(mapper, mapper.to_fhir(row))
            mapper.phi_patient(row)
    return len(rows), len(queries)


HUGE = "99999999999999999999999"  # past a 64-bit key
ODD_IDS = (HUGE, "²", "١")
