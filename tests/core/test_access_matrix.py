"""Every route, every role: anonymous users, the wrong role and outsiders are refused.

The matrix is built from the URL resolver, so a new route without an entry here fails
`test_every_route_has_an_access_entry` until someone decides who may reach it."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from telehealth.accounts import services
from telehealth.accounts.models import Role
from telehealth.fhir.registry import mapper_for, registered
from tests.conftest import make_staff, sign_in
from tests.fhir.rows import MAKERS, search_params, side_a, side_b


@pytest.fixture
def world(module_world):
    """One world for the module's ~1,000 cases, each in its own savepoint (tests/conftest.py)."""
    return module_world


ALL_ROLES = frozenset(Role.values)
STAFF = frozenset({Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN})
CLINICAL = frozenset({Role.CLINICIAN, Role.PRACTICE_ADMIN})


@dataclass(frozen=True)
class Access:
    roles: frozenset = ALL_ROLES  # roles that may use the route
    public: bool = False  # anonymous users may use it too
    method: str = "get"
    obj: str | None = None  # "patient" or "grant": the route takes an object id
    ok: tuple = (200,)  # status for an allowed user on their own object
    kwargs: dict = field(default_factory=dict)
    json: Callable[..., dict] | None = None  # a function of the world giving a JSON body
    practice: bool = True  # staff need a practice to use it (False: pages about the account)


