"""Answers to FHIR callers, in FHIR: an OperationOutcome for an Observation or a refused
upload, a batch-response or transaction-response Bundle with one status per entry.

A transaction is all or nothing (FHIR's rule): one refused entry refuses the upload with 400
and an OperationOutcome naming every entry at fault, and nothing is stored. A batch, and
any other Bundle, is answered entry by entry.

A 201 Created carries no `response.location`: FHIR gives it as the new resource's URL to
read, and this service has no endpoint that reads an Observation back (the readings are
shown to people, not served as FHIR), so any URL given would answer 404."""

from typing import Any

from rpm.uploads import ItemResult, Outcome, Stored

FHIR_JSON = "application/fhir+json"

# outcome -> (HTTP status line, OperationOutcome severity, issue code)
STATUSES = {
    Outcome.CREATED: ("201 Created", "information", "informational"),
    Outcome.AMENDED: ("200 OK", "information", "informational"),
    Outcome.DUPLICATE: ("200 OK", "information", "duplicate"),
    Outcome.IGNORED: ("200 OK", "information", "informational"),
    Outcome.RETRACTED: ("200 OK", "information", "informational"),
    Outcome.WITHDRAWN_LATER: ("200 OK", "information", "informational"),
    Outcome.NOT_FOUND: ("404 Not Found", "error", "not-found"),
    Outcome.REFUSED: ("422 Unprocessable Entity", "error", "invalid"),
    Outcome.MALFORMED: ("400 Bad Request", "error", "invalid"),
}
SAID = {
    Outcome.CREATED: "Stored.",
    Outcome.AMENDED: "Amended.",
    Outcome.DUPLICATE: "Already stored; nothing changed.",
    Outcome.RETRACTED: "The reading with this identifier was withdrawn.",
}


def _issue(result: ItemResult, *, expression: str = "") -> dict[str, Any]:
    _status, severity, code = STATUSES[result.outcome]
    issue: dict[str, Any] = {
        "severity": severity,
        "code": code,
        "diagnostics": result.reason or SAID.get(result.outcome, ""),
    }
    if expression or result.expression:
        issue["expression"] = [expression or result.expression]
    return issue


def outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def refusal(message: str, expression: str = "") -> dict[str, Any]:
    """An OperationOutcome for an upload refused as a whole."""
    issue: dict[str, Any] = {"severity": "error", "code": "invalid", "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return outcome([issue])


def _in_entry(result: ItemResult) -> str:
    """An expression inside a Bundle's entry (already so for a refusal the parser placed)."""
    where = result.expression
    if not where or where.startswith("Bundle."):
        return where
    _head, _dot, rest = where.partition(".")
    return f"Bundle.entry[{result.index}].resource" + (f".{rest}" if rest else "")


def answer(stored: Stored) -> tuple[int, dict[str, Any]]:
    """(HTTP status, FHIR resource) for a stored upload."""
    if stored.bundle_type == "transaction" and not stored.written:
        issues = [
            _issue(r, expression=_in_entry(r) or f"Bundle.entry[{r.index}]") for r in stored.failed
        ]
        return 400, outcome(issues)
    if not stored.bundle_type:
        result = stored.items[0]
        return int(STATUSES[result.outcome][0][:3]), outcome([_issue(result)])
    response_type = (
        "transaction-response" if stored.bundle_type == "transaction" else "batch-response"
    )
    entries = []
    for result in stored.items:
        status = STATUSES[result.outcome][0]
        response: dict[str, Any] = {"status": status}
        if result.outcome != Outcome.CREATED:
            response["outcome"] = outcome([_issue(result, expression=_in_entry(result))])
        entries.append({"response": response})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": response_type}
    if entries:  # FHIR allows no empty arrays
        bundle["entry"] = entries
    return 200, bundle
