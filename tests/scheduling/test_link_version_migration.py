"""Moving Appointment.link_version to accounts.LinkVersion keeps every manage link already
sent as it was: current links still open, links revoked before the move stay revoked."""

import pytest
from django.core import signing
from django.db import connection

from scheduling.links import MANAGE
from telehealth import links
from telehealth.accounts.models import LinkVersion
from tests.migrating import migrate
from tests.visits.test_consumers import make_visit

BEFORE = [("scheduling", "0005_appointment_patient_state"), ("accounts", "0004_link_version")]


def old_manage_token(appointment_id: int, version: int) -> str:
    """A manage link as scheduling signed them before telehealth.links."""
    return signing.dumps({"a": appointment_id, "v": version}, salt="scheduling.manage-link")


@pytest.mark.django_db(transaction=True)
def test_manage_links_sent_before_the_move_keep_their_state(world, video_type):
    revoked = make_visit(world, video_type).appointment
    untouched = make_visit(world, video_type).appointment
    migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE scheduling_appointment SET link_version = 3 WHERE id = %s", [revoked.pk]
            )
    finally:
        migrate()
    assert LinkVersion.objects.get(kind=MANAGE, object_id=revoked.pk).version == 3
    assert not LinkVersion.objects.filter(object_id=untouched.pk).exists()
    assert links.read(MANAGE, old_manage_token(revoked.pk, 3)) == revoked
    with pytest.raises(links.LinkRevoked):
        links.read(MANAGE, old_manage_token(revoked.pk, 2))
    assert links.read(MANAGE, old_manage_token(untouched.pk, 1)) == untouched