ROUTES: dict[str, Access] = {
    "home": Access(practice=False),
    "healthz": Access(public=True),
    "set_language": Access(public=True, method="post", ok=(302,)),
    "accounts:login": Access(public=True, ok=(200, 302)),
    "accounts:logout": Access(public=True, method="post", ok=(302,)),
    "accounts:password-reset": Access(public=True),
    "accounts:password-reset-done": Access(public=True),
    "accounts:password-reset-confirm": Access(public=True, kwargs={"uidb64": "x", "token": "y"}),
    "accounts:password-reset-complete": Access(public=True),
    "accounts:mfa-setup": Access(practice=False),
    "accounts:mfa-verify": Access(practice=False, ok=(200, 302)),
    "accounts:security": Access(practice=False),
    "accounts:keepalive": Access(practice=False, method="post"),
    "accounts:patient-list": Access(roles=STAFF),
    "accounts:patient-chart": Access(roles=STAFF, obj="patient"),
    "accounts:break-glass": Access(roles=frozenset({Role.CLINICIAN}), obj="patient", ok=(302,)),
    "accounts:patient-audit": Access(roles=frozenset({Role.PRACTICE_ADMIN}), obj="patient"),
    # Anyone who may open the chart; world.patient has an account, so the send is refused and
    # the chart answers with why (tests/accounts/test_account_invitation.py sends for real).
    "accounts:invitation-send": Access(roles=STAFF, method="post", obj="patient", ok=(302,)),
    # The signed token, then the date of birth, are the credential (tests/accounts).
    "accounts:invitation": Access(public=True, kwargs={"token": "x"}),
    "accounts:break-glass-reviews": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "accounts:break-glass-review": Access(roles=frozenset({Role.PRACTICE_ADMIN}), obj="grant"),
    "api:me": Access(),
    "api:patient_detail": Access(obj="patient"),
    "api:openapi-json": Access(public=True),
    "api:openapi-view": Access(public=True),
    "api:api-root": Access(public=True, ok=(302,)),
    "api:slots": Access(public=True),
    "api:appointment_list": Access(),
    "api:appointment_book": Access(
        roles=frozenset({Role.PATIENT, Role.FRONT_DESK, Role.PRACTICE_ADMIN}),
        method="post",
        json=lambda w: {
            "patient_id": w.patient.pk,
            "provider_id": w.clinician.provider.pk,
            "appointment_type_id": 0,
            "start": "2030-01-07T15:00:00Z",
        },
        ok=(404,),  # the type does not exist: the point here is who gets that far
    ),
    "api:appointment_reschedule": Access(
        roles=frozenset({Role.PATIENT, Role.FRONT_DESK, Role.PRACTICE_ADMIN}),
        method="post",
        obj="appointment",
        json=lambda w: {"start": "2030-01-07T15:00:00Z"},
        ok=(400,),
    ),
    "api:appointment_cancel": Access(
        roles=frozenset({Role.PATIENT, Role.FRONT_DESK, Role.PRACTICE_ADMIN}),
        method="post",
        obj="appointment",
        json=lambda w: {"reason": "test"},
    ),
    "scheduling:schedule": Access(roles=STAFF),
    "visits:today": Access(roles=STAFF),
    "visits:open": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="appointment", ok=(302,)
    ),
    "visits:provider-status": Access(roles=STAFF, method="post", obj="appointment", ok=(302,)),
    "visits:note-save": Access(
        roles=frozenset({Role.CLINICIAN}),
        obj="visit",
        json=lambda w: {"subjective": "Cough for three days"},
    ),
    "visits:note-sign": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="visit", ok=(302,)
    ),  # nothing written yet: back to the record with "write the note first"
    "visits:addendum-add": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="visit", ok=(302,)
    ),
    "visits:record": Access(roles=STAFF, obj="visit"),
    # A patient's portal login, or the grant of a join or summary link (tests/visits).
    "visits:summary": Access(public=True, kwargs={"visit_id": 1}),
    "visits:summary-link": Access(public=True, kwargs={"token": "x"}),
    # The join link's token, then the session's grant, are the patient's credential
    # (tests/visits covers anonymous, other patients and staff).
    "visits:join": Access(public=True, kwargs={"token": "x"}),
    "visits:walk-in": Access(roles=frozenset({Role.PATIENT}), method="post", ok=(302,)),
    "visits:walk-in-take": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="walk_in", ok=(302,)
    ),
    "visits:guest-join": Access(public=True, kwargs={"token": "x"}),
    "visits:invite": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="visit", ok=(400,)
    ),  # no name given
    # A clinician in the visit (tests/visits/test_visit_move.py: other clinicians get 404);
    # the world's visit has no patient in it yet, so it moves and goes to the group room.
    "visits:move-to-group": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="visit", ok=(302,)
    ),
    # The world's visit has not moved: back to its record with "end it from its room".
    "visits:end-moved": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="visit", ok=(302,)
    ),
    # Signed-in users or holders of a visit grant (403 otherwise; tests/visits).
    "visits:device-check": Access(public=True, method="post", ok=(403,)),
    "visits:waiting": Access(public=True, kwargs={"visit_id": 1}),
    # The patient's answer to "Where are you right now?": by the same grant or portal login
    # as the waiting room; anonymous, other patients and staff get 404 (tests/visits).
    "visits:location": Access(public=True, method="post", kwargs={"visit_id": 1}),
    "visits:room": Access(public=True, kwargs={"visit_id": 1}),
    # E-visits: the case's patient, and the clinician who took it (obj="evisit" is a case of
    # world.patient taken by world.clinician); tests/visits/test_evisits.py covers the queue's
    # untaken cases, other clinicians of the practice and other patients. Empty POSTs of the
    # clinician's forms are refused with 400 (nothing written).
    "visits:evisits": Access(roles=frozenset({Role.PATIENT})),
    "visits:evisit-start": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="evisit_condition", ok=(302,)
    ),
    "visits:evisit": Access(roles=frozenset({Role.PATIENT}), obj="evisit"),
    "visits:evisit-reply": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="evisit", ok=(400,)
    ),
    "visits:evisit-cancel": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="evisit", ok=(302,)
    ),
    "visits:evisit-photo": Access(
        roles=frozenset({Role.PATIENT, Role.CLINICIAN}), obj="evisit_photo"
    ),
    "visits:evisit-queue": Access(roles=frozenset({Role.CLINICIAN})),
    "visits:evisit-review": Access(roles=frozenset({Role.CLINICIAN}), obj="evisit"),
    "visits:evisit-assign": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="evisit", ok=(302,)
    ),
    "visits:evisit-ask": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="evisit", ok=(400,)
    ),
    "visits:evisit-time": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="evisit", ok=(400,)
    ),
    "visits:evisit-complete": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="evisit", ok=(400,)
    ),
    "visits:evisit-escalate": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="evisit", ok=(400,)
    ),
    # E-consults: only the two clinicians of a case (obj="econsult" is one world.clinician sent
    # about world.patient to world.other_clinician, with one photo); the patient does not
    # read it (tests/visits/test_econsults.py walks the specialist's side and the others).
    "visits:econsults": Access(roles=frozenset({Role.CLINICIAN})),
    "visits:econsult-profile": Access(roles=frozenset({Role.CLINICIAN})),
    "visits:econsult-new": Access(roles=frozenset({Role.CLINICIAN}), obj="patient"),
    "visits:econsult": Access(roles=frozenset({Role.CLINICIAN}), obj="econsult"),
    "visits:econsult-ask": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(400,)
    ),
    "visits:econsult-reply": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(400,)
    ),
    "visits:econsult-answer": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(400,)
    ),
    "visits:econsult-time": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(400,)
    ),
    # world.clinician sent the case: declining is the specialist's (400, nothing written),
    # withdrawing is theirs (back to the case).
    "visits:econsult-decline": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(400,)
    ),
    "visits:econsult-withdraw": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="econsult", ok=(302,)
    ),
    "visits:econsult-file": Access(roles=frozenset({Role.CLINICIAN}), obj="econsult_file"),
    # Group sessions (obj="group_session": open now, hosted by world.clinician, world.patient
    # invited; tests/visits/test_group_sessions.py covers co-hosts, uninvited patients and
    # other clinicians). With no media server configured, join answers 409 with why; host
    # controls on a session with no room yet answer 409.
    "visits:groups": Access(roles=STAFF),
    "visits:group-new": Access(roles=STAFF),
    "visits:groups-mine": Access(roles=frozenset({Role.PATIENT})),
    "visits:group": Access(roles=STAFF, obj="group_session"),
    "visits:group-edit": Access(roles=STAFF, obj="group_session"),
    "visits:group-cancel": Access(roles=STAFF, method="post", obj="group_session", ok=(302,)),
    "visits:group-name": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="group_session", ok=(302,)
    ),
    # obj="group_bookable": open for booking tomorrow, world.patient has no place in it yet;
    # obj="group_place": tomorrow, world.patient invited.
    "visits:group-book": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="group_bookable", ok=(302,)
    ),
    "visits:group-give-up": Access(
        roles=frozenset({Role.PATIENT}), method="post", obj="group_place", ok=(302,)
    ),
    "visits:group-room": Access(
        roles=frozenset({Role.PATIENT, Role.CLINICIAN}), obj="group_session"
    ),
    "visits:group-people": Access(roles=frozenset({Role.CLINICIAN}), obj="group_session"),
    "visits:group-join": Access(
        roles=frozenset({Role.PATIENT, Role.CLINICIAN}),
        method="post",
        obj="group_session",
        ok=(409,),
    ),
    "visits:group-leave": Access(
        roles=frozenset({Role.PATIENT, Role.CLINICIAN}), method="post", obj="group_session"
    ),
    "visits:group-remove": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="group_attendance", ok=(409,)
    ),
    "visits:group-mute": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="group_attendance", ok=(409,)
    ),
    "messaging:mine": Access(roles=frozenset({Role.PATIENT})),
    "messaging:new": Access(roles=frozenset({Role.PATIENT})),
    "messaging:thread": Access(roles=frozenset({Role.PATIENT}), obj="thread"),
    "messaging:inbox": Access(roles=STAFF),
    "messaging:staff-thread": Access(roles=STAFF, obj="thread"),
    "messaging:assign": Access(roles=STAFF, method="post", obj="thread", ok=(302,)),
    "messaging:status": Access(roles=STAFF, method="post", obj="thread", ok=(302,)),
    "messaging:staff-new": Access(roles=STAFF, obj="patient"),
    "messaging:bulk": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    "messaging:attachment": Access(obj="attachment"),
    "messaging:media-retry": Access(roles=STAFF, method="post", obj="media_fetch", ok=(302,)),
    "messaging:web-chat": Access(public=True, kwargs={"practice_slug": "alpha"}),
    "api:thread_list": Access(),
    "api:message_list": Access(obj="thread"),
    "api:message_create": Access(
        obj="thread", method="post", json=lambda w: {"body": "Hello"}, ok=(201,)
    ),
    # A patient's portal login or the session grant of their link (tests/intake covers
    # anonymous visitors, other patients and staff).
    "intake:mine": Access(public=True),
    "intake:link": Access(public=True, kwargs={"token": "x"}),
    "intake:fill": Access(public=True, kwargs={"form_id": 1}),
    "intake:insurance": Access(public=True),
    "intake:consent": Access(public=True, kwargs={"document_id": 1}),
    "intake:signature-pdf": Access(public=True, kwargs={"signature_id": 1}),
    "intake:card-image": Access(
        roles=STAFF, kwargs={"card_id": 999999, "side": "front"}, ok=(404,)
    ),
    "intake:summary": Access(roles=STAFF, obj="patient"),
    "intake:file": Access(public=True, kwargs={"file_id": 1}),  # patient, link grant or staff
    "intake:manage": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "intake:create-form": Access(roles=frozenset({Role.PRACTICE_ADMIN}), method="post", ok=(302,)),
    "intake:edit": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), kwargs={"form_id": 999999}, ok=(404,)
    ),
    "intake:preview": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), kwargs={"form_id": 999999}, ok=(404,)
    ),
    # FHIR change notifications (tests/fhir_subscriptions/test_pages.py: own practice only).
    "fhir_subscriptions:list": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "fhir_subscriptions:detail": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), kwargs={"subscription_id": 999999}, ok=(404,)
    ),
    "fhir_subscriptions:handshake": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}),
        method="post",
        kwargs={"subscription_id": 999999},
        ok=(404,),
    ),
    "fhir_subscriptions:status": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}),
        method="post",
        kwargs={"subscription_id": 999999},
        ok=(404,),
    ),
    # FHIR import (tests/fhir_import/test_page.py); apply without an upload redirects back.
    "fhir_import:upload": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "fhir_import:apply": Access(roles=frozenset({Role.PRACTICE_ADMIN}), method="post", ok=(302,)),
    "rpm:dashboard": Access(roles=CLINICAL),
    "rpm:mine": Access(roles=frozenset({Role.PATIENT})),
    "rpm:patient": Access(roles=CLINICAL, obj="patient"),
    "rpm:enroll": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="patient", ok=(302,)
    ),
    "rpm:device-add": Access(roles=CLINICAL, method="post", obj="patient", ok=(302,)),
    "rpm:time": Access(roles=CLINICAL, method="post", obj="patient", ok=(302,)),
    "rpm:device-revoke": Access(
        roles=CLINICAL, method="post", kwargs={"device_id": 999999}, ok=(404,)
    ),
    "rpm:acknowledge": Access(
        roles=CLINICAL, method="post", kwargs={"alert_id": 999999}, ok=(404,)
    ),
    "rpm:resolve": Access(roles=CLINICAL, method="post", kwargs={"alert_id": 999999}, ok=(404,)),
    # The device token is the credential (tests/rpm covers missing, wrong and revoked ones).
    "api:readings": Access(public=True, method="post", ok=(401,)),
    # Shared documents. obj="document" is education material (every staff role may see it);
    # tests/documents covers clinical kinds (clinicians only), withdrawal and the library.
    "documents:mine": Access(roles=frozenset({Role.PATIENT})),
    "documents:file": Access(obj="document"),
    "documents:download": Access(obj="document"),
    "documents:withdraw": Access(roles=STAFF, method="post", obj="document", ok=(302,)),
    "documents:share": Access(roles=STAFF, obj="patient"),
    "documents:library": Access(roles=STAFF),
    "documents:library-file": Access(roles=STAFF, obj="library_item"),
    "documents:library-share": Access(roles=STAFF, obj="library_item"),
    "documents:library-retire": Access(
        roles=CLINICAL, method="post", obj="library_item", ok=(302,)
    ),
    # Not retired: the library page answers with why (tests/documents puts items back).
    "documents:library-restore": Access(
        roles=CLINICAL, method="post", obj="library_item", ok=(302,)
    ),
    "notify:unrouted": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    # Webhooks: Twilio's signature is the credential (tests/notify covers forged ones).
    "notify:twilio-sms": Access(public=True, method="post", ok=(403,)),
    "notify:twilio-status": Access(public=True, method="post", ok=(403,)),
    "scheduling:appointment-action": Access(
        roles=STAFF, method="post", obj="appointment", ok=(302,)
    ),
    "scheduling:send-join-link": Access(roles=STAFF, method="post", obj="appointment", ok=(302,)),
    "scheduling:mine": Access(roles=frozenset({Role.PATIENT})),
    "scheduling:staff-book": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), obj="patient"
    ),
    "scheduling:staff-move": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), obj="appointment"
    ),
    "scheduling:calendar-feed": Access(roles=frozenset({Role.CLINICIAN})),
    # Public pages: the booking flow, and links whose signed token is the credential
    # (tests/scheduling covers tampered and expired tokens).
    "scheduling:book": Access(public=True, kwargs={"practice_slug": "alpha"}),
    "scheduling:book-provider": Access(
        public=True, kwargs={"practice_slug": "alpha", "provider_slug": "doc"}
    ),
    "scheduling:book-details": Access(public=True, kwargs={"practice_slug": "alpha"}),
    "scheduling:manage": Access(public=True, kwargs={"token": "x"}),
    "scheduling:manage-reschedule": Access(public=True, kwargs={"token": "x"}),
    "scheduling:manage-waitlist": Access(public=True, kwargs={"token": "x"}),
    "scheduling:manage-account-invite": Access(public=True, kwargs={"token": "x"}),
    "scheduling:offer": Access(public=True, kwargs={"token": "x"}),
    "scheduling:feed": Access(public=True, kwargs={"token": "x"}),
    # Billing: encounters (obj="encounter" is a signed encounter of the patient, rendered by
    # world.clinician).
    "billing:worklist": Access(roles=STAFF),
    "billing:encounter": Access(roles=STAFF, obj="encounter"),
    "billing:diagnosis-search": Access(roles=CLINICAL),
    # An empty POST on a signed encounter is refused with 400 (no reason given, nothing to
    # sign): the point here is who gets that far; tests/billing/test_review.py does the rest.
    "billing:encounter-diagnoses": Access(
        roles=CLINICAL, method="post", obj="encounter", ok=(400,)
    ),
    "billing:encounter-lines": Access(roles=CLINICAL, method="post", obj="encounter", ok=(400,)),
    "billing:encounter-basis": Access(roles=CLINICAL, method="post", obj="encounter", ok=(400,)),
    "billing:encounter-sign": Access(
        roles=frozenset({Role.CLINICIAN}), method="post", obj="encounter", ok=(400,)
    ),
    #
    # Billing: worklists.
    "billing:totals": Access(roles=STAFF),
    "billing:encounters-csv": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    "billing:monitoring-due": Access(roles=CLINICAL),
    #
    # Billing: claims (obj="claim_batch").
    "billing:claims": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    # Posting no encounters is refused with the reason (tests/billing/test_claims.py exports).
    "billing:claims-export": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), method="post", ok=(400,)
    ),
    # The matrix's batch holds no X12, so the validator refuses it (409) before any download.
    "billing:claims-download": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), obj="claim_batch", ok=(409,)
    ),
    #
    # Billing: remittances (obj="remittance").
    "billing:remittances": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    # No file sent: refused with the form's message (tests/billing/test_remittances.py).
    "billing:remittance-import": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), method="post", ok=(400,)
    ),
    "billing:remittance": Access(
        roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN}), obj="remittance"
    ),
    "billing:denials": Access(roles=frozenset({Role.FRONT_DESK, Role.PRACTICE_ADMIN})),
    #
    # Billing: superbills.
    # The PDF: the patient their own, world.clinician the ones they rendered, the front desk and
    # admins the practice's (tests/billing/test_superbill.py covers other clinicians, unsigned).
    "billing:superbill": Access(obj="encounter"),
    "billing:my-superbills": Access(roles=frozenset({Role.PATIENT})),
    # Aggregates of the admin's own practice (tests/analytics/test_dashboard.py: the figures,
    # another practice's admin, bad filters).
    "analytics:dashboard": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "analytics:table-csv": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}),
        kwargs={"section": "appointments", "table": "booked-via"},
    ),
    # Feedback (tests/feedback): the survey link's signed token is the credential; the portal
    # survey is its patient's; answers, review requests and settings are the practice admin's.
    "feedback:survey-link": Access(public=True, method="get", ok=(410,), kwargs={"token": "x"}),
    "feedback:survey": Access(roles=frozenset({Role.PATIENT}), obj="survey"),
    "feedback:responses": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    "feedback:review-request": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), method="post", obj="survey", ok=(302,)
    ),
    "feedback:settings": Access(roles=frozenset({Role.PRACTICE_ADMIN})),
    #
    # FHIR R4 API: the CapabilityStatement is public; reads and searches answer anonymous users
    # with a 401 OperationOutcome. obj="fhir_patient" reads world.patient as a FHIR Patient;
    # read, search and vread are also walked for every registered type (FHIR_TYPED_ROUTES at
    # the end of this file; tests/fhir covers the care team and each type's fields).
    "fhir:metadata": Access(public=True),
    "fhir:search": Access(kwargs={"resource_type": "Patient"}),
    "fhir:read": Access(obj="fhir_patient", kwargs={"resource_type": "Patient"}),
    "fhir:vread": Access(obj="fhir_patient_version", kwargs={"resource_type": "Patient"}),
    # Transaction and batch Bundles (tests/fhir/test_writes.py): an empty transaction is
    # answered for every role; each entry is checked by its own type's rules.
    "fhir:transaction": Access(
        method="post",
        json=lambda world: {"resourceType": "Bundle", "type": "transaction"},
    ),
    #
    # SMART backend services: the signed client assertion is the credential at the token
    # endpoint (an empty POST is an OAuth2 error, unsupported_grant_type); the configuration
    # is public (tests/smart covers every assertion failure and Bearer tokens on the FHIR API).
    "smart:token": Access(public=True, method="post", ok=(400,)),
    "smart:configuration": Access(public=True),
    "smart:fhir-configuration": Access(public=True),
    # SMART EHR launch of the visit room. The EHR opens `launch` for anyone (a visitor is sent
    # to sign in first); without a registered iss it is a 400 page. The return from sign-in
    # and the OAuth callback are the clinician's; with no launch waiting they are 400 pages
    # (tests/ehr drives the whole flow against a stand-in EHR).
    "ehr:launch": Access(public=True, ok=(400,)),
    "ehr:resume": Access(roles=frozenset({Role.CLINICIAN}), ok=(400,)),
    "ehr:callback": Access(roles=frozenset({Role.CLINICIAN}), ok=(400,)),
    # $export: practice admins only. The matrix sends no `Prefer: respond-async`, so an
    # allowed kick-off stops at 400 and one of nobody's group at 404; a job is seen only by its
    # requester (tests/fhir/test_bulk_export.py runs the whole flow).
    "fhir:export": Access(roles=frozenset({Role.PRACTICE_ADMIN}), ok=(400,)),
    "fhir:export-patients": Access(roles=frozenset({Role.PRACTICE_ADMIN}), ok=(400,)),
    "fhir:export-patient": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), obj="fhir_patient", ok=(400,)
    ),
    "fhir:export-group": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}), kwargs={"group_id": "999999"}, ok=(404,)
    ),
    "fhir:export-status": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}),
        kwargs={"export_id": "00000000-0000-4000-8000-000000000000"},
        ok=(404,),
    ),
    "fhir:export-file": Access(
        roles=frozenset({Role.PRACTICE_ADMIN}),
        kwargs={"file_id": "00000000-0000-4000-8000-000000000000"},
        ok=(404,),
    ),
    #
}
# The Django admin has its own permission system; tests/accounts/test_mfa.py covers that it
# sits behind sign-in and MFA.
EXCLUDED_NAMESPACES = {"admin"}


