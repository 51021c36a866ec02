"""The EHR launch of the visit room, from the EHR's `launch` call to the room.

State lives in the clinician's session only: the launch waiting for sign-in (iss and the
EHR's launch code) and, per `state`, the PKCE verifier and the EHR's endpoints until the
callback. Each entry expires after EHR_LAUNCH_SECONDS and is used once. Tokens live for one
request: the access token reads the launch context, the id_token is checked, neither is kept."""

import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from telehealth.accounts import selectors
from telehealth.accounts.fhir import NPI_SYSTEM, patient_system
from telehealth.accounts.models import Patient, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.ehr import landing, smart
from telehealth.ehr.models import EhrServer
from telehealth.fhir.registry import row_id

RESUME_KEY = "ehr_launch_resume"  # session: {"iss", "launch", "at"} while the user signs in
PENDING_KEY = "ehr_launches"  # session: {state: {...}} between the authorize redirect and back
MAX_PENDING = 5


class LaunchRefused(Exception):
    """The launch stops here; `message` says why to the clinician, `status` is the page's."""

    def __init__(self, message: str, *, status: int = 400, visits_link: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.visits_link = visits_link


@dataclass(frozen=True)
class Landing:
    url: str
    patient: Patient


def registered_iss(raw: str) -> str:
    """The normalised `iss` when some practice registered it and keeps it active, else "".
    Checked before anything is fetched: a launch URL must not make us fetch any address a
    query string names."""
    iss = smart.normalise_iss(raw)
    if iss and EhrServer.objects.filter(iss=iss, is_active=True).exists():
        return iss
    return ""


def _fresh(entry: dict) -> bool:
    return time.time() - entry.get("at", 0) < settings.EHR_LAUNCH_SECONDS


def resume_keep(session, *, iss: str, launch: str) -> None:
    session[RESUME_KEY] = {"iss": iss, "launch": launch, "at": time.time()}


def resume_take(session) -> tuple[str, str] | None:
    entry = session.pop(RESUME_KEY, None)
    if not isinstance(entry, dict) or not _fresh(entry):
        return None
    return entry["iss"], entry["launch"]


def server_for(*, user: User, iss: str) -> EhrServer:
    practice_id = user.practice_id
    server = (
        EhrServer.objects.filter(practice_id=practice_id, iss=iss, is_active=True).first()
        if practice_id is not None
        else None
    )
    if server is None:
        raise LaunchRefused(
            _("This EHR (%(iss)s) is not registered for your practice.") % {"iss": iss},
            visits_link=True,
        )
    return server


def launch_begin(*, session, user: User, server: EhrServer, launch: str, redirect_uri: str) -> str:
    """The EHR's authorize URL for this launch; the pending state is kept in the session."""
    try:
        config = smart.smart_configuration(server.iss)
    except smart.SmartError as error:
        raise LaunchRefused(error.message, status=error.status) from None
    verifier, challenge = smart.pkce_pair()
    state = secrets.token_urlsafe(32)
    pending = {k: v for k, v in session.get(PENDING_KEY, {}).items() if _fresh(v)}
    # A clinician who clicks launch again and again keeps only the latest few.
    for old in sorted(pending, key=lambda k: pending[k]["at"])[
        : max(0, len(pending) - MAX_PENDING + 1)
    ]:
        del pending[old]
    pending[state] = {
        "server": server.pk,
        "user": user.pk,
        "iss": server.iss,
        "verifier": verifier,
        "config": config.as_session(),
        "at": time.time(),
    }
    session[PENDING_KEY] = pending
    return smart.authorize_url(
        config,
        iss=server.iss,
        client_id=server.client_id,
        redirect_uri=redirect_uri,
        launch=launch,
        scope=server.scopes,
        state=state,
        challenge=challenge,
    )


def pending_discard(session, *, state: str) -> None:
    """Forget the launch of this state (the EHR answered it with an error)."""
    pending = dict(session.get(PENDING_KEY, {}))
    if pending.pop(state, None) is not None:
        session[PENDING_KEY] = pending


def pending_take(session, *, state: str, user: User) -> tuple[EhrServer, dict]:
    """The launch this state began, removed from the session so that it is used once."""
    pending = dict(session.get(PENDING_KEY, {}))
    entry = pending.pop(state, None) if state else None
    session[PENDING_KEY] = {k: v for k, v in pending.items() if _fresh(v)}
    if not isinstance(entry, dict) or not _fresh(entry) or entry.get("user") != user.pk:
        raise LaunchRefused(
            _(
                "This launch is unknown, already used or expired. Launch the visit again "
                "from the EHR."
            )
        )
    practice_id = user.practice_id
    server = (
        EhrServer.objects.filter(
            pk=entry["server"], practice_id=practice_id, is_active=True
        ).first()
        if practice_id is not None
        else None
    )
    if server is None:
        raise LaunchRefused(_("This EHR is no longer registered for your practice."))
    return server, entry


def launch_complete(
    *, session, user: User, state: str, code: str, redirect_uri: str, request=None
) -> Landing:
    """Exchange the code, check who the EHR says the user is, find our patient and their
    visit with this clinician, and audit the launch."""
    server, entry = pending_take(session, state=state, user=user)
    try:
        landed = _land(
            server=server,
            entry=entry,
            user=user,
            code=code,
            redirect_uri=redirect_uri,
            request=request,
        )
    except smart.SmartError as error:
        _audit_refusal(server=server, user=user, request=request, reason=error.message)
        raise LaunchRefused(error.message, status=error.status, visits_link=True) from None
    except LaunchRefused as refused:
        _audit_refusal(server=server, user=user, request=request, reason=refused.message)
        raise
    return landed


def _audit_refusal(*, server: EhrServer, user: User, request, reason: str) -> None:
    audit.record(
        action=Action.VIEW,
        actor=user,
        obj=server,
        request=request,
        detail=f"EHR launch refused from {server.iss}: {reason}"[:500],
    )


def _land(
    *, server: EhrServer, entry: dict, user: User, code: str, redirect_uri: str, request
) -> Landing:
    config = smart.SmartConfiguration(**entry["config"])
    tokens = smart.exchange_code(
        token_endpoint=config.token_endpoint,
        code=code,
        verifier=entry["verifier"],
        redirect_uri=redirect_uri,
        client_id=server.client_id,
        client_secret=server.client_secret if server.confidential else "",
    )
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise LaunchRefused(_("The EHR sent no identity token: add openid to the scopes."))
    claims = smart.verify_id_token(
        id_token, jwks_uri=config.jwks_uri, issuer=config.issuer, client_id=server.client_id
    )
    access_token = tokens["access_token"]
    _check_practitioner(
        server=server, user=user, fhir_user=claims.get("fhirUser"), token=access_token
    )
    patient = _our_patient(
        server=server, user=user, context=tokens.get("patient"), token=access_token
    )
    appointment_id, visit_id = _encounter_refs(
        server=server, context=tokens.get("encounter"), token=access_token
    )
    with transaction.atomic():
        try:
            url = landing.find_room(
                clinician=user, patient=patient, appointment_id=appointment_id, visit_id=visit_id
            )
        except landing.LandingRefused as refused:
            raise LaunchRefused(refused.message, status=404, visits_link=True) from None
        if url is not None:
            # The room's visit (made on first use) and the record of the launch, together.
            audit.record(
                action=Action.VIEW,
                actor=user,
                obj=patient,
                request=request,
                detail=f"EHR launch from {server.iss} (registration #{server.pk}): {url}",
            )
    if url is None:
        raise LaunchRefused(
            _(
                "%(name)s has no video or phone visit with you today. Book one, or open the "
                "visit from your list."
            )
            % {"name": patient.legal_name},
            status=404,
            visits_link=True,
        )
    return Landing(url=url, patient=patient)


def _check_practitioner(*, server: EhrServer, user: User, fhir_user: object, token: str) -> None:
    """When the EHR's user is a Practitioner with an NPI, it must be the signed-in clinician's:
    the EHR and our sign-in must agree on who is launching."""
    if not isinstance(fhir_user, str) or "Practitioner/" not in fhir_user:
        return
    practitioner = smart.fhir_read(server.iss, fhir_user, token=token)
    npis = {
        str(identifier.get("value", ""))
        for identifier in practitioner.get("identifier") or []
        if isinstance(identifier, dict) and identifier.get("system") == NPI_SYSTEM
    }
    if not npis:
        return
    provider = getattr(user, "provider", None)
    if provider is None or provider.npi not in npis:
        raise LaunchRefused(
            _(
                "The EHR's user (NPI %(npi)s) is not the clinician signed in here. Sign out "
                "and sign in as yourself, then launch again."
            )
            % {"npi": ", ".join(sorted(npis))},
            status=403,
        )


def _our_patient(*, server: EhrServer, user: User, context: object, token: str) -> Patient:
    if not isinstance(context, str) or not context:
        raise LaunchRefused(
            _("The EHR launched without a patient. Launch from a patient's chart."),
            visits_link=True,
        )
    resource = smart.fhir_read(server.iss, f"Patient/{context}", token=token)
    system = server.patient_identifier_system or patient_system(server.practice)
    values = [
        str(identifier.get("value", ""))
        for identifier in resource.get("identifier") or []
        if isinstance(identifier, dict) and identifier.get("system") == system
    ]
    ids = [pk for pk in map(row_id, values) if pk is not None]
    # Only patients of the registration's practice that this clinician may see.
    patient = (
        selectors.patients_visible_to(user)
        .filter(practice_id=server.practice_id, pk__in=ids)
        .first()
        if ids
        else None
    )
    if patient is None:
        raise LaunchRefused(
            _(
                "The EHR's patient has no record number of this practice (identifier system "
                "%(system)s) that matches one of your patients."
            )
            % {"system": system},
            status=404,
            visits_link=True,
        )
    return patient


def _encounter_refs(
    *, server: EhrServer, context: object, token: str
) -> tuple[int | None, int | None]:
    """Our appointment or visit id from the launch's Encounter, when the EHR carries one.
    The encounter is a hint: an EHR that cannot serve it still lands on today's visit."""
    if not isinstance(context, str) or not context:
        return None, None
    try:
        encounter = smart.fhir_read(server.iss, f"Encounter/{context}", token=token)
    except smart.SmartError:
        return None, None
    appointment_id = visit_id = None
    practice = server.practice
    for identifier in encounter.get("identifier") or []:
        if not isinstance(identifier, dict):
            continue
        named = row_id(str(identifier.get("value", "")))
        if named is None:
            continue
        if identifier.get("system") == landing.appointment_system(practice):
            appointment_id = named
        elif identifier.get("system") == landing.visit_system(practice):
            visit_id = named
    return appointment_id, visit_id
