"""The subscription topics we publish: what an integration may subscribe to.

Each topic is a canonical URL under our FHIR base (the Subscriptions R5 Backport names topics by
canonical URL; we define ours and publish no SubscriptionTopic resource for them, which R4 has
not). An app that changes a resource names the topic; the core knows no app."""

from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Topic:
    key: str
    resource_type: str
    title: Promise

    @property
    def url(self) -> str:
        # Under FHIR_CANONICAL_BASE, which stays put when SITE_URL changes: receivers match on it.
        return f"{settings.FHIR_CANONICAL_BASE}/R4/SubscriptionTopic/{self.key}"


APPOINTMENT_CHANGED = "appointment-changed"
ENCOUNTER_CHANGED = "encounter-changed"
OBSERVATION_CREATED = "observation-created"

TOPICS: dict[str, Topic] = {
    topic.key: topic
    for topic in (
        Topic(
            APPOINTMENT_CHANGED,
            "Appointment",
            _("Appointments booked, rescheduled, cancelled or changing status"),
        ),
        Topic(
            ENCOUNTER_CHANGED,
            "Encounter",
            _("Video visits opening, starting and ending"),
        ),
        Topic(OBSERVATION_CREATED, "Observation", _("New home monitoring readings")),
    )
}


def topic_choices() -> list[tuple[str, Promise]]:
    return [(topic.key, topic.title) for topic in TOPICS.values()]