def route_names(resolver=None, namespace="") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            if inner in EXCLUDED_NAMESPACES:
                continue
            prefix = f"{namespace}{inner}:" if inner else namespace
            names |= route_names(entry, prefix)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}{entry.name}")
    return names


def test_every_route_has_an_access_entry():
    names = route_names()
    assert names - ROUTES.keys() == set(), "routes with no access entry"
    assert ROUTES.keys() - names == set(), "access entries for routes that no longer exist"


def object_id(world, access: Access, *, outsider: bool) -> dict:
    if access.obj == "fhir_patient":
        return {"resource_id": str((world.outside_patient if outsider else world.patient).pk)}
    if access.obj == "fhir_patient_version":
        patient = world.outside_patient if outsider else world.patient
        patient.refresh_from_db()
        version = mapper_for("Patient").version(patient)  # type: ignore[union-attr,misc]
        return {"resource_id": str(patient.pk), "version_id": version}
    if access.obj == "patient":
        return {"patient_id": (world.outside_patient if outsider else world.patient).pk}
    if access.obj == "grant":
        clinician, patient = (
            (world.outside_clinician, world.outside_patient)
            if outsider
            else (world.other_clinician, world.patient)
        )
        grant = services.break_glass_grant(
            clinician=clinician, patient=patient, reason="Unconscious patient in the ED"
        )
        return {"grant_id": grant.pk}
    if access.obj == "walk_in":
        from visits import services as visit_services

        patient = world.outside_patient if outsider else world.patient
        return {"visit_id": visit_services.walk_in_request(patient=patient).pk}
    if access.obj == "visit":
        from visits import services as visit_services

        patient = world.outside_patient if outsider else world.patient
        visit = visit_services.visit_for_appointment(make_appointment(patient))
        if not outsider:
            visit_services.clinician_joins(visit=visit, user=world.clinician)
        return {"visit_id": visit.pk}
    if access.obj in ("evisit", "evisit_photo", "evisit_condition"):
        from tests.visits.evisit_helpers import taken_evisit

        patient = world.outside_patient if outsider else world.patient
        clinician = world.outside_clinician if outsider else world.clinician
        evisit = taken_evisit(patient=patient, clinician=clinician)
        if access.obj == "evisit_condition":
            return {"condition_id": evisit.condition_id}
        if access.obj == "evisit_photo":
            return {"photo_id": evisit.photos.get().pk}
        return {"evisit_id": evisit.pk}
    if access.obj in ("econsult", "econsult_file"):
        from tests.visits.econsult_helpers import outside_specialist, sent_econsult
        from tests.visits.evisit_helpers import taken_evisit

        if outsider:
            patient, requester = world.outside_patient, world.outside_clinician
            to = outside_specialist(world.outside_practice)
        else:
            patient, requester, to = world.patient, world.clinician, world.other_clinician
        photo = taken_evisit(patient=patient, clinician=requester).photos.get()
        econsult = sent_econsult(
            patient=patient, requester=requester, to=to, records=[f"photo:{photo.pk}"]
        )
        if access.obj == "econsult_file":
            return {"record_id": econsult.records.get().pk}
        return {"econsult_id": econsult.pk}
    if access.obj in ("group_bookable", "group_place"):
        from tests.visits.group_helpers import bookable_group_session

        if outsider:
            host, patient = world.outside_clinician, world.outside_patient
        else:
            host, patient = world.clinician, world.patient
        invited = [patient] if access.obj == "group_place" else []
        return {"session_id": bookable_group_session(host=host, patients=invited).pk}
    if access.obj in ("group_session", "group_attendance"):
        from tests.visits.group_helpers import open_group_session

        if outsider:
            host, patient = world.outside_clinician, world.outside_patient
        else:
            host, patient = world.clinician, world.patient
        session = open_group_session(host=host, patients=[patient])
        if access.obj == "group_attendance":
            from visits.models import GroupAttendance

            stretch = GroupAttendance.objects.create(
                session=session, user=patient.user, patient=patient, feed=7
            )
            return {"session_id": session.pk, "attendance_id": stretch.pk}
        return {"session_id": session.pk}
    if access.obj == "media_fetch":
        from messaging import services as messaging
        from messaging.models import MediaFetch
        from telehealth.notify.media import Media

        patient = world.outside_patient if outsider else world.patient
        message = messaging.sms_received(
            patient=patient, body="", media=[Media("https://api.twilio.com/m", "image/jpeg")]
        )
        fetch = MediaFetch.objects.get(message=message)
        MediaFetch.objects.filter(pk=fetch.pk).update(status=MediaFetch.Status.FAILED)
        return {"fetch_id": fetch.pk}
    if access.obj in ("thread", "attachment"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from messaging import services as messaging

        patient = world.outside_patient if outsider else world.patient
        thread, message = messaging.thread_start(
            patient=patient,
            subject="Question",
            body="Hello",
            files=[SimpleUploadedFile("a.pdf", b"%PDF-1.4 test")],
        )
        if access.obj == "thread":
            return {"thread_id": thread.pk}
        return {"attachment_id": message.attachments.get().pk}
    if access.obj in ("document", "library_item"):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from documents import services as documents

        patient = world.outside_patient if outsider else world.patient
        staff = world.outside_clinician if outsider else world.clinician
        pdf = SimpleUploadedFile("leaflet.pdf", b"%PDF-1.4 test")
        if access.obj == "library_item":
            return {"item_id": documents.library_item_add(by=staff, title="Diet", upload=pdf).pk}
        document = documents.document_share(
            patient=patient, by=staff, kind="education", title="Diet", upload=pdf
        )
        return {"document_id": document.pk}
    if access.obj == "appointment":
        patient = world.outside_patient if outsider else world.patient
        return {"appointment_id": make_appointment(patient).pk}
    if access.obj == "encounter":
        patient = world.outside_patient if outsider else world.patient
        return {"encounter_id": make_encounter(patient).pk}
    if access.obj == "claim_batch":
        from billing.models import ClaimBatch

        practice = world.outside_practice if outsider else world.practice
        staff = world.outside_clinician if outsider else world.admin
        batch = ClaimBatch.objects.create(
            practice=practice,
            control_number=1,
            created_by=staff,
            content="ISA*00*",
            claim_count=0,
            total_charge=0,
        )
        return {"batch_id": batch.pk}
    if access.obj == "remittance":
        from billing.models import Remittance

        practice = world.outside_practice if outsider else world.practice
        staff = world.outside_clinician if outsider else world.admin
        remittance = Remittance.objects.create(
            practice=practice,
            imported_by=staff,
            payer_name="Payer",
            trace_number="1",
            total_paid=0,
            content="ISA*00*",
        )
        return {"remittance_id": remittance.pk}
    if access.obj == "survey":
        from tests.feedback.helpers import survey_of

        return {"survey_id": survey_of(world.outside_patient if outsider else world.patient).pk}
    return {}


def make_encounter(patient):
    """A signed visit encounter of the patient with one line, rendered by the practice's first
    provider (world.clinician in practice A)."""
    from datetime import date, timedelta

    from django.db.models import F
    from django.utils import timezone

    from billing.models import ClaimLine, Encounter
    from scheduling.models import Appointment
    from visits import services as visit_services

    appointment = make_appointment(patient)
    # Each encounter's visit an hour after the last: a page walk asks for several encounters,
    # and PostgreSQL refuses a provider's overlapping appointments.
    shift = timedelta(hours=Appointment.objects.filter(provider=appointment.provider).count())
    Appointment.objects.filter(pk=appointment.pk).update(
        start=F("start") + shift,
        end=F("end") + shift,
        blocked_start=F("blocked_start") + shift,
        blocked_end=F("blocked_end") + shift,
    )
    appointment.refresh_from_db()
    visit = visit_services.visit_for_appointment(appointment)
    encounter = Encounter.objects.create(
        practice=patient.practice,
        patient=patient,
        kind=Encounter.Kind.VISIT,
        source=f"visit:{visit.pk}",
        visit=visit,
        rendering_provider=appointment.provider,
        date_of_service=date(2026, 3, 2),
        minutes=25,
        modality=Encounter.Modality.VIDEO,
        patient_state="MA",
        patient_at_home=True,
        status=Encounter.Status.SIGNED,
        signed_by=appointment.provider.user,
        signed_at=timezone.now(),
    )
    ClaimLine.objects.create(
        encounter=encounter,
        position=1,
        code="99213",
        modifiers=["95"],
        place_of_service="10",
        charge=120,
        diagnosis_pointers=[1],
    )
    return encounter


def make_appointment(patient):
    """An appointment written directly: these tests are about access, not availability."""
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.models import Appointment, AppointmentType

    kind, _ = AppointmentType.objects.get_or_create(
        practice=patient.practice, slug="video", defaults={"name": "Video visit"}
    )
    provider = patient.practice.providers.first()
    if provider is None:
        from telehealth.accounts.models import Provider

        clinician = patient.care_team.first().clinician
        provider = Provider.objects.create(
            user=clinician,
            practice=patient.practice,
            slug="beta-doc",
            display_name="Dr Beta",
            npi="1987654328",
            licensed_states=["MA"],
            time_zone="America/New_York",
        )
    start = timezone.now() + timedelta(days=2)
    return Appointment.objects.create(
        practice=patient.practice,
        provider=provider,
        patient=patient,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality="video",
        booked_via="staff",
    )


def url_for(name: str, access: Access, kwargs: dict) -> str:
    return reverse(name, kwargs={**access.kwargs, **kwargs})


def call(client, access: Access, url: str, world=None):
    if access.json is not None:
        return client.post(url, data=access.json(world), content_type="application/json")
    return getattr(client, access.method)(url, HTTP_ACCEPT="text/html")


def request_route(client, world, name: str, *, outsider: bool):
    access = ROUTES[name]
    url = url_for(name, access, object_id(world, access, outsider=outsider))
    return call(client, access, url, world)


PROTECTED = sorted(n for n, a in ROUTES.items() if not a.public)


@pytest.mark.parametrize("name", PROTECTED)
def test_anonymous_user_is_sent_to_sign_in(client, world, name):
    access = ROUTES[name]
    response = call(
        client, access, url_for(name, access, object_id(world, access, outsider=False)), world
    )
    if name.startswith(("api:", "fhir:")) or name == "accounts:keepalive":
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


WRONG_ROLE_CASES = sorted(
    (name, role) for name, a in ROUTES.items() if not a.public for role in ALL_ROLES - a.roles
)


@pytest.mark.parametrize(("name", "role"), WRONG_ROLE_CASES)
def test_wrong_role_is_refused(client, world, name, role):
    access = ROUTES[name]
    sign_in(client, world.user_for(role))
    response = call(
        client, access, url_for(name, access, object_id(world, access, outsider=False)), world
    )
    assert response.status_code == 403


OBJECT_CASES = sorted((name, role) for name, a in ROUTES.items() if a.obj for role in a.roles)


@pytest.mark.parametrize(("name", "role"), OBJECT_CASES)
def test_outsider_asking_for_another_patients_object_gets_404(client, world, name, role):
    access = ROUTES[name]
    sign_in(client, world.user_for(role))
    response = call(
        client, access, url_for(name, access, object_id(world, access, outsider=True)), world
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "role"), OBJECT_CASES)
def test_allowed_role_reaches_its_own_object(client, world, name, role):
    access = ROUTES[name]
    sign_in(client, world.user_for(role))
    response = call(
        client, access, url_for(name, access, object_id(world, access, outsider=False)), world
    )
    assert response.status_code in access.ok


