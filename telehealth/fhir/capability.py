"""The CapabilityStatement, generated from the registered mappers (never kept by hand)."""

from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from telehealth.fhir.registry import registered
from telehealth.fhir.search import CORE_PARAMS

BULK_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"


def capability_statement(base_url: str) -> dict:
    resources = []
    for mapper in registered():
        params = dict(CORE_PARAMS)
        if not mapper.last_updated:
            params.pop("_lastUpdated")
        params.update(mapper.params)
        entry: dict = {
            "type": mapper.resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": param.type, "documentation": param.documentation or None}
                for name, param in params.items()
            ],
        }
        if mapper.profiles:
            entry["supportedProfile"] = list(mapper.profiles)
        resources.append(entry)
    statement = CapabilityStatement.model_validate(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": timezone.now().isoformat(),
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "implementation": {"description": "Telehealth FHIR R4 API", "url": base_url},
            "rest": [
                {
                    "mode": "server",
                    "security": {"description": "Signed-in session of a user of the practice."},
                    "resource": resources,
                    # Bulk Data: system, Patient/, Patient/[id]/ and Group/[id]/$export.
                    "operation": [{"name": "export", "definition": BULK_EXPORT}],
                }
            ],
        }
    )
    return statement.model_dump(mode="json", exclude_none=True)
