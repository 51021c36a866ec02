"""Every page any role can reach is well-formed for assistive technology: no id is used twice
on a page, and every form control has a label (a label for it, around it, aria-label or
aria-labelledby). The pages come from the access matrix, so a new route is covered the day it
gets its access entry."""

from html.parser import HTMLParser

import pytest
from django.db import transaction
from django.test import Client

from rpm import services as rpm
from rpm import uploads
from tests.conftest import World, sign_in
from tests.core.test_access_matrix import ROUTES, call, object_id, url_for


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


UNLABELLED_TYPES = {"hidden", "submit", "button", "image", "reset"}


class Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None]]] = []
        self.wrapped: set[int] = set()  # indexes of controls inside a <label>
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "label":
            self.open_labels += 1
            if found.get("for"):
                self.label_for.add(str(found["for"]))
        elif tag in ("select", "textarea") or (
            tag == "input" and (found.get("type") or "text").lower() not in UNLABELLED_TYPES
        ):
            if self.open_labels:
                self.wrapped.add(len(self.controls))
            self.controls.append((tag, found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self.open_labels:
            self.open_labels -= 1

    def duplicate_ids(self) -> set[str]:
        return {i for i in self.ids if self.ids.count(i) > 1}

    def unlabelled(self) -> list[str]:
        return [
            f"<{tag} name={found.get('name')!r} id={found.get('id')!r}>"
            for n, (tag, found) in enumerate(self.controls)
            if n not in self.wrapped
            and found.get("id") not in self.label_for
            and not found.get("aria-label")
            and not found.get("aria-labelledby")
        ]


def pages(world: World) -> list[tuple[str, list[object]]]:
    """(route, who) for every page read with GET: each role that may use it, anonymous for
    public ones."""
    out: list[tuple[str, list[object]]] = []
    for name, access in sorted(ROUTES.items()):
        if access.method != "get" or access.json is not None or name.startswith("api:"):
            continue
        people: list[object] = [None] if access.public else []
        out.append((name, people + [world.user_for(role) for role in sorted(access.roles)]))
    return out


def monitored(world: World) -> None:
    """Monitoring pages with something on them: an enrolment, a device and an open alert."""
    rpm.enroll(
        patient=world.patient, program="hypertension", clinicians=[world.clinician], by=world.admin
    )
    device, _token = rpm.device_create(patient=world.patient, kind="bp_cuff", by=world.clinician)
    uploads.ingest_payload(
        device=device,
        payload={
            "type": "blood_pressure",
            "systolic": 190,
            "diastolic": 95,
            "measured_at": "2026-01-05T08:00:00+00:00",
        },
    )


@pytest.mark.django_db
def test_every_page_has_unique_ids_and_labelled_controls(world: World) -> None:
    monitored(world)
    problems: dict[str, object] = {}
    checked = 0
    for name, people in pages(world):
        access = ROUTES[name]
        # Each route's objects go away with it: two appointments made for two routes would
        # overlap on the provider's calendar.
        with transaction.atomic():
            url = url_for(name, access, object_id(world, access, outsider=False))
            for who in people:
                client = Client()
                if who is not None:
                    sign_in(client, who)
                response = call(client, access, url, world)
                if response.status_code != 200 or "text/html" not in response.get(
                    "Content-Type", ""
                ):
                    continue
                checked += 1
                markup = Markup()
                markup.feed(response.content.decode())
                where = f"{name} as {getattr(who, 'role', 'anonymous')}"
                if markup.duplicate_ids():
                    problems[f"{where}: duplicate ids"] = sorted(markup.duplicate_ids())
                if markup.unlabelled():
                    problems[f"{where}: controls without a label"] = markup.unlabelled()
            transaction.set_rollback(True)
    assert checked > 20, "the walk reached too few pages to mean anything"
    assert problems == {}