def test_patient_cannot_read_another_patient_of_the_same_practice_by_api(client, world):
    sign_in(client, world.patient.user)
    response = client.get(
        reverse("api:patient_detail", kwargs={"patient_id": world.other_patient.pk})
    )
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, a in ROUTES.items() if not a.obj and not a.public))
def test_every_allowed_role_reaches_each_page(client, world, name):
    access = ROUTES[name]
    for role in access.roles:
        sign_in(client, world.user_for(role))
        response = call(client, access, url_for(name, access, {}), world)
        assert response.status_code in access.ok, (role, response.status_code)


NO_PRACTICE_CASES = sorted(
    (name, role) for name, a in ROUTES.items() if not a.public for role in a.roles & STAFF
)


@pytest.mark.parametrize(("name", "role"), NO_PRACTICE_CASES)
def test_staff_without_a_practice_is_refused(client, world, name, role):
    """A staff account whose practice was removed (or never set) gets a 403 from every route
    that works on a practice, and still reaches the pages about its own account."""
    access = ROUTES[name]
    adrift = make_staff(None, role, f"adrift-{role}@nowhere.test", "Adrift")
    sign_in(client, adrift)
    response = call(
        client, access, url_for(name, access, object_id(world, access, outsider=False)), world
    )
    if access.practice:
        assert response.status_code == 403
    else:
        assert response.status_code in access.ok


