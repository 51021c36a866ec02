"""What the FHIR tests of visits, messaging and billing share: the round trip every served
resource must survive, and the published examples."""

import json
from pathlib import Path

from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from telehealth.fhir.registry import mapper_for, validated

EXAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def round_trip(resource_type: str, row) -> dict:
    """Row → FHIR JSON validated by fhir.resources → parsed back from its JSON text: the
    parsed resource must say exactly what was served."""
    mapper = mapper_for(resource_type)
    assert mapper is not None
    served = validated(mapper, mapper.to_fhir(row))
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
