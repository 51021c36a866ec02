"""Bad input at every door gets a 4xx with a message, never a 500, and writes nothing.

The cases are generated: every named route of the URL resolver, reached as a role the access
matrix allows on it and with that role's own object, and every operation of the OpenAPI schema
with its parameters and body fields. So a new page, endpoint or field is covered without anyone
remembering to add it. Kinds of bad input:

- NUL characters in the query string and in each form field (PostgreSQL cannot store them);
- NUL characters in JSON strings, JSON nested 50,000 deep, integers beyond the columns;
- bodies over the upload limit (413, JSON for the API);
- out-of-range numbers in every form field: never a 500 (a long number can be valid text, so
  for forms the claim is only "no server error").
"""

import inspect
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from telehealth.api import api
from telehealth.audit.models import AuditEvent
from tests.conftest import World, sign_in
from tests.core.test_access_matrix import ROUTES, Access, object_id, url_for

NUL = "a\x00b"
HUGE = "99999999999999999999"  # beyond bigint
DEEP = "[" * 50_000 + "]" * 50_000
# Tables a refused request may still touch: the session (sign-in, idle timer) and, once a view
# has run, the audit of who opened which record (a read, not the refused input).
NOT_INPUT = {"django_session"}
AUDIT = {AuditEvent._meta.db_table}


