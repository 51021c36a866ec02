"""E-visits made through their services, as a patient and a clinician would."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from visits import evisit_services as services
from visits.models import EVisit, EVisitCondition

FOLLOW_UP_ANSWERS = {"about": ["My visit last week"], "question": ["Can I stop the cream?"]}


def photo_upload(name: str = "rash.jpg", size=(1200, 900)) -> SimpleUploadedFile:
    out = io.BytesIO()
    exif = Image.Exif()
    exif.get_ifd(0x8825).update({1: "N", 2: (40.0, 42.0, 46.0)})  # a GPS position
    Image.new("RGB", size, (200, 120, 90)).save(out, "JPEG", exif=exif)
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def condition(practice, slug: str = "follow-up") -> EVisitCondition:
    services.conditions_install(practice)
    return EVisitCondition.objects.get(practice=practice, slug=slug)


def submitted_evisit(*, patient, photos: int = 1) -> EVisit:
    evisit = services.evisit_start(patient=patient, condition=condition(patient.practice))
    saved = services.evisit_save(
        evisit=evisit,
        raw=FOLLOW_UP_ANSWERS,
        uploads=[photo_upload() for _ in range(photos)],
        submit=True,
    )
    assert saved.submitted, saved.errors
    evisit.refresh_from_db()
    return evisit


def taken_evisit(*, patient, clinician) -> EVisit:
    evisit = submitted_evisit(patient=patient)
    return services.evisit_assign(evisit=evisit, clinician=clinician)
