"""A small receiving calendar that files iTIP messages as RFC 5546 asks (section 2.1.5,
"Message Sequencing"; 3.2.1 PUBLISH, 3.2.2 REQUEST, 3.2.5 CANCEL): the tests hand it the
calendar files a patient receives, in the order they arrive, and look at what is left.

- PUBLISH and REQUEST add the event, or replace the stored one with the same UID when the
  message is not older: a higher SEQUENCE, or the same SEQUENCE and a DTSTAMP no earlier.
- CANCEL removes the event under the same rule.
- An older message (lower SEQUENCE, or the same SEQUENCE with an earlier DTSTAMP) is ignored,
  also after a CANCEL: the calendar remembers the newest revision it has seen of each UID.

Recurring events (RECURRENCE-ID) are out of scope: appointments do not repeat."""

from dataclasses import dataclass, field
from datetime import datetime

from icalendar import Calendar, Component

APPLIED = "applied"
IGNORED = "ignored"


def revision(event: Component) -> tuple[int, datetime]:
    """What orders two messages about one UID (RFC 5546 2.1.5)."""
    return int(event.get("sequence", 0)), event.decoded("dtstamp")


@dataclass
class ItipCalendar:
    events: dict[str, Component] = field(default_factory=dict)
    newest_seen: dict[str, tuple[int, datetime]] = field(default_factory=dict)

    def receive(self, ics: str | bytes) -> list[str]:
        """File one message; answers, per VEVENT, whether it was applied or ignored."""
        calendar = Calendar.from_ical(ics)
        method = str(calendar.get("method", "PUBLISH")).upper()
        outcomes = []
        for event in calendar.walk("VEVENT"):
            uid = str(event["uid"])
            if "recurrence-id" in event:
                raise NotImplementedError("recurrence instances are out of this model's scope")
            seen = self.newest_seen.get(uid)
            if seen is not None and revision(event) < seen:
                outcomes.append(IGNORED)
                continue
            self.newest_seen[uid] = revision(event)
            if method == "CANCEL":
                self.events.pop(uid, None)
            elif method in ("PUBLISH", "REQUEST"):
                self.events[uid] = event
            else:
                raise NotImplementedError(f"METHOD:{method} is not filed by this model")
            outcomes.append(APPLIED)
        return outcomes

    def receive_all(self, messages) -> None:
        for message in messages:
            self.receive(message)
