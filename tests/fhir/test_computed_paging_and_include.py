"""The core's parts added for the schedule: `_include` parsing, typed reference values, and
paging of computed (not stored) search results by their string keys."""

import pytest

from telehealth.fhir.registry import Computed, Mapper
from telehealth.fhir.search import SearchError, page, parse, parse_reference


def toy(**fields) -> Mapper:
    return Mapper(
        resource_type="Toy",
        model=None,
        lookup=lambda user, resource_id: None,
        to_fhir=lambda row: {},
        search=lambda user, params: Computed([]),
        **fields,
    )


def test_include_values_are_checked_against_the_type_and_kept_once():
    mapper = toy(includes={"Toy:owner": lambda rows: []})
    parsed = parse(mapper, [("_include", "Toy:owner"), ("_include", "Toy:owner")])
    assert parsed.includes == ["Toy:owner"]
    assert ("_include", "Toy:owner") in parsed.query  # next links keep it
    with pytest.raises(SearchError, match="offered: Toy:owner"):
        parse(mapper, [("_include", "Toy:maker")])
    with pytest.raises(SearchError, match="offered: none"):
        parse(toy(), [("_include", "Toy:owner")])


def test_a_reference_value_is_its_id_and_remembers_its_type():
    for raw, resource_type in [
        ("12", None),
        ("Patient/12", "Patient"),
        ("https://example.org/fhir/R4/Practitioner/12", "Practitioner"),
    ]:
        reference = parse_reference(raw)
        assert reference == "12" and reference.resource_type == resource_type


def test_computed_rows_page_by_key_after_the_cursor():
    rows = Computed([(f"k{n:02d}", n) for n in range(7)])
    mapper = toy()
    first = parse(mapper, [("_count", "3")])
    assert page(mapper, rows, first) == (7, [0, 1, 2], "k02")
    second = parse(mapper, [("_count", "3"), ("_cursor", "k02")])
    assert page(mapper, rows, second) == (7, [3, 4, 5], "k05")
    last = parse(mapper, [("_count", "3"), ("_cursor", "k05")])
    assert page(mapper, rows, last) == (7, [6], None)
    count_only = parse(mapper, [("_summary", "count")])
    assert page(mapper, rows, count_only) == (7, [], None)


def test_a_cursor_is_a_short_plain_key():
    for bad in ("a/b", "x" * 65, "k 1", ""):
        with pytest.raises(SearchError):
            parse(toy(), [("_cursor", bad)])
    assert parse(toy(), [("_cursor", "202612071545.000000000000000042")]).cursor is not None


@pytest.mark.django_db
def test_a_queryset_search_refuses_a_key_cursor():
    from telehealth.accounts.models import Practice

    mapper = toy()
    with pytest.raises(SearchError, match="id from a next link"):
        page(mapper, Practice.objects.all(), parse(mapper, [("_cursor", "k02")]))