# FHIR read, search and vread for every registered type. The ROUTES entries above reach them
# with Patient; here each is expanded to every type the registry serves, on one row of the
# type that tests/fhir/rows.py makes for world.patient in practice A (own) and for the outside
# patient in practice B (outsider). A new type needs only its maker there; a new FHIR route
# that takes a resource type must join FHIR_TYPED_ROUTES. A FHIR role rule is a selector's:
# a role that may not see a type's rows gets 404 and searches without them, never a 403.
FHIR_TYPED_ROUTES = ("fhir:read", "fhir:search", "fhir:vread")
FHIR_UNSEEN_BY = {
    "Observation": frozenset({Role.FRONT_DESK}),  # vitals: clinicians and admins (rpm)
    "QuestionnaireResponse": frozenset({Role.FRONT_DESK}),  # answers are clinical (intake)
}
FHIR_TYPES = [mapper.resource_type for mapper in registered()]
# Only versioned types answer a vread (of the current version); any other type's is a 404
# for everyone, asked here with version "1".
FHIR_VERSIONED = [mapper.resource_type for mapper in registered() if mapper.version is not None]
FHIR_TYPE_CASES = sorted((name, t) for name in FHIR_TYPED_ROUTES for t in FHIR_TYPES)


def test_fhir_typed_routes_cover_every_registered_type():
    typed = {name for name, access in ROUTES.items() if "resource_type" in access.kwargs}
    assert typed == set(FHIR_TYPED_ROUTES), "FHIR routes taking a type, not walked per type"
    assert set(FHIR_TYPES) == MAKERS.keys(), "registered types and tests/fhir/rows.py differ"
    assert FHIR_UNSEEN_BY.keys() <= set(FHIR_TYPES)
    assert {"Appointment", "Patient"} <= set(FHIR_VERSIONED)


