"""An e-consult closed unanswered: the specialist declines it with a reason (the requester is
told by a notice carrying only a link), or the requester withdraws it. Only the right side may
close it. (A decline racing an answer: test_econsult_closing_races.)"""

import pytest
from django.db import connection
from django.urls import reverse

from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_staff, sign_in
from tests.visits.econsult_helpers import QUESTION, sent_econsult
from visits import econsult_services as services
from visits.models import EConsult

State = EConsult.State
REASON = "Better seen in the heart failure clinic: please refer."


def sent(world):
    return sent_econsult(patient=world.patient, requester=world.clinician, to=world.other_clinician)


@pytest.mark.django_db
class TestServices:
    @pytest.fixture
    def world(self, module_world):
        return module_world

    def test_the_specialist_declines_with_a_reason_and_the_requester_gets_a_link_only(self, world):
        econsult = sent(world)
        services.econsult_decline(
            econsult=econsult, specialist=world.other_clinician, reason=f"  {REASON} "
        )
        econsult.refresh_from_db()
        assert econsult.state == State.DECLINED and econsult.decline_reason == REASON
        assert econsult.closed_at is not None
        notice = OutboundMessage.objects.get(dedupe_key=f"econsult:{econsult.pk}:declined")
        assert notice.staff == world.clinician
        assert reverse("visits:econsult", args=[econsult.pk]) in notice.body
        for secret in (REASON, QUESTION, world.patient.legal_name):
            assert secret not in notice.body and secret not in notice.subject
        assert AuditEvent.objects.filter(
            object_id=str(econsult.pk), detail="declined", actor=world.other_clinician
        ).exists()

    def test_a_case_the_specialist_asked_about_can_still_be_declined(self, world):
        econsult = sent(world)
        services.econsult_ask(econsult=econsult, specialist=world.other_clinician, body="Echo?")
        services.econsult_decline(econsult=econsult, specialist=world.other_clinician, reason="No")
        econsult.refresh_from_db()
        assert econsult.state == State.DECLINED

    def test_the_requester_withdraws_and_the_specialist_is_told(self, world):
        econsult = sent(world)
        services.econsult_withdraw(econsult=econsult, requester=world.clinician)
        econsult.refresh_from_db()
        assert econsult.state == State.WITHDRAWN and econsult.closed_at is not None
        notice = OutboundMessage.objects.get(dedupe_key=f"econsult:{econsult.pk}:withdrawn")
        assert notice.staff == world.other_clinician and QUESTION not in notice.body

    @pytest.mark.parametrize("who", ["requester", "third"])
    def test_only_the_specialist_declines(self, world, who):
        econsult = sent(world)
        user = (
            world.clinician
            if who == "requester"
            else make_staff(world.practice, "clinician", "doc3@alpha.test", "Dr Third")
        )
        with pytest.raises(services.EConsultError):
            services.econsult_decline(econsult=econsult, specialist=user, reason=REASON)
        econsult.refresh_from_db()
        assert econsult.state == State.SENT and econsult.decline_reason == ""

    def test_only_the_requester_withdraws(self, world):
        econsult = sent(world)
        with pytest.raises(services.EConsultError, match="Only the clinician who sent"):
            services.econsult_withdraw(econsult=econsult, requester=world.other_clinician)
        econsult.refresh_from_db()
        assert econsult.state == State.SENT and econsult.closed_at is None

    @pytest.mark.parametrize("closing", ["answered", "declined", "withdrawn"])
    def test_a_closed_case_cannot_be_declined_withdrawn_or_answered(self, world, closing):
        econsult = sent(world)
        if closing == "answered":
            services.econsult_answer(
                econsult=econsult,
                specialist=world.other_clinician,
                answer="Yes",
                verbal_report=False,
            )
        elif closing == "declined":
            services.econsult_decline(
                econsult=econsult, specialist=world.other_clinician, reason=REASON
            )
        else:
            services.econsult_withdraw(econsult=econsult, requester=world.clinician)
        with pytest.raises(services.EConsultError, match="cannot be done now"):
            services.econsult_decline(
                econsult=econsult, specialist=world.other_clinician, reason="x"
            )
        with pytest.raises(services.EConsultError, match="cannot be done now"):
            services.econsult_withdraw(econsult=econsult, requester=world.clinician)
        with pytest.raises(services.EConsultError, match="cannot be done now"):
            services.econsult_answer(
                econsult=econsult,
                specialist=world.other_clinician,
                answer="Late",
                verbal_report=False,
            )
        econsult.refresh_from_db()
        assert econsult.state == closing

    @pytest.mark.parametrize("reason", ["", "   ", "x" * 5001])
    def test_a_decline_without_a_fit_reason_is_refused(self, world, reason):
        econsult = sent(world)
        with pytest.raises(services.EConsultError):
            services.econsult_decline(
                econsult=econsult, specialist=world.other_clinician, reason=reason
            )
        econsult.refresh_from_db()
        assert econsult.state == State.SENT

    def test_the_decline_reason_is_encrypted_at_rest(self, world):
        econsult = sent(world)
        services.econsult_decline(
            econsult=econsult, specialist=world.other_clinician, reason=REASON
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT decline_reason FROM visits_econsult WHERE id = %s", [econsult.pk]
            )
            stored = cursor.fetchone()[0]
        assert REASON not in stored and stored


