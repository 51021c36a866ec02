"""The practice, staff and patients the benchmarks build, in one place: each bench had its
own copy of the same few lines. Import after `common.setup_django()`.

    practice = worlds.practice("large")
    clinician = worlds.staff(practice, Role.CLINICIAN)
    patients = worlds.patients(practice, 200)
    client = worlds.signed_in(clinician)"""

import random
from datetime import date

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth.accounts import services as account_services
from telehealth.accounts.models import Patient, Practice, Role, User

PASSWORD = "x" * 16
NAMES = {Role.CLINICIAN: "Doc", Role.FRONT_DESK: "Desk", Role.PRACTICE_ADMIN: "Admin"}
LOCAL_PARTS = {Role.CLINICIAN: "doc", Role.FRONT_DESK: "desk", Role.PRACTICE_ADMIN: "admin"}


def practice(slug: str = "bench", **fields) -> Practice:
    fields.setdefault("name", slug.title())
    fields.setdefault("phone", "+16175550100")
    return Practice.objects.create(slug=slug, **fields)


def staff(practice: Practice, role: str, *, email: str = "", enrol: bool = True) -> User:
    """A staff member of the practice, with a confirmed TOTP device unless `enrol=False`
    (`signed_in` then marks the session as verified with it)."""
    user = account_services.staff_user_create(
        email=email or f"{LOCAL_PARTS[Role(role)]}@{practice.slug}.test",
        password=PASSWORD,
        full_name=NAMES[Role(role)],
        role=role,
        practice=practice,
    )
    if enrol:
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    return user


def patients(practice: Practice, count: int, *, random_phones: bool = False) -> list[Patient]:
    """`count` patients through the service (encrypted fields, blind indexes). Phones are
    +1617555NNNN by number, or random when two sets of patients must not share a phone."""
    slug = practice.slug
    return [
        account_services.patient_create(
            practice=practice,
            legal_name=f"Patient {slug} {i}",
            date_of_birth=date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
            phone=f"+1617{random.randint(2000000, 9999999)}"
            if random_phones
            else f"+1617555{i:04d}",
            email=f"p{i}@{slug}.test",
            state="MA",
        )
        for i in range(count)
    ]


def signed_in(user: User, **client_kwargs) -> Client:
    """A test client signed in as `user`, past MFA when the user has a confirmed device."""
    client_kwargs.setdefault("HTTP_HOST", "localhost")
    client = Client(**client_kwargs)
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
