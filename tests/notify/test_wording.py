import pytest

from telehealth.notify import wording
from telehealth.notify.wording import TemplateError, sms_size, validate_template


@pytest.mark.parametrize(("key", "channel", "language"), sorted(wording.BUILT_IN))
def test_every_built_in_template_is_valid_and_within_budget(key, channel, language):
    subject, body = wording.BUILT_IN[(key, channel, language)]
    validate_template(channel=channel, subject=subject, body=body)


def test_every_message_has_english_and_spanish():
    pairs = {(key, channel) for key, channel, _ in wording.BUILT_IN}
    for key, channel in pairs:
        assert (key, channel, "en") in wording.BUILT_IN
        assert (key, channel, "es") in wording.BUILT_IN


def test_unknown_tokens_are_named_in_the_error():
    with pytest.raises(TemplateError, match=r"Unknown merge tokens: \{patient_ssn\}"):
        validate_template(channel="sms", subject="", body="Hi {patient_first_name} {patient_ssn}")


def test_unbalanced_braces_are_refused():
    with pytest.raises(TemplateError, match="Unbalanced"):
        validate_template(channel="email", subject="", body="Hello {patient_first_name")


def test_text_over_the_segment_budget_is_refused(settings):
    settings.SMS_SEGMENT_BUDGET = 1
    with pytest.raises(TemplateError, match="budget is 1"):
        validate_template(channel="sms", subject="", body="x" * 150 + " {confirm_link}")


def test_segments_are_counted_as_carriers_count_them():
    assert sms_size("a" * 160) == wording.SmsSize(160, 1, "GSM-7")
    assert sms_size("a" * 161).segments == 2
    assert sms_size("{" * 80).characters == 160  # extended characters take two units
    assert sms_size("á" * 70) == wording.SmsSize(70, 1, "UCS-2")
    assert sms_size("á" * 71).segments == 2


def test_render_fills_tokens_and_leaves_missing_ones_empty():
    text = wording.render(
        "Hi {patient_first_name}, call {practice_phone}.", {"patient_first_name": "Ana"}
    )
    assert text == "Hi Ana, call ."


def test_an_empty_paragraph_token_leaves_one_blank_line_not_three():
    body = "Hello.\n\nManage: {confirm_link}\n\n{account_invite}\n\n{practice_name}"
    assert wording.render(body, {"confirm_link": "L", "practice_name": "P"}) == (
        "Hello.\n\nManage: L\n\nP"
    )
    filled = wording.render(
        body, {"confirm_link": "L", "account_invite": "Join.", "practice_name": "P"}
    )
    assert filled == "Hello.\n\nManage: L\n\nJoin.\n\nP"


def test_a_practice_may_place_the_account_invitation_in_its_own_wording():
    validate_template(
        channel="email",
        subject="Booked with {practice_name}",
        body="Booked.\n\n{account_invite}\n\nOr go straight to {account_link}",
    )