def fhir_row(name: str, resource_type: str, side) -> tuple[str, str]:
    """A row of the type made for the side's patient: the route's URL for it, and its id."""
    resource_id = MAKERS[resource_type](side)
    kwargs = {"resource_type": resource_type}
    if name != "fhir:search":
        kwargs["resource_id"] = resource_id
    if name == "fhir:vread":
        mapper = mapper_for(resource_type)
        assert mapper is not None
        row = mapper.lookup(side.admin, resource_id)
        kwargs["version_id"] = mapper.version(row) if mapper.version is not None else "1"
    return reverse(name, kwargs=kwargs), resource_id


def fhir_reaches(client, name: str, resource_type: str, url: str, resource_id: str) -> bool:
    """Whether the signed-in user gets the row: read and vread 200 (404 otherwise, as an
    OperationOutcome), a search finding it."""
    if name == "fhir:search":
        response = client.get(url, {**search_params(resource_type), "_count": "200"})
        assert response.status_code == 200, response.content
        return resource_id in {e["resource"]["id"] for e in response.json().get("entry", [])}
    response = client.get(url)
    assert response.status_code in (200, 404), response.content
    if response.status_code == 404:
        assert response.json()["resourceType"] == "OperationOutcome"
        return False
    assert response.json()["id"] == resource_id
    return True