@pytest.mark.django_db
class TestPages:
    @pytest.fixture
    def world(self, module_world):
        return module_world

    def test_the_specialist_declines_from_the_case_page_and_the_requester_reads_why(
        self, client, world
    ):
        econsult = sent(world)
        sign_in(client, world.other_clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "Decline the e-consult" in page and "Withdraw the e-consult" not in page
        response = client.post(
            reverse("visits:econsult-decline", args=[econsult.pk]), {"reason": REASON}
        )
        assert response.status_code == 302
        client.logout()
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "Declined by the specialist" in page and REASON in page
        assert "Withdraw the e-consult" not in page

    def test_the_requester_withdraws_from_the_case_page(self, client, world):
        econsult = sent(world)
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "Withdraw the e-consult" in page and "Decline the e-consult" not in page
        response = client.post(reverse("visits:econsult-withdraw", args=[econsult.pk]))
        assert response.status_code == 302
        econsult.refresh_from_db()
        assert econsult.state == State.WITHDRAWN

    def test_a_decline_without_a_reason_is_a_400_with_the_message(self, client, world):
        econsult = sent(world)
        sign_in(client, world.other_clinician)
        response = client.post(
            reverse("visits:econsult-decline", args=[econsult.pk]), {"reason": " "}
        )
        assert response.status_code == 400 and b"This field is required" in response.content
        econsult.refresh_from_db()
        assert econsult.state == State.SENT

    def test_the_wrong_side_gets_a_400_and_nothing_changes(self, client, world):
        econsult = sent(world)
        sign_in(client, world.clinician)
        response = client.post(
            reverse("visits:econsult-decline", args=[econsult.pk]), {"reason": REASON}
        )
        assert response.status_code == 400
        client.logout()
        sign_in(client, world.other_clinician)
        response = client.post(reverse("visits:econsult-withdraw", args=[econsult.pk]))
        assert response.status_code == 400
        econsult.refresh_from_db()
        assert econsult.state == State.SENT

    @pytest.mark.parametrize("who", ["third_clinician", "outside_clinician", "patient", "anon"])
    @pytest.mark.parametrize("route", ["visits:econsult-decline", "visits:econsult-withdraw"])
    def test_outsiders_are_refused(self, client, world, who, route):
        econsult = sent(world)
        if who == "third_clinician":
            sign_in(client, make_staff(world.practice, "clinician", "d3@alpha.test", "Dr Third"))
        elif who == "patient":
            sign_in(client, world.patient.user)
        elif who == "outside_clinician":
            sign_in(client, world.outside_clinician)
        response = client.post(reverse(route, args=[econsult.pk]), {"reason": REASON})
        if who == "anon":
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("accounts:login"))
        elif who == "patient":
            assert response.status_code == 403
        else:
            assert response.status_code == 404
        econsult.refresh_from_db()
        assert econsult.state == State.SENT

    def test_a_get_is_refused(self, client, world):
        econsult = sent(world)
        sign_in(client, world.other_clinician)
        assert client.get(reverse("visits:econsult-decline", args=[econsult.pk])).status_code == 405
