"""The core's pieces on their own: date precision, OperationOutcome statuses."""

import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from telehealth.fhir.responses import outcome_response
from telehealth.fhir.search import SearchError, parse_date


@pytest.mark.parametrize(
    ("raw", "start", "end", "precision"),
    [
        ("2024", datetime(2024, 1, 1), datetime(2025, 1, 1), "year"),
        ("2024-02", datetime(2024, 2, 1), datetime(2024, 3, 1), "month"),  # leap February
        ("2023-02", datetime(2023, 2, 1), datetime(2023, 3, 1), "month"),
        ("2024-12", datetime(2024, 12, 1), datetime(2025, 1, 1), "month"),
        ("2024-02-29", datetime(2024, 2, 29), datetime(2024, 3, 1), "day"),
        (
            "2024-02-29T10:00:00Z",
            datetime(2024, 2, 29, 10),
            datetime(2024, 2, 29, 10, 0, 1),
            "instant",
        ),
        ("2024-02-29T10:00Z", datetime(2024, 2, 29, 10), datetime(2024, 2, 29, 10, 1), "instant"),
        (
            "2024-03-01T01:30:00+02:00",
            datetime(2024, 2, 29, 23, 30),
            datetime(2024, 2, 29, 23, 30, 1),
            "instant",
        ),
    ],
)
def test_a_date_covers_the_interval_of_its_precision(raw, start, end, precision):
    for prefix in ("", "eq", "ge", "le", "gt", "lt"):
        value = parse_date(prefix + raw, name="date")
        assert (value.prefix, value.precision) == (prefix or "eq", precision)
        assert (value.start, value.end) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "2024-13", "24-01-01", "2024-01-01T10:00:00", "sa2024", "ap2024", "today"]
)
def test_malformed_dates_and_unsupported_prefixes_are_refused(raw):
    with pytest.raises(SearchError):
        parse_date(raw, name="date")


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid"), (401, "login"), (403, "forbidden"), (404, "not-found"), (422, "processing")],
)
def test_operation_outcomes_carry_their_status_and_code(status, code):
    response = outcome_response(status, "Something went wrong")
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/fhir+json")
    outcome = OperationOutcome.model_validate(json.loads(response.content))
    assert [(i.severity, i.code, i.diagnostics) for i in outcome.issue or []] == [
        ("error", code, "Something went wrong")
    ]
    assert ("WWW-Authenticate" in response) == (status == 401)
