"""A demo practice to explore: staff of every role (with TOTP devices) and a few patients.

Idempotent: running it again changes nothing and prints the same logins, secrets and the
backup codes still unused."""

import base64
import secrets
from datetime import date, time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth.accounts import services
from telehealth.accounts.models import CareTeamReason, Practice, Provider, Role, User

DEMO_PASSWORD = "demo-telehealth-2026"

STAFF = [
    ("ana.ruiz@demo.clinic", "Dr. Ana Ruiz", Role.CLINICIAN),
    ("ben.carter@demo.clinic", "Dr. Ben Carter", Role.CLINICIAN),
    ("frontdesk@demo.clinic", "Faye Morgan", Role.FRONT_DESK),
    ("admin@demo.clinic", "Alex Kim", Role.PRACTICE_ADMIN),
]
PROVIDERS = {
    "ana.ruiz@demo.clinic": (
        "ana-ruiz",
        "Dr. Ana Ruiz, MD",
        "Family medicine",
        "1234567893",
        ["MA", "NY", "NH"],
        "America/New_York",
    ),
    "ben.carter@demo.clinic": (
        "ben-carter",
        "Dr. Ben Carter, DO",
        "Internal medicine",
        "1987654328",
        ["MA", "CA"],
        "America/Los_Angeles",
    ),
}
PATIENTS = [
    # email, legal name, preferred, dob, phone, state, language, portal login
    (
        "maria.lopez@example.com",
        "María López",
        "",
        date(1984, 3, 12),
        "+16175550142",
        "MA",
        "es",
        True,
    ),
    (
        "john.smith@example.com",
        "John Smith",
        "Jack",
        date(1961, 11, 2),
        "+16175550187",
        "MA",
        "en",
        True,
    ),
    (
        "grace.ohara@example.com",
        "Grace O'Hara",
        "",
        date(1995, 7, 30),
        "+12125550119",
        "NY",
        "en",
        False,
    ),
]


class Command(BaseCommand):
    help = "Create (once) and print a demo practice with a login for every role."

    def handle(self, *args, **options):
        with transaction.atomic():
            practice = self.seed()
        self.report(practice)

    def seed(self) -> Practice:
        practice, _ = Practice.objects.get_or_create(
            slug="riverside",
            defaults={
                "name": "Riverside Family Health",
                "time_zone": "America/New_York",
                "phone": "+16175550100",
                "address": "100 River Street, Cambridge, MA 02139",
                "business_hours": {
                    d: [["08:00", "17:00"]] for d in ["mon", "tue", "wed", "thu", "fri"]
                },
            },
        )
        for email, name, role in STAFF:
            user = User.objects.with_email(email).first()
            if user is None:
                user = services.staff_user_create(
                    email=email,
                    password=DEMO_PASSWORD,
                    full_name=name,
                    role=role,
                    practice=practice,
                )
            if email in PROVIDERS and not hasattr(user, "provider"):
                slug, display, specialty, npi, states, zone = PROVIDERS[email]
                Provider.objects.create(
                    user=user,
                    practice=practice,
                    slug=slug,
                    display_name=display,
                    specialty=specialty,
                    npi=npi,
                    licensed_states=states,
                    time_zone=zone,
                )
            if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                TOTPDevice.objects.create(user=user, name="Demo authenticator", confirmed=True)
                device = StaticDevice.objects.create(user=user, name="Backup codes")
                for _ in range(5):
                    StaticToken.objects.create(
                        device=device, token=f"{secrets.randbelow(10**8):08d}"
                    )
        ana = User.objects.with_email("ana.ruiz@demo.clinic").get()
        for email, legal, preferred, dob, phone, state, language, login in PATIENTS:
            if practice.patients.filter(legal_name=legal, date_of_birth=dob).exists():
                continue
            patient = services.patient_create(
                practice=practice,
                legal_name=legal,
                preferred_name=preferred,
                date_of_birth=dob,
                phone=phone,
                email=email,
                state=state,
                preferred_language=language,
                sms_consent=True,
                address={
                    "line1": "12 Elm Street",
                    "city": "Cambridge",
                    "state": state,
                    "postal_code": "02139",
                },
            )
            services.care_team_add(
                patient=patient, clinician=ana, reason=CareTeamReason.ASSIGNED, by=None
            )
            if login:
                services.patient_user_create(patient=patient, password=DEMO_PASSWORD)
        self.seed_schedule(practice)
        self.seed_intake(practice)
        return practice

    def seed_intake(self, practice: Practice) -> None:
        from intake.models import Form
        from intake.services import install_builtin

        install_builtin(practice)
        history = Form.objects.get(practice=practice, slug="medical-history")
        history.appointment_types.set(practice.appointment_types.all())
        from visits.evisit_services import conditions_install

        conditions_install(practice)  # e-visit conditions, their questionnaires as intake forms

    def seed_schedule(self, practice: Practice) -> None:
        from scheduling.models import AppointmentType, AvailabilityRule, Modality

        types = [
            ("video-visit", "Video visit", "Consulta por video", Modality.VIDEO, 20, "99213"),
            ("phone-visit", "Phone visit", "Consulta por teléfono", Modality.PHONE, 15, "99442"),
            (
                "new-patient",
                "New patient visit (in person)",
                "Primera consulta (en persona)",
                Modality.IN_PERSON,
                40,
                "99203",
            ),
        ]
        providers = list(practice.providers.all())
        for slug, name, name_es, modality, minutes, cpt in types:
            kind, created = AppointmentType.objects.get_or_create(
                practice=practice,
                slug=slug,
                defaults={
                    "name": name,
                    "name_es": name_es,
                    "modality": modality,
                    "duration_minutes": minutes,
                    "buffer_after_minutes": 5,
                    "minimum_notice_minutes": 60,
                    "default_cpt_code": cpt,
                },
            )
            if created:
                kind.providers.set(providers)
            elif not kind.name_es:  # seeded before visit types had Spanish names
                kind.name_es = name_es
                kind.save(update_fields=["name_es"])
        for provider in providers:
            if not provider.rules.exists():
                AvailabilityRule.objects.bulk_create(
                    AvailabilityRule(provider=provider, weekday=day, start_time=start, end_time=end)
                    for day in range(5)
                    for start, end in [(time(9), time(12)), (time(13), time(17))]
                )

    def report(self, practice: Practice) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo practice: {practice.name}"))
        out(f"Password for every demo login: {DEMO_PASSWORD}\n")
        out(
            "Staff sign in with a code from an authenticator app. Add each key to one "
            "(or use a backup code, each works once):"
        )
        for email, _name, role in STAFF:
            user = User.objects.with_email(email).get()
            totp = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            secret = base64.b32encode(totp.bin_key).decode().rstrip("=") if totp else "-"
            codes = list(
                StaticToken.objects.filter(device__user=user).values_list("token", flat=True)[:3]
            )
            out(
                f"  {Role(role).label:<15} {email:<26} TOTP key {secret}  "
                f"backup codes {' '.join(codes) or '(all used)'}"
            )
        out(f"Public booking page: {settings.SITE_URL}/book/{practice.slug}/")
        out("Patients (no second factor unless they turn it on):")
        for email, legal, *_rest, login in PATIENTS:
            if login:
                out(f"  Patient         {email:<26} ({legal})")
