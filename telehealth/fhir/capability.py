"""The CapabilityStatement, generated from the registered mappers (never kept by hand)."""

from django.utils import timezone
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from telehealth.fhir import auth
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
        interactions = [{"code": "read"}, {"code": "search-type"}]
        interactions += [{"code": "create"}] if mapper.create is not None else []
        interactions += [{"code": "update"}] if mapper.update is not None else []
        entry: dict = {
            "type": mapper.resource_type,
            "interaction": interactions,
            "searchParam": [
                {"name": name, "type": param.type, "documentation": param.documentation or None}
                for name, param in params.items()
            ],
        }
        if mapper.profiles:
            entry["supportedProfile"] = list(mapper.profiles)
        if mapper.includes:
            entry["searchInclude"] = list(mapper.includes)
        if mapper.version is not None:
            # versionId and ETag on every read; If-Match honoured on update.
            entry["versioning"] = "versioned-update" if mapper.update else "versioned"
            entry["interaction"].append({"code": "vread"})
        if mapper.create is not None:
            entry["conditionalCreate"] = True
        if mapper.update is not None:
            entry["updateCreate"] = False  # ids are ours: PUT to an unknown id is 404
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
                    "security": auth.security(base_url),
                    "resource": resources,
                    "interaction": [{"code": "transaction"}, {"code": "batch"}],
                    # Bulk Data: system, Patient/, Patient/[id]/ and Group/[id]/$export.
                    "operation": [{"name": "export", "definition": BULK_EXPORT}],
                }
            ],
        }
    )
    return statement.model_dump(mode="json", exclude_none=True)
