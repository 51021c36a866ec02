"""A decline or a withdrawal racing an answer ends in exactly one of them: each takes the
case's row lock, and whichever comes second finds it closed and is refused (PostgreSQL).

Apart from test_econsult_closing, whose classes share one module-wide World in a transaction:
these tests commit, and must not run while that transaction is open."""

from collections.abc import Callable
from functools import partial

import pytest

from telehealth.notify.models import OutboundMessage
from tests.concurrency import at_once
from tests.visits.test_econsult_closing import REASON, sent
from visits import econsult_services as services


def race(acts: dict[str, Callable[[], object]]) -> dict[str, str]:
    """Run the acts at once (tests.concurrency.at_once): "done" or "refused" for each."""

    def outcome(name: str, act: Callable[[], object]) -> Callable[[], tuple[str, str]]:
        def call() -> tuple[str, str]:
            try:
                act()
            except services.EConsultError:
                return name, "refused"
            return name, "done"

        return call

    outcomes = at_once([outcome(name, act) for name, act in acts.items()])
    answers = [o for o in outcomes if not isinstance(o, str)]
    assert len(answers) == len(outcomes), outcomes  # what else a thread raised shows here
    return dict(answers)


@pytest.mark.django_db(transaction=True)
def test_a_decline_racing_an_answer_ends_in_exactly_one(require_postgres, world):
    """Both take the case's row lock; whichever comes second finds it closed and is refused."""
    specialist = world.other_clinician
    for _round in range(5):
        econsult = sent(world)
        results = race(
            {
                "declined": partial(
                    services.econsult_decline,
                    econsult=econsult,
                    specialist=specialist,
                    reason=REASON,
                ),
                "answered": partial(
                    services.econsult_answer,
                    econsult=econsult,
                    specialist=specialist,
                    answer="Yes",
                    verbal_report=False,
                ),
            }
        )
        assert sorted(results.values()) == ["done", "refused"], results
        winner = next(name for name, result in results.items() if result == "done")
        econsult.refresh_from_db()
        assert econsult.state == winner
        assert (econsult.answered_at is None) == (winner == "declined")
        assert (econsult.closed_at is None) == (winner == "answered")
        assert (econsult.decline_reason == REASON) == (winner == "declined")
        notices = OutboundMessage.objects.filter(dedupe_key__startswith=f"econsult:{econsult.pk}:")
        assert set(notices.values_list("template", flat=True)) == {
            "econsult.sent",
            f"econsult.{winner}",
        }


@pytest.mark.django_db(transaction=True)
def test_a_withdrawal_racing_an_answer_ends_in_exactly_one(require_postgres, world):
    econsult = sent(world)
    results = race(
        {
            "withdrawn": lambda: services.econsult_withdraw(
                econsult=econsult, requester=world.clinician
            ),
            "answered": lambda: services.econsult_answer(
                econsult=econsult,
                specialist=world.other_clinician,
                answer="Yes",
                verbal_report=False,
            ),
        }
    )
    assert sorted(results.values()) == ["done", "refused"], results
    econsult.refresh_from_db()
    assert results[econsult.state] == "done"
