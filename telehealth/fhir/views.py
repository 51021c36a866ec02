"""`/fhir/R4/`: metadata, read and search over the registered mappers. Session sign-in for now;
every read goes through the owning app's selectors and PHI reads are audited."""

from functools import wraps
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.http import require_http_methods
from pydantic import ValidationError

from telehealth.accounts.access import lacks_practice
from telehealth.audit.phi import note_phi_access
from telehealth.fhir import search as fhir_search
from telehealth.fhir.capability import capability_statement
from telehealth.fhir.registry import Mapper, mapper_for, validated
from telehealth.fhir.responses import FhirError, fhir_response, outcome_response


def fhir_view(*, public: bool = False, methods: tuple[str, ...] = ("GET",)):
    """Answer errors as OperationOutcome, keep every answer out of caches, and (unless public)
    require a signed-in user, staff with a practice."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if not public and not request.user.is_authenticated:
                    raise FhirError(401, "Sign in to use the FHIR API.")
                if not public and lacks_practice(request.user):  # type: ignore[arg-type]
                    raise FhirError(403, "Your account is not linked to a practice.")
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
            add_never_cache_headers(response)
            patch_cache_control(response, no_store=True, private=True)
            return response

        return require_http_methods(list(methods))(wrapper)

    return decorate


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


@fhir_view()
def read(request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
    mapper = _mapper(resource_type)
    if request.GET:
        names = ", ".join(sorted(request.GET))
        raise FhirError(400, f"Unknown parameter for a read: {names}")
    row = mapper.lookup(request.user, resource_id)
    resource = validated(mapper, mapper.to_fhir(row))
    _note(request, mapper, [row])
    return fhir_response(resource)


@fhir_view()
def search(request: HttpRequest, resource_type: str) -> HttpResponse:
    mapper = _mapper(resource_type)
    items = [(name, value) for name, values in request.GET.lists() for value in values]
    parsed = fhir_search.parse(mapper, items)
    rows = mapper.search(request.user, parsed.params).filter(
        fhir_search.core_filter(mapper, parsed)
    )
    base = request.build_absolute_uri(request.path)
    total = rows.count()
    self_query = list(parsed.query)
    if not parsed.summary_count:
        self_query.append(("_count", str(parsed.count)))
    if parsed.cursor is not None:
        self_query.append((fhir_search.CURSOR, str(parsed.cursor)))
    links = [{"relation": "self", "url": f"{base}?{urlencode(self_query)}"}]
    bundle: dict = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if not parsed.summary_count:
        page_rows = rows.order_by("pk")
        if parsed.cursor is not None:
            page_rows = page_rows.filter(pk__gt=parsed.cursor)
        page = list(page_rows[: parsed.count + 1])
        more, page = len(page) > parsed.count, page[: parsed.count]
        if more:
            after = [*parsed.query, ("_count", str(parsed.count))]
            after.append((fhir_search.CURSOR, str(page[-1].pk)))
            links.append({"relation": "next", "url": f"{base}?{urlencode(after)}"})
        bundle["entry"] = [
            {
                "fullUrl": f"{base}/{row.pk}",
                "resource": validated(mapper, mapper.to_fhir(row)),
                "search": {"mode": "match"},
            }
            for row in page
        ] or None
        _note(request, mapper, page)
    bundle["link"] = links
    return fhir_response(_bundle(bundle))


def _bundle(bundle: dict) -> dict:
    from fhir.resources.R4B.bundle import Bundle

    if bundle.get("entry") is None:
        bundle.pop("entry", None)
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