@pytest.mark.parametrize(("name", "resource_type"), FHIR_TYPE_CASES)
def test_fhir_type_answers_anonymous_users_401(client, world, name, resource_type):
    url, _resource_id = fhir_row(name, resource_type, side_a(world))
    response = client.get(url, search_params(resource_type) if name == "fhir:search" else {})
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(("name", "resource_type"), FHIR_TYPE_CASES)
def test_fhir_type_reaches_its_own_row_per_role(client, world, name, resource_type):
    url, resource_id = fhir_row(name, resource_type, side_a(world))
    unseen = FHIR_UNSEEN_BY.get(resource_type, frozenset())
    served = name != "fhir:vread" or resource_type in FHIR_VERSIONED
    for role in sorted(ALL_ROLES):
        sign_in(client, world.user_for(role))
        reached = fhir_reaches(client, name, resource_type, url, resource_id)
        assert reached == (served and role not in unseen), role


@pytest.mark.parametrize(("name", "resource_type"), FHIR_TYPE_CASES)
def test_fhir_type_outsiders_row_is_404_for_every_role(client, world, name, resource_type):
    url, resource_id = fhir_row(name, resource_type, side_b(world))
    for role in sorted(ALL_ROLES):
        sign_in(client, world.user_for(role))
        assert not fhir_reaches(client, name, resource_type, url, resource_id), role


FHIR_PATIENT_CASES = [
    (name, resource_type)
    for name, resource_type in FHIR_TYPE_CASES
    if mapper_for(resource_type).patient_path  # type: ignore[union-attr]
    and (name != "fhir:vread" or resource_type in FHIR_VERSIONED)
]


@pytest.mark.parametrize(("name", "resource_type"), FHIR_PATIENT_CASES)
def test_fhir_type_patient_never_reaches_another_patients_row(client, world, name, resource_type):
    other = side_a(world)
    other.patient = world.other_patient
    url, resource_id = fhir_row(name, resource_type, other)
    sign_in(client, world.patient.user)
    assert not fhir_reaches(client, name, resource_type, url, resource_id)
    sign_in(client, world.other_patient.user)
    assert fhir_reaches(client, name, resource_type, url, resource_id)
