"""`/fhir/R4/`: metadata, read and search over the registered mappers, and the writes of
telehealth.fhir.writes. Session sign-in for now; every read goes through the owning app's
selectors and PHI reads are audited."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth import SESSION_KEY
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from pydantic import ValidationError

from telehealth.accounts.access import lacks_practice
from telehealth.audit.phi import note_phi_access
from telehealth.fhir import auth as fhir_auth
from telehealth.fhir import search as fhir_search
from telehealth.fhir import writes
from telehealth.fhir.capability import capability_statement
from telehealth.fhir.include import included_entries
from telehealth.fhir.registry import Mapper, mapper_for
from telehealth.fhir.responses import FhirError, fhir_response, outcome_response


def fhir_view(*, public: bool = False, methods: tuple[str, ...] = ("GET",)):
    """Answer errors as OperationOutcome, keep every answer out of caches, and (unless public)
    require a signed-in user, staff with a practice. Writes made with the session cookie need
    the CSRF token, checked here so the refusal is an OperationOutcome too."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if not public:  # a Bearer token stands for its client (telehealth.fhir.auth)
                    fhir_auth.authenticate(request, kwargs)
                if not public and not request.user.is_authenticated:
                    raise FhirError(401, "Sign in to use the FHIR API.")
                if not public and lacks_practice(request.user):  # type: ignore[arg-type]
                    raise FhirError(403, "Your account is not linked to a practice.")
                if _csrf_refused(request):
                    raise FhirError(403, "CSRF check failed: send the CSRF token with the cookie.")
                response = view(request, *args, **kwargs)
            except FhirError as error:
                response = outcome_response(error.status, error.diagnostics)
            except fhir_search.SearchError as error:
                response = outcome_response(400, str(error))
            except PermissionDenied as error:
                response = outcome_response(403, str(error) or "You may not read this resource.")
            except Http404:
                response = outcome_response(404, "No such resource, or not yours to see.")
            except ValidationError as error:
                # A row the FHIR model refuses: the server's fault, said without the PHI.
                response = outcome_response(
                    500, f"The resource could not be built ({error.error_count()} errors)."
                )
            fhir_auth.challenge(request, response)
            add_never_cache_headers(response)
            patch_cache_control(response, no_store=True, private=True)
            return response

        return csrf_exempt(require_http_methods(list(methods))(wrapper))

    return decorate


def _csrf_refused(request: HttpRequest) -> bool:
    """A write whose authority is the session cookie must carry the CSRF token, as a form
    would: a cross-site form could otherwise post as the signed-in user. A request that
    authenticates with a bearer token (SMART) carries no cookie authority and is exempt."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return False
    if fhir_auth.bearer_token(request) is not None or SESSION_KEY not in request.session:
        return False
    refusal = CsrfViewMiddleware(lambda _request: HttpResponse()).process_view(
        request, _csrf_checked, (), {}
    )
    return refusal is not None


def _csrf_checked(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only named to CsrfViewMiddleware, never called")


def _mapper(resource_type: str) -> Mapper:
    mapper = mapper_for(resource_type)
    if mapper is None:
        raise FhirError(404, f"Resource type {resource_type!r} is not supported here.")
    return mapper


def _note(request: HttpRequest, mapper: Mapper, rows) -> None:
    for row in rows:
        patient = mapper.phi_patient(row)
        if patient is not None:
            note_phi_access(request, row, patient=patient)


@fhir_view(public=True)
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability_statement(request.build_absolute_uri("/fhir/R4")))


@fhir_view(methods=("GET", "PUT"))
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    mapper = _mapper(resource_type)
    if request.method == "PUT":
        return writes.update(request, mapper, resource_id)
    if request.GET:
        names = ", ".join(sorted(request.GET))
        raise FhirError(400, f"Unknown parameter for a read: {names}")
    row = mapper.lookup(request.user, resource_id)
    resource = writes.resource_of(mapper, row)
    _note(request, mapper, [row])
    return writes.with_version_headers(fhir_response(resource), resource)


@fhir_view()
def vread(request: HttpRequest, resource_type: str, resource_id: str, version_id: str):
    """One version of a resource (the URL a create's Location names). Only the current
    version is kept: an older one is 404, said plainly."""
    mapper = _mapper(resource_type)
    if mapper.version is None:
        raise FhirError(404, f"{resource_type} is not versioned here: read it without _history.")
    if request.GET:
        raise FhirError(400, f"Unknown parameter for a read: {', '.join(sorted(request.GET))}")
    row = mapper.lookup(request.user, resource_id)
    if mapper.version(row) != version_id:
        raise FhirError(404, "Only the current version is kept; read the resource again.")
    resource = writes.resource_of(mapper, row)
    _note(request, mapper, [row])
    return writes.with_version_headers(fhir_response(resource), resource)


@fhir_view(methods=("POST",))
def transaction(request: HttpRequest) -> HttpResponse:
    return writes.bundle(request)


@fhir_view(methods=("GET", "POST"))
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    mapper = _mapper(resource_type)
    if request.method == "POST":
        return writes.create(request, mapper)
    items = [(name, value) for name, values in request.GET.lists() for value in values]
    parsed = fhir_search.parse(mapper, items)
    found = mapper.search(request.user, parsed.params)
    total, page, after = fhir_search.page(mapper, found, parsed)
    base = request.build_absolute_uri(request.path)
    self_query = list(parsed.query)
    if not parsed.summary_count:
        self_query.append(("_count", str(parsed.count)))
    if parsed.cursor is not None:
        self_query.append((fhir_search.CURSOR, parsed.cursor))
    links = [{"relation": "self", "url": f"{base}?{urlencode(self_query)}"}]
    # Plain dicts all the way: each mapper builds its resources JSON-ready and in the form
    # fhir.resources would write them, which the tests check for every registered type
    # (tests/fhir/test_served_resources.py); building the models per resource here cost
    # most of a page.
    bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if not parsed.summary_count:
        if after is not None:
            next_query = [*parsed.query, ("_count", str(parsed.count)), (fhir_search.CURSOR, after)]
            links.append({"relation": "next", "url": f"{base}?{urlencode(next_query)}"})
        resources = [mapper.to_fhir(row) for row in page]
        entries = [
            {
                "fullUrl": f"{base}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
        _note(request, mapper, page)
        entries += included_entries(request, mapper, parsed.includes, page)
        if entries:
            bundle["entry"] = entries
    return fhir_response(bundle)
