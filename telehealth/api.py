"""The JSON API (`/api/v1/`): session-authenticated, CSRF-checked, scoped by selectors."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from ninja.security import SessionAuth

from messaging.api import router as messaging_router
from rpm.api import router as rpm_router
from scheduling.api import router as scheduling_router
from telehealth.accounts import selectors
from telehealth.accounts.access import lacks_practice
from telehealth.accounts.models import Role
from telehealth.api_edges import TelehealthAPI
from telehealth.audit.phi import note_phi_access


class NoPractice(Exception):
    """A staff account without a practice: signed in, but refused everywhere."""


class PracticeSessionAuth(SessionAuth):
    """The session's user, as for pages; staff must belong to a practice (the same rule as
    `role_required`), so no operation needs to check `practice_id` itself."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and lacks_practice(user):
            raise NoPractice
        return user


api = TelehealthAPI(
    title="Telehealth API",
    version="1",
    urls_namespace="api",
    auth=PracticeSessionAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return api.create_response(request, {"detail": "You may not do that."}, status=403)


@api.exception_handler(NoPractice)
def no_practice(request: HttpRequest, exc: NoPractice) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": "Your account is not linked to a practice. Ask your practice administrator."},
        status=403,
    )


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    role: str
    practice_id: int | None
    mfa_verified: bool


class PatientOut(Schema):
    id: int
    legal_name: str
    preferred_name: str
    date_of_birth: str
    sex: str
    state: str
    preferred_language: str
    preferred_channel: str
    phone: str
    email: str


core = Router(tags=["core"])


@core.get("/me", response=MeOut)
def me(request):
    user = request.user
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "practice_id": user.practice_id,
        "mfa_verified": user.is_verified(),
    }


@core.get("/patients/{patient_id}", response=PatientOut)
def patient_detail(request, patient_id: int):
    if request.user.role not in (
        Role.PATIENT,
        Role.CLINICIAN,
        Role.FRONT_DESK,
        Role.PRACTICE_ADMIN,
    ):
        raise PermissionDenied
    try:
        patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    except selectors.BreakGlassRequired:
        # The API offers no emergency access; it goes through the chart page with a reason.
        return api.create_response(request, {"detail": "Not found."}, status=404)
    note_phi_access(request, patient)
    return {
        "id": patient.pk,
        "legal_name": patient.legal_name,
        "preferred_name": patient.preferred_name,
        "date_of_birth": patient.date_of_birth.isoformat(),
        "sex": patient.sex,
        "state": patient.state,
        "preferred_language": patient.preferred_language,
        "preferred_channel": patient.preferred_channel,
        "phone": patient.phone,
        "email": patient.email,
    }


api.add_router("/v1/", core)
api.add_router("/v1/scheduling/", scheduling_router)
api.add_router("/v1/messaging/", messaging_router)
api.add_router("/v1/rpm/", rpm_router)