def row_counts(skip: set[str]) -> dict[str, int]:
    tables = sorted(
        {m._meta.db_table for m in apps.get_models() if m._meta.managed} - skip - NOT_INPUT
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def message_of(response) -> str:
    if response.get("Content-Type", "").startswith("application/json"):
        detail = response.json().get("detail")
        return str(detail or "")
    text = re.sub(r"<[^>]+>", " ", response.content.decode(errors="replace"))
    return " ".join(text.split())


def assert_refused(response, what: object) -> None:
    assert 400 <= response.status_code < 500, (what, response.status_code)
    assert message_of(response), (what, "no message")


# Routes from the resolver -------------------------------------------------------------------


def html_routes(resolver: URLResolver | None = None, namespace: str = "") -> Iterator[str]:
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            if inner in ("admin", "api"):  # the admin has its own tests; the API is below
                continue
            yield from html_routes(entry, f"{namespace}{inner}:" if inner else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{namespace}{entry.name}"


HTML_ROUTES = sorted(html_routes())


def callbacks(resolver: URLResolver | None = None, namespace: str = "") -> dict[str, Callable]:
    found: dict[str, Callable] = {}
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            found |= callbacks(entry, f"{namespace}{inner}:" if inner else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            found[f"{namespace}{entry.name}"] = entry.callback
    return found


def view_source(name: str) -> str:
    return inspect.getsource(inspect.unwrap(callbacks()[name]))


def role_for(access: Access) -> str:
    return sorted(access.roles)[0]


def open_route(client: Client, world: World, name: str) -> tuple[Access, str]:
    """Sign in as a role allowed on the route and give the URL of that role's own object."""
    access = ROUTES[name]
    sign_in(client, world.user_for(role_for(access)))
    return access, url_for(name, access, object_id(world, access, outsider=False))


FIELD_NAME = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"')
POSTED_NAME = re.compile(r"""POST(?:\.get|\.getlist)?[\[(]\s*["']([\w-]+)["']""")


def form_fields(client: Client, name: str, access: Access, url: str) -> list[str]:
    """The fields the route's page offers, and those its view reads from the POST directly."""
    names = set(POSTED_NAME.findall(view_source(name)))
    if access.method == "get":
        page = client.get(url, HTTP_ACCEPT="text/html")
        if page.status_code == 200 and "html" in page.get("Content-Type", ""):
            names |= set(FIELD_NAME.findall(page.content.decode()))
    names.discard("csrfmiddlewaretoken")
    return sorted(names) or ["q"]


@pytest.mark.parametrize("name", HTML_ROUTES)
def test_nul_in_the_query_string_is_refused(client, world, name):
    access, url = open_route(client, world, name)
    before = row_counts(set())
    response = getattr(client, access.method)(f"{url}?q={NUL}&next=%00", HTTP_ACCEPT="text/html")
    assert_refused(response, name)
    assert "NUL" in message_of(response)
    assert row_counts(set()) == before


@pytest.mark.parametrize("name", HTML_ROUTES)
def test_nul_in_the_path_is_refused(client, world, name):
    """A path argument reaches the database too (`calendar/<token>.ics` looks its token up)."""
    access, url = open_route(client, world, name)
    head, _, last = url.rstrip("/").rpartition("/")  # the NUL opens the last segment
    tainted = f"{head}/%00{last}{url[len(url.rstrip('/')) :]}"
    before = row_counts(set())
    response = getattr(client, access.method)(tainted, HTTP_ACCEPT="text/html")
    assert_refused(response, (name, tainted))
    assert "NUL" in message_of(response)
    assert row_counts(set()) == before


@pytest.mark.parametrize("name", HTML_ROUTES)
def test_nul_in_each_form_field_is_refused_and_nothing_is_written(client, world, name):
    access, url = open_route(client, world, name)
    fields = form_fields(client, name, access, url)
    before = row_counts(set())
    for field in fields:
        response = client.post(url, {f: "1" for f in fields} | {field: NUL})
        assert_refused(response, (name, field))
        assert "NUL" in message_of(response), (name, field)
    assert row_counts(set()) == before


@pytest.mark.parametrize("name", HTML_ROUTES)
def test_out_of_range_numbers_in_every_form_field_are_never_a_server_error(client, world, name):
    access, url = open_route(client, world, name)
    fields = form_fields(client, name, access, url)
    response = client.post(url, dict.fromkeys(fields, HUGE))
    assert response.status_code < 500, (name, fields)
    response = client.post(url, dict.fromkeys(fields, str(2**31)))
    assert response.status_code < 500, (name, fields)


@pytest.mark.parametrize("name", HTML_ROUTES)
def test_a_form_over_the_upload_limit_gets_413(client, world, settings, name):
    access, url = open_route(client, world, name)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    before = row_counts(set())
    response = client.post(url, {"q": "x" * 20_000})
    assert response.status_code == 413, name
    assert "too large" in message_of(response)
    assert row_counts(set()) == before


READS_JSON = re.compile(r"json_input\.(?:loads|request_json)\(")
JSON_ROUTES = sorted(n for n in HTML_ROUTES if READS_JSON.search(view_source(n)))


def test_every_view_reads_json_through_json_input():
    """A view calling json.loads itself would skip the depth, NUL and range limits."""
    assert {"visits:note-save", "visits:device-check"} <= set(JSON_ROUTES)
    for name in HTML_ROUTES:
        assert "json.loads(" not in view_source(name).replace("json_input.loads(", ""), name
    for operation in API.values():
        assert "json.loads(" not in inspect.getsource(operation.view_func)


def json_cases() -> dict[str, bytes]:
    return {
        "deep": DEEP.encode(),
        "nul-value": b'{"sdp": "v=0\\u0000", "subjective": "a\\u0000b", "x": "\\u0000"}',
        "nul-key": b'{"a\\u0000b": 1}',
        "huge-int": b'{"x": ' + HUGE.encode() + b"}",
        "nan": b'{"x": NaN}',
        "not-json": b"{",
    }


@pytest.mark.parametrize("name", JSON_ROUTES)
@pytest.mark.parametrize("case", sorted(json_cases()))
def test_json_views_refuse_bad_json_with_a_message(client, world, name, case):
    _, url = open_route(client, world, name)
    before = row_counts(AUDIT)
    response = client.post(url, data=json_cases()[case], content_type="application/json")
    assert response.status_code == 400, (name, case, response.status_code)
    assert message_of(response)
    assert row_counts(AUDIT) == before


@pytest.mark.parametrize("name", JSON_ROUTES)
def test_json_views_answer_a_ten_megabyte_body_with_a_json_413(client, world, name):
    _, url = open_route(client, world, name)
    before = row_counts(AUDIT)
    body = json.dumps({"padding": "x" * (10 * 1024 * 1024)})
    response = client.post(url, data=body, content_type="application/json")
    assert response.status_code == 413, (name, response.status_code)
    assert "too large" in response.json()["detail"]
    assert row_counts(AUDIT) == before


# Operations from the OpenAPI schema ---------------------------------------------------------

SCHEMA = api.get_openapi_schema()
SCHEMA_OPERATIONS = {
    operation["operationId"]: (path, method, operation)
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
}


def api_operations() -> dict[str, Any]:
    """`api:<url name>` → the ninja operation; every one of them is in the schema."""
    found = {}
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                name = getattr(operation, "url_name", "") or operation.view_func.__name__
                found[f"api:{name}"] = operation
    return found


API = api_operations()


def schema_of(name: str) -> tuple[str, str, dict]:
    return SCHEMA_OPERATIONS[api.get_openapi_operation_id(API[name])]


def resolve_ref(schema: dict) -> dict:
    if "$ref" in schema:
        return SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def body_schema(name: str) -> dict:
    _, _, operation = schema_of(name)
    content = operation.get("requestBody", {}).get("content", {})
    return resolve_ref(content.get("application/json", {}).get("schema", {}))


def kind_of(schema: dict) -> str:
    types = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
    if "integer" in types:
        return "integer"
    return "string" if "string" in types else str(types[0])


def fields_of_kind(name: str, kind: str) -> list[tuple[str, str]]:
    """(where, field) for the query parameters and body fields of that JSON type."""
    _, _, operation = schema_of(name)
    found = [
        ("query", p["name"])
        for p in operation.get("parameters", [])
        if p["in"] == "query" and kind_of(p["schema"]) == kind
    ]
    properties = body_schema(name).get("properties", {})
    found += [("body", f) for f, s in properties.items() if kind_of(s) == kind]
    return found


def reads_json(name: str) -> bool:
    source = inspect.getsource(inspect.unwrap(API[name].view_func))
    return bool(body_schema(name)) or bool(READS_JSON.search(source))


def valid_body(world: World, name: str) -> dict:
    access = ROUTES[name]
    body = access.json(world) if access.json else {}
    for field, schema in body_schema(name).get("properties", {}).items():
        body.setdefault(field, {"integer": 1, "boolean": False}.get(kind_of(schema), "x"))
    return body


def open_operation(client: Client, world: World, name: str) -> tuple[str, dict]:
    """The URL of the operation on the caller's own object, and the headers its auth needs."""
    if API[name].auth_callbacks and not any(
        type(a).__name__ == "SessionAuth" for a in API[name].auth_callbacks
    ):
        from rpm import services as rpm

        rpm.enroll(
            patient=world.patient,
            program="hypertension",
            clinicians=[world.clinician],
            by=world.clinician,
        )
        _, token = rpm.device_create(patient=world.patient, kind="bp_cuff", by=world.clinician)
        access = ROUTES[name]
        return url_for(name, access, {}), {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    access, url = open_route(client, world, name)
    return url, {}


def send(
    client: Client,
    name: str,
    url: str,
    headers: dict,
    *,
    query: dict | None = None,
    body: bytes | None = None,
):
    _, method, _ = schema_of(name)
    target = url + ("?" + urlencode(query) if query else "")
    if method == "get":
        return client.get(target, **headers)
    return client.generic(
        method.upper(), target, data=body or b"{}", content_type="application/json", **headers
    )


API_NAMES = sorted(API)
JSON_OPERATIONS = sorted(n for n in API_NAMES if reads_json(n))


def test_every_operation_is_in_the_schema_and_the_access_matrix():
    assert set(API) <= ROUTES.keys()
    for name in API:
        assert schema_of(name)


@pytest.mark.parametrize("name", API_NAMES)
def test_api_nul_in_each_query_parameter_and_text_field_is_refused(client, world, name):
    url, headers = open_operation(client, world, name)
    before = row_counts(AUDIT)
    cases = fields_of_kind(name, "string") + [("query", "unknown")]
    for where, field in cases:
        if where == "query":
            response = send(client, name, url, headers, query={field: NUL})
        else:
            body = valid_body(world, name) | {field: NUL}
            response = send(client, name, url, headers, body=json.dumps(body).encode())
        assert_refused(response, (name, field))
        assert "NUL" in message_of(response), (name, field, message_of(response))
    assert row_counts(AUDIT) == before


@pytest.mark.parametrize("name", API_NAMES)
def test_api_integers_beyond_their_columns_are_refused(client, world, name):
    url, headers = open_operation(client, world, name)
    before = row_counts(AUDIT)
    path, _, _ = schema_of(name)
    cases = fields_of_kind(name, "integer")
    for value in (2**31, 2**63, int(HUGE)):
        for where, field in cases:
            if where == "query" and value == 2**31:
                continue  # a limit or offset the API clamps; the columns behind ids are bigint
            if where == "query":
                response = send(client, name, url, headers, query={field: value})
            else:
                body = valid_body(world, name) | {field: value}
                response = send(client, name, url, headers, body=json.dumps(body).encode())
            assert_refused(response, (name, field, value))
        if "{" in path:  # the object's id in the path
            huge_url = re.sub(r"/\d+(/|$)", rf"/{value}\1", url, count=1)
            raw = json.dumps(valid_body(world, name)).encode()
            assert_refused(send(client, name, huge_url, headers, body=raw), (name, value))
    assert row_counts(AUDIT) == before


@pytest.mark.parametrize("name", JSON_OPERATIONS)
@pytest.mark.parametrize("case", sorted(json_cases()))
def test_api_bad_json_is_refused_with_a_json_message(client, world, name, case):
    url, headers = open_operation(client, world, name)
    before = row_counts(AUDIT)
    response = send(client, name, url, headers, body=json_cases()[case])
    assert response.status_code == 400, (name, case, response.status_code)
    assert response.json()["detail"]
    assert row_counts(AUDIT) == before


@pytest.mark.parametrize("name", JSON_OPERATIONS)
def test_api_ten_megabyte_body_gets_a_json_413(client, world, name):
    url, headers = open_operation(client, world, name)
    before = row_counts(AUDIT)
    body = json.dumps({"padding": "x" * (10 * 1024 * 1024)}).encode()
    response = send(client, name, url, headers, body=body)
    assert response.status_code == 413, (name, response.status_code)
    assert "too large" in response.json()["detail"]
    assert row_counts(AUDIT) == before


@pytest.mark.parametrize("name", API_NAMES)
def test_every_operation_documents_its_error_responses(name):
    path, method, operation = schema_of(name)
    documented = {int(status) for status in operation["responses"]}
    expected = {400}
    if operation.get("security"):
        expected |= {401, 403}
    if operation.get("parameters") or "requestBody" in operation:
        expected |= {404, 422}
    if "requestBody" in operation:
        expected.add(413)
    if method != "get":
        expected.add(429)
    assert expected <= documented, (name, expected - documented)
    for status in expected:
        content = operation["responses"].get(status) or operation["responses"][str(status)]
        assert content["description"]
        assert "application/json" in content.get("content", {}), (name, status)


def test_the_served_schema_carries_the_error_responses(client, db):
    served = client.get("/api/openapi.json").json()
    for methods in served["paths"].values():
        for operation in methods.values():
            assert "400" in operation["responses"]
    assert "Error" in served["components"]["schemas"]


# WebSocket frames ----------------------------------------------------------------------------


def consumer_classes() -> list[type]:
    from telehealth.routing import websocket_urlpatterns

    # as_asgi() sets consumer_class on the function it returns
    return [cast(Any, pattern.callback).consumer_class for pattern in websocket_urlpatterns]


@pytest.mark.parametrize("consumer", consumer_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "frame", [DEEP, '{"type": "a\\u0000b"}', '{"type": "x", "n": ' + HUGE + "}"]
)
async def test_every_consumer_decodes_bad_frames_to_an_error_not_a_crash(consumer, frame):
    # `receive` answers a ValueError with an error frame; anything else would end the socket.
    with pytest.raises(ValueError):
        await consumer.decode_json(frame)


@pytest.mark.django_db(transaction=True)
async def test_a_socket_answers_a_deep_frame_with_an_error_frame_and_stays_open(world):
    from asgiref.sync import sync_to_async

    from tests.core.test_realtime import communicator, session_cookie

    ws = communicator(await sync_to_async(session_cookie)(world.clinician))
    connected, _ = await ws.connect()
    assert connected
    for frame in (DEEP, '{"type": "ping", "note": "a\\u0000b"}'):
        await ws.send_to(text_data=frame)
        answer = await ws.receive_json_from(timeout=5)
        assert answer["type"] == "error" and answer["message"]
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.disconnect()
