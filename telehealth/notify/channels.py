"""Sending: SMS backends behind one small interface, and email through Django's backends.

Backends raise TransientSendError (try again later) or PermanentSendError (never retry)."""

import fcntl
import json
import re
import smtplib
import sys
import uuid
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends import console
from django.core.mail.message import make_msgid
from django.utils.module_loading import import_string


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    dedupe_key: str


class ConsoleSmsBackend:
    """The embedded default: texts are printed, never sent."""

    def send(self, sms: Sms) -> str:
        sys.stdout.write(f"--- SMS to {sms.to} ---\n{sms.body}\n\n")
        sys.stdout.flush()
        return f"console-{uuid.uuid4().hex[:16]}"


class ConsoleEmailBackend(console.EmailBackend):
    """The embedded default: emails printed as they read (recipient, subject, text body and the
    names of the parts besides it), in the same shape as the printed texts, rather than as MIME
    with an HTML copy and an encoded calendar file around them."""

    def write_message(self, message: EmailMessage) -> None:
        parts = [
            f"{mimetype} copy"
            for _content, mimetype in getattr(message, "alternatives", [])
            if isinstance(mimetype, str)
        ] + [
            str(item[0]) if isinstance(item, tuple) else str(item.get_filename())
            for item in message.attachments
        ]
        lines = [
            f"--- Email to {', '.join(message.recipients())} ---",
            f"Subject: {message.subject}",
            "",
            str(message.body).rstrip(),
        ]
        if parts:
            lines += ["", f"(with: {', '.join(parts)})"]
        self.stream.write("\n".join(lines) + "\n\n")


class LocmemSmsBackend:
    """Tests: texts are kept in `outbox` in this process."""

    outbox: list[Sms] = []

    def send(self, sms: Sms) -> str:
        type(self).outbox.append(sms)
        return f"locmem-{uuid.uuid4().hex[:16]}"


class FileRecordingSmsBackend:
    """Appends each send, with its dedupe key, to SMS_RECORD_PATH. Works across processes:
    the reliability test and the benchmark count sends per key from the file."""

    def send(self, sms: Sms) -> str:
        line = json.dumps({"key": sms.dedupe_key, "to": sms.to}) + "\n"
        with open(settings.SMS_RECORD_PATH, "a", encoding="utf-8") as out:
            fcntl.flock(out, fcntl.LOCK_EX)
            out.write(line)
            out.flush()  # in the kernel now: a killed process cannot lose it
        return f"file-{uuid.uuid4().hex[:16]}"


# Twilio error codes that no retry will fix.
TWILIO_PERMANENT = {
    21211,  # invalid 'To' number
    21214,  # 'To' number cannot be reached
    21408,  # region not enabled
    21610,  # recipient replied STOP
    21612,  # cannot route to this number
    21614,  # not a mobile number
}


class TwilioSmsBackend:
    def __init__(self) -> None:
        from twilio.rest import Client

        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)

    def send(self, sms: Sms) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        sender = (
            {"messaging_service_sid": settings.TWILIO_MESSAGING_SERVICE_SID}
            if settings.TWILIO_MESSAGING_SERVICE_SID
            else {"from_": settings.TWILIO_FROM_NUMBER}
        )
        callback = settings.SITE_URL + "/webhooks/twilio/status"
        try:
            message = self.client.messages.create(
                to=sms.to, body=sms.body, status_callback=callback, **sender
            )
        except TwilioRestException as exc:
            if exc.code in TWILIO_PERMANENT or (
                exc.status and 400 <= exc.status < 500 and exc.status != 429
            ):
                raise PermanentSendError(f"Twilio {exc.code}: {exc.msg}") from exc
            raise TransientSendError(f"Twilio {exc.status} {exc.code}") from exc
        except (TwilioException, OSError) as exc:
            raise TransientSendError(str(exc)[:200]) from exc
        return message.sid


@cache
def _backend_class(path: str):
    return import_string(path)


def sms_backend():
    return _backend_class(settings.SMS_BACKEND)()


def send_sms(sms: Sms) -> str:
    return sms_backend().send(sms)


ITIP_METHOD = re.compile(r"^METHOD:([A-Z-]+)\r?$", re.MULTILINE)


def calendar_content_type(ics: str) -> str:
    """The MIME type of an emailed calendar file: RFC 6047 2.4 wants the iTIP method of the
    file on it (`text/calendar; method=REQUEST`), which is how mail clients tell an
    invitation or a cancellation from a file to import. Django adds `charset="utf-8"`."""
    found = ITIP_METHOD.search(ics)
    return f"text/calendar; method={found.group(1)}" if found else "text/calendar"


def send_email(*, to: str, subject: str, body: str, html: str, ics: str) -> str:
    message_id = make_msgid(domain="telehealth")
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=[to], headers={"Message-ID": message_id}
    )
    if html:
        message.attach_alternative(html, "text/html")
    if ics:
        message.attach("appointment.ics", ics, calendar_content_type(ics))
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentSendError("The mail server refused the address.") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientSendError(str(exc)[:200]) from exc
    return message_id[:64]
