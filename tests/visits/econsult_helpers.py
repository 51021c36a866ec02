"""E-consults made through their services, as a requesting clinician and a specialist would."""

from telehealth.accounts.models import Role, User
from tests.conftest import make_staff
from visits import econsult_services as services
from visits.models import ConsultSpecialist, EConsult

QUESTION = "Rising home blood pressure on two drugs: add a third or change one?"


def specialist(user: User, specialty: str = "Cardiology") -> ConsultSpecialist:
    return services.specialist_profile_save(user=user, specialty=specialty, accepting=True)


def sent_econsult(*, patient, requester: User, to: User, records=()) -> EConsult:
    return services.econsult_send(
        requester=requester,
        patient=patient,
        specialist=specialist(to),
        question=QUESTION,
        record_keys=list(records),
        patient_consented=True,
    )


def outside_specialist(practice) -> User:
    """A second clinician of the outside practice (the World has one), made once."""
    clinicians = User.objects.filter(practice=practice, role=Role.CLINICIAN).order_by("pk")
    found = clinicians[1:2].first()
    return found or make_staff(practice, Role.CLINICIAN, "spec@beta.test", "Dr Beta Spec")
