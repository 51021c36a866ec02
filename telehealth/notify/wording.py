"""Message wording: the built-in templates (English and Spanish), merge tokens, rendering,
validation of unknown tokens, and the SMS segment budget.

Templates use `{token}` placeholders. A practice can override any template in the admin; the
override is validated with `validate_template` before it is saved."""

import math
import re
import string
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext

TOKENS = frozenset(
    {
        "patient_first_name",
        "provider_name",
        "start_local",
        "old_start_local",
        "join_link",
        "join_instructions",
        "confirm_link",
        "cancel_link",
        "practice_phone",
        "practice_name",
        "rebook_link",
        "summary_link",
        "portal_link",
        "account_link",
        "account_invite",
        "emergency_number",
        "visit_type",
        "survey_link",
        "review_link",
    }
)

# A realistic, long-ish value for each token: previews and the segment budget use these.
SAMPLE_CONTEXT = {
    "patient_first_name": "Alexandra",
    "provider_name": "Dr. Ana Ruiz, MD",
    "start_local": "Tue 24 Nov 2026 2:30 p.m. EST",
    "old_start_local": "Mon 23 Nov 2026 9:15 a.m. EST",
    "join_link": "https://clinic.example.org/v/Ab3dE5gH7jK9",
    "join_instructions": (
        "How to join your video visit: open https://clinic.example.org/v/Ab3dE5gH7jK9 on a "
        "phone or computer with a camera. The waiting room opens 15 minutes before the start."
    ),
    "confirm_link": "https://clinic.example.org/a/Ab3dE5gH7jK9",
    "cancel_link": "https://clinic.example.org/a/Ab3dE5gH7jK9",
    "practice_phone": "+1 617-555-0100",
    "practice_name": "Riverside Family Health",
    "rebook_link": "https://clinic.example.org/book/riverside/",
    "summary_link": "https://clinic.example.org/visits/summary/Ab3dE5gH7jK9/",
    "portal_link": "https://clinic.example.org/messaging/threads/12345/",
    "account_link": "https://clinic.example.org/accounts/invitation/Ab3dE5gH7jK9:1kXyZq:Ab3dE5/",
    "account_invite": (
        "New here? Create your patient account to message your care team, see your "
        "appointments, see a clinician now by video and follow your home readings: "
        "https://clinic.example.org/accounts/invitation/Ab3dE5gH7jK9:1kXyZq:Ab3dE5/"
    ),
    "emergency_number": "911",
    "visit_type": "New patient visit (in person)",
    "survey_link": "https://clinic.example.org/feedback/s/Ab3dE5gH7jK9:1kXyZq:Ab3dE5gH7jK9/",
    "review_link": "https://g.page/r/riverside-family-health/review",
}

SMS = "sms"
EMAIL = "email"

# The whole "how to join" paragraph of a video visit's emails, so that one template serves
# every kind of visit: `{join_instructions}` is this paragraph, in the patient's language, for a
# video visit and empty for any other (`render` closes the gap it leaves).
JOIN_INSTRUCTIONS = {
    "en": (
        "How to join your video visit: open {join_link} on a phone or computer with a camera. "
        "The waiting room opens {minutes} minutes before the start."
    ),
    "es": (
        "Cómo entrar a su videoconsulta: abra {join_link} en un teléfono o una computadora con "
        "cámara. La sala de espera abre {minutes} minutos antes de la hora de la cita."
    ),
}


def join_instructions(*, language: str, join_link: str, minutes: int) -> str:
    text = JOIN_INSTRUCTIONS.get(language, JOIN_INSTRUCTIONS["en"])
    return text.format(join_link=join_link, minutes=minutes)


# (key, channel, language) -> (subject, body)
BUILT_IN: dict[tuple[str, str, str], tuple[str, str]] = {
    ("appointment.confirmation", SMS, "en"): (
        "",
        (
            "{practice_name}: you're booked with {provider_name} on {start_local}. "
            "Reply C to confirm, N to cancel, R to reschedule. {confirm_link}"
        ),
    ),
    ("appointment.confirmation", SMS, "es"): (
        "",
        (
            "{practice_name}: su cita con {provider_name} es el {start_local}. "
            "Responda C para confirmar, N para cancelar, R para cambiarla. {confirm_link}"
        ),
    ),
    ("appointment.confirmation", EMAIL, "en"): (
        "Your visit with {practice_name} is booked",
        (
            "Hello {patient_first_name},\n\n"
            "Your visit with {provider_name} is booked for {start_local}.\n"
            "Visit type: {visit_type}\n\n"
            "{join_instructions}\n\n"
            "To confirm, reschedule or cancel: {confirm_link}\n\n"
            "The attached calendar file adds the visit to your calendar.\n\n"
            "{account_invite}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.confirmation", EMAIL, "es"): (
        "Su cita con {practice_name} está programada",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su cita con {provider_name} está programada para el {start_local}.\n"
            "Tipo de consulta: {visit_type}\n\n"
            "{join_instructions}\n\n"
            "Para confirmarla, cambiarla o cancelarla: {confirm_link}\n\n"
            "El archivo adjunto agrega la cita a su calendario.\n\n"
            "{account_invite}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.moved", SMS, "en"): (
        "",
        (
            "{practice_name}: your visit with {provider_name} moved from {old_start_local} "
            "to {start_local}. Manage: {confirm_link}"
        ),
    ),
    ("appointment.moved", SMS, "es"): (
        "",
        (
            "{practice_name}: su cita con {provider_name} cambió del {old_start_local} "
            "al {start_local}. Gestionar: {confirm_link}"
        ),
    ),
    ("appointment.moved", EMAIL, "en"): (
        "Your visit with {practice_name} has moved",
        (
            "Hello {patient_first_name},\n\n"
            "Your visit with {provider_name} has moved.\n\n"
            "Was: {old_start_local}\n"
            "Now: {start_local}\n\n"
            "{join_instructions}\n\n"
            "To confirm, reschedule or cancel: {confirm_link}\n\n"
            "The attached calendar file moves the visit in your calendar.\n\n"
            "{account_invite}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.moved", EMAIL, "es"): (
        "Su cita con {practice_name} cambió de hora",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su cita con {provider_name} cambió de hora.\n\n"
            "Antes: {old_start_local}\n"
            "Ahora: {start_local}\n\n"
            "{join_instructions}\n\n"
            "Para confirmarla, cambiarla o cancelarla: {confirm_link}\n\n"
            "El archivo adjunto cambia la hora de la cita en su calendario.\n\n"
            "{account_invite}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.reminder", SMS, "en"): (
        "",
        (
            "Reminder from {practice_name}: {provider_name}, {start_local}. "
            "Reply C to confirm, N to cancel, R to reschedule."
        ),
    ),
    ("appointment.reminder", SMS, "es"): (
        "",
        (
            "Recordatorio de {practice_name}: {provider_name}, {start_local}. "
            "Responda C para confirmar, N para cancelar, R para cambiarla."
        ),
    ),
    ("appointment.reminder", EMAIL, "en"): (
        "Reminder: your visit on {start_local}",
        (
            "Hello {patient_first_name},\n\n"
            "This is a reminder of your visit with {provider_name} on {start_local}.\n\n"
            "{join_instructions}\n\n"
            "Confirm, reschedule or cancel: {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.reminder", EMAIL, "es"): (
        "Recordatorio: su cita del {start_local}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Le recordamos su cita con {provider_name} el {start_local}.\n\n"
            "{join_instructions}\n\n"
            "Confirmar, cambiar o cancelar: {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.join_link", SMS, "en"): (
        "",
        (
            "{practice_name}: your video visit with {provider_name} starts soon. "
            "Join here: {join_link}"
        ),
    ),
    ("appointment.join_link", SMS, "es"): (
        "",
        (
            "{practice_name}: su videoconsulta con {provider_name} empieza pronto. "
            "Entre aquí: {join_link}"
        ),
    ),
    ("appointment.join_link", EMAIL, "en"): (
        "Your video visit with {practice_name}: how to join",
        (
            "Hello {patient_first_name},\n\n"
            "Your video visit with {provider_name} is on {start_local}.\n\n"
            "{join_instructions}\n\n"
            "Need to reschedule or cancel? {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.join_link", EMAIL, "es"): (
        "Su videoconsulta con {practice_name}: cómo entrar",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su videoconsulta con {provider_name} es el {start_local}.\n\n"
            "{join_instructions}\n\n"
            "¿Necesita cambiarla o cancelarla? {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.cancelled", SMS, "en"): (
        "",
        ("{practice_name}: your visit on {start_local} is cancelled. Book again: {rebook_link}"),
    ),
    ("appointment.cancelled", SMS, "es"): (
        "",
        (
            "{practice_name}: su cita del {start_local} está cancelada. "
            "Vuelva a programar: {rebook_link}"
        ),
    ),
    ("appointment.cancelled", EMAIL, "en"): (
        "Your visit with {practice_name} is cancelled",
        (
            "Hello {patient_first_name},\n\n"
            "Your visit with {provider_name} on {start_local} is cancelled.\n\n"
            "To book another time: {rebook_link}\n\n"
            "The attached calendar file takes the visit out of your calendar.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.cancelled", EMAIL, "es"): (
        "Su cita con {practice_name} está cancelada",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su cita con {provider_name} del {start_local} está cancelada.\n\n"
            "Para programar otra cita: {rebook_link}\n\n"
            "El archivo adjunto quita la cita de su calendario.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("appointment.no_show", SMS, "en"): (
        "",
        (
            "{practice_name}: we missed you today. Book a new time here: {rebook_link} "
            "or call {practice_phone}."
        ),
    ),
    ("appointment.no_show", SMS, "es"): (
        "",
        (
            "{practice_name}: hoy no pudimos verle. Programe otra cita aquí: {rebook_link} "
            "o llame al {practice_phone}."
        ),
    ),
    ("appointment.no_show", EMAIL, "en"): (
        "We missed you today",
        (
            "Hello {patient_first_name},\n\n"
            "We missed you at your visit with {provider_name} on {start_local}.\n\n"
            "Book a new time: {rebook_link}\nOr call us: {practice_phone}\n\n"
            "{practice_name}"
        ),
    ),
    ("appointment.no_show", EMAIL, "es"): (
        "Hoy no pudimos verle",
        (
            "Hola, {patient_first_name}:\n\n"
            "No pudimos verle en su cita con {provider_name} el {start_local}.\n\n"
            "Programe otra cita: {rebook_link}\nO llámenos: {practice_phone}\n\n"
            "{practice_name}"
        ),
    ),
    ("sms.confirmed", SMS, "en"): (
        "",
        ("{practice_name}: thank you, your visit on {start_local} is confirmed."),
    ),
    ("sms.confirmed", SMS, "es"): (
        "",
        ("{practice_name}: gracias, su cita del {start_local} está confirmada."),
    ),
    ("sms.reschedule", SMS, "en"): (
        "",
        ("{practice_name}: choose a new time for your {start_local} visit: {confirm_link}"),
    ),
    ("sms.reschedule", SMS, "es"): (
        "",
        ("{practice_name}: elija otro horario para su cita del {start_local}: {confirm_link}"),
    ),
    ("sms.no_appointment", SMS, "en"): (
        "",
        (
            "{practice_name}: we found no upcoming visit for this number. "
            "Call {practice_phone} or book: {rebook_link}"
        ),
    ),
    ("sms.no_appointment", SMS, "es"): (
        "",
        (
            "{practice_name}: no encontramos citas próximas para este número. "
            "Llame al {practice_phone} o programe: {rebook_link}"
        ),
    ),
    ("sms.help", SMS, "en"): (
        "",
        (
            "{practice_name}: call {practice_phone}. Reply STOP to stop texts, START to resume. "
            "In an emergency call 911."
        ),
    ),
    ("sms.help", SMS, "es"): (
        "",
        (
            "{practice_name}: llame al {practice_phone}. Responda STOP para dejar de recibir "
            "mensajes, START para volver. En una emergencia llame al 911."
        ),
    ),
    ("sms.opted_in", SMS, "en"): (
        "",
        ("{practice_name}: texts are on again. Reply STOP to stop, HELP for help."),
    ),
    ("sms.opted_in", SMS, "es"): (
        "",
        (
            "{practice_name}: los mensajes están activos de nuevo. Responda STOP para detenerlos, "
            "HELP para ayuda."
        ),
    ),
    ("waitlist.offer", SMS, "en"): (
        "",
        (
            "{practice_name}: an earlier time opened: {start_local} with {provider_name}. "
            "First to accept gets it: {confirm_link}"
        ),
    ),
    ("waitlist.offer", SMS, "es"): (
        "",
        (
            "{practice_name}: se abrió un horario antes: {start_local} con {provider_name}. "
            "Es para quien acepte primero: {confirm_link}"
        ),
    ),
    ("waitlist.offer", EMAIL, "en"): (
        "An earlier appointment is available",
        (
            "Hello {patient_first_name},\n\n"
            "An earlier time opened up: {start_local} with {provider_name}.\n"
            "It goes to the first person who accepts: {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("waitlist.offer", EMAIL, "es"): (
        "Hay una cita disponible antes",
        (
            "Hola, {patient_first_name}:\n\n"
            "Se abrió un horario antes: {start_local} con {provider_name}.\n"
            "Es para la primera persona que acepte: {confirm_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    # The portal account: the paragraph appointment emails carry while the patient has no
    # account, and the invitation staff send from the chart.
    # {account_invite} is this paragraph while the patient has no account, else empty (see
    # telehealth.accounts.invitations); a practice may reword it like any message.
    ("account.invite_paragraph", EMAIL, "en"): (
        "",
        (
            "New here? Create your patient account to message your care team, see your "
            "appointments, see a clinician now by video and follow your home readings: "
            "{account_link}"
        ),
    ),
    ("account.invite_paragraph", EMAIL, "es"): (
        "",
        (
            "¿Es su primera vez? Cree su cuenta de paciente para escribir a su equipo de "
            "atención, ver sus citas, consultar ahora con un clínico por video y seguir sus "
            "mediciones en casa: {account_link}"
        ),
    ),
    ("account.invitation", EMAIL, "en"): (
        "Create your patient account with {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "{practice_name} invites you to create your patient account. With it you can "
            "message your care team, see your appointments, see a clinician now by video and "
            "follow your home readings.\n\n"
            "Create your account: {account_link}\n\n"
            "You will be asked for your date of birth, then to choose a password. The link "
            "works for 14 days and only once. If you did not expect this email, you can "
            "ignore it.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("account.invitation", EMAIL, "es"): (
        "Cree su cuenta de paciente con {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "{practice_name} le invita a crear su cuenta de paciente. Con ella puede escribir "
            "a su equipo de atención, ver sus citas, consultar ahora con un clínico por video "
            "y seguir sus mediciones en casa.\n\n"
            "Cree su cuenta: {account_link}\n\n"
            "Se le pedirá su fecha de nacimiento y luego que elija una contraseña. El enlace "
            "sirve durante 14 días y una sola vez. Si no esperaba este correo, puede "
            "ignorarlo.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    # Posted in the patient's inbox by visits. No clinical detail in the message itself: the
    # link opens the summary after a date-of-birth check.
    ("visit.summary", SMS, "en"): (
        "",
        "{practice_name}: your visit summary from {provider_name} is ready: {summary_link}",
    ),
    ("visit.summary", SMS, "es"): (
        "",
        "{practice_name}: el resumen de su consulta con {provider_name} está listo: {summary_link}",
    ),
    ("intake.request", SMS, "en"): (
        "",
        (
            "{practice_name}: before your visit with {provider_name}, please fill in your "
            "forms (about 10 minutes): {portal_link}"
        ),
    ),
    ("intake.request", SMS, "es"): (
        "",
        (
            "{practice_name}: antes de su cita con {provider_name}, llene sus formularios "
            "(unos 10 minutos): {portal_link}"
        ),
    ),
    ("intake.request", EMAIL, "en"): (
        "Your forms before your visit with {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "Before your visit with {provider_name}, please fill in your health forms and sign "
            "the consent. It takes about 10 minutes, on a phone or a computer, and you can stop "
            "and finish later: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("intake.request", EMAIL, "es"): (
        "Sus formularios antes de su cita con {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Antes de su cita con {provider_name}, llene sus formularios de salud y firme el "
            "consentimiento. Toma unos 10 minutos, en el teléfono o la computadora, y puede "
            "terminar más tarde: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("messaging.after_hours", SMS, "en"): (
        "",
        (
            "{practice_name}: thanks for your message. We're closed now and will answer when "
            "we open. In an emergency, call {emergency_number}."
        ),
    ),
    ("messaging.after_hours", SMS, "es"): (
        "",
        (
            "{practice_name}: gracias por su mensaje. Ahora estamos cerrados y le responderemos "
            "cuando abramos. En una emergencia, llame al {emergency_number}."
        ),
    ),
    ("messaging.urgent", SMS, "en"): (
        "",
        (
            "{practice_name}: if this is an emergency, call {emergency_number} now or go to the "
            "nearest emergency room. Our staff will see your message."
        ),
    ),
    ("messaging.urgent", SMS, "es"): (
        "",
        (
            "{practice_name}: si es una emergencia, llame al {emergency_number} ahora o vaya a "
            "la sala de emergencias más cercana. Nuestro equipo verá su mensaje."
        ),
    ),
    ("messaging.web_chat_received", SMS, "en"): (
        "",
        (
            "{practice_name}: we got your message and will reply by text to this number. "
            "Reply STOP to opt out."
        ),
    ),
    ("messaging.web_chat_received", SMS, "es"): (
        "",
        (
            "{practice_name}: recibimos su mensaje y le responderemos por texto a este número. "
            "Responda STOP para no recibir más mensajes."
        ),
    ),
    ("messaging.new_message", EMAIL, "en"): (
        "New secure message from {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "You have a new message from {practice_name}. For your privacy, read it in the "
            "patient portal: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("messaging.new_message", EMAIL, "es"): (
        "Nuevo mensaje seguro de {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Tiene un mensaje nuevo de {practice_name}. Para proteger su privacidad, léalo en "
            "el portal del paciente: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    # E-visits (visits): a clinician's question or response waits in the portal (no PHI in
    # the message), or the clinician asks the patient to book a live visit.
    ("evisit.update", SMS, "en"): (
        "",
        "{practice_name}: there is news about your e-visit. Read it in the portal: {portal_link}",
    ),
    ("evisit.update", SMS, "es"): (
        "",
        (
            "{practice_name}: hay novedades sobre su consulta en línea. Léalas en el portal: "
            "{portal_link}"
        ),
    ),
    ("evisit.update", EMAIL, "en"): (
        "News about your e-visit with {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "Your clinician has written about your e-visit. For your privacy, read it in the "
            "patient portal: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("evisit.update", EMAIL, "es"): (
        "Novedades sobre su consulta en línea con {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su clínico ha escrito sobre su consulta en línea. Para proteger su privacidad, "
            "léalo en el portal del paciente: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("evisit.escalated", SMS, "en"): (
        "",
        (
            "{practice_name}: your clinician would like to see you in a live visit. "
            "Book a time: {rebook_link}"
        ),
    ),
    ("evisit.escalated", SMS, "es"): (
        "",
        (
            "{practice_name}: su clínico quiere verle en una consulta en vivo. "
            "Reserve una hora: {rebook_link}"
        ),
    ),
    ("evisit.escalated", EMAIL, "en"): (
        "Please book a visit with {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "Your clinician reviewed your e-visit and would like to see you in a live visit. "
            "Book a time here: {rebook_link}\n\n"
            "More in the patient portal: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("evisit.escalated", EMAIL, "es"): (
        "Reserve una consulta con {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Su clínico revisó su consulta en línea y quiere verle en una consulta en vivo. "
            "Reserve una hora aquí: {rebook_link}\n\n"
            "Más en el portal del paciente: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    # A document shared with the patient (documents): that one is ready, never what it is.
    ("documents.shared", SMS, "en"): (
        "",
        "{practice_name}: a new document is ready for you in the patient portal: {portal_link}",
    ),
    ("documents.shared", SMS, "es"): (
        "",
        "{practice_name}: tiene un documento nuevo en el portal del paciente: {portal_link}",
    ),
    ("documents.shared", EMAIL, "en"): (
        "A new document from {practice_name}",
        (
            "Hello {patient_first_name},\n\n"
            "{practice_name} has shared a document with you. For your privacy, open it in the "
            "patient portal: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("documents.shared", EMAIL, "es"): (
        "Un documento nuevo de {practice_name}",
        (
            "Hola, {patient_first_name}:\n\n"
            "{practice_name} compartió un documento con usted. Para proteger su privacidad, "
            "ábralo en el portal del paciente: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    # Group sessions (visits app). They never name the session's subject: see
    # visits/group_messages.py.
    ("group.place", SMS, "en"): (
        "",
        (
            "{practice_name}: you have a place in a group session with {provider_name}, "
            "{start_local}. Details and joining: {portal_link}"
        ),
    ),
    ("group.place", SMS, "es"): (
        "",
        (
            "{practice_name}: tiene una plaza en una sesión grupal con {provider_name}, "
            "{start_local}. Detalles y acceso: {portal_link}"
        ),
    ),
    ("group.place", EMAIL, "en"): (
        "Your group session on {start_local}",
        (
            "Hello {patient_first_name},\n\n"
            "You have a place in a group session with {provider_name} on {start_local}.\n\n"
            "See it, join it by video (the room opens 15 minutes before the start), choose "
            "the name others see, or give up your place in the patient portal: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("group.place", EMAIL, "es"): (
        "Su sesión grupal del {start_local}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Tiene una plaza en una sesión grupal con {provider_name} el {start_local}.\n\n"
            "En el portal del paciente puede verla, entrar por video (la sala abre 15 minutos "
            "antes del inicio), elegir el nombre que ven los demás o dejar su plaza: "
            "{portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("group.reminder", SMS, "en"): (
        "",
        (
            "Reminder from {practice_name}: group session with {provider_name}, "
            "{start_local}. Join: {portal_link}"
        ),
    ),
    ("group.reminder", SMS, "es"): (
        "",
        (
            "Recordatorio de {practice_name}: sesión grupal con {provider_name}, "
            "{start_local}. Acceso: {portal_link}"
        ),
    ),
    ("group.reminder", EMAIL, "en"): (
        "Reminder: your group session on {start_local}",
        (
            "Hello {patient_first_name},\n\n"
            "This is a reminder of your group session with {provider_name} on "
            "{start_local}.\n\n"
            "Join by video from the patient portal; the room opens 15 minutes before the "
            "start: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("group.reminder", EMAIL, "es"): (
        "Recordatorio: su sesión grupal del {start_local}",
        (
            "Hola, {patient_first_name}:\n\n"
            "Le recordamos su sesión grupal con {provider_name} el {start_local}.\n\n"
            "Entre por video desde el portal del paciente; la sala abre 15 minutos antes del "
            "inicio: {portal_link}\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("group.cancelled", SMS, "en"): (
        "",
        (
            "{practice_name}: the group session with {provider_name}, {start_local}, is "
            "cancelled. Questions: {practice_phone}"
        ),
    ),
    ("group.cancelled", SMS, "es"): (
        "",
        (
            "{practice_name}: la sesión grupal con {provider_name}, {start_local}, se canceló. "
            "Consultas: {practice_phone}"
        ),
    ),
    ("group.cancelled", EMAIL, "en"): (
        "Group session cancelled: {start_local}",
        (
            "Hello {patient_first_name},\n\n"
            "The group session with {provider_name} on {start_local} is cancelled. We are "
            "sorry for the change.\n\n"
            "Questions? Call us: {practice_phone}\n\n"
            "{practice_name}"
        ),
    ),
    ("group.cancelled", EMAIL, "es"): (
        "Sesión grupal cancelada: {start_local}",
        (
            "Hola, {patient_first_name}:\n\n"
            "La sesión grupal con {provider_name} del {start_local} se canceló. Lamentamos el "
            "cambio.\n\n"
            "¿Preguntas? Llámenos: {practice_phone}\n\n"
            "{practice_name}"
        ),
    ),
    # Post-visit survey and review request (feedback app).
    ("feedback.survey", SMS, "en"): (
        "",
        "{practice_name}: how was your video visit? 3 quick questions: {survey_link}",
    ),
    ("feedback.survey", SMS, "es"): (
        "",
        "{practice_name}: ¿qué tal su videoconsulta? 3 preguntas rápidas: {survey_link}",
    ),
    ("feedback.survey", EMAIL, "en"): (
        "How was your visit with {practice_name}?",
        (
            "Hello {patient_first_name},\n\n"
            "Thank you for your video visit with {provider_name}. Would you tell us how it "
            "went? Three questions, about a minute: {survey_link}\n\n"
            "The link works for 14 days and needs no password.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("feedback.survey", EMAIL, "es"): (
        "¿Qué tal su consulta con {practice_name}?",
        (
            "Hola, {patient_first_name}:\n\n"
            "Gracias por su videoconsulta con {provider_name}. ¿Nos cuenta cómo le fue? Son "
            "tres preguntas, un minuto: {survey_link}\n\n"
            "El enlace funciona durante 14 días y no pide contraseña.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("feedback.review", SMS, "en"): (
        "",
        "{practice_name}: thank you for your kind rating! Would you share it in a review? "
        "{review_link}",
    ),
    ("feedback.review", SMS, "es"): (
        "",
        "{practice_name}: ¡gracias por su buena valoración! ¿La compartiría en una reseña? "
        "{review_link}",
    ),
    ("feedback.review", EMAIL, "en"): (
        "Would you review {practice_name}?",
        (
            "Hello {patient_first_name},\n\n"
            "Thank you for rating your visit. If you have a minute, a public review helps "
            "other patients find us: {review_link}\n\n"
            "You can say no: we will not ask again for a year.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
    ("feedback.review", EMAIL, "es"): (
        "¿Escribiría una reseña de {practice_name}?",
        (
            "Hola, {patient_first_name}:\n\n"
            "Gracias por valorar su consulta. Si tiene un minuto, una reseña pública ayuda a "
            "otros pacientes a encontrarnos: {review_link}\n\n"
            "Puede decir que no: no volveremos a preguntar en un año.\n\n"
            "{practice_name} · {practice_phone}"
        ),
    ),
}


class TemplateError(ValueError):
    pass


def tokens_in(text: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        raise TemplateError(gettext("Unbalanced braces: %(reason)s") % {"reason": exc}) from exc


@dataclass(frozen=True)
class SmsSize:
    characters: int
    segments: int
    encoding: str


GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€")


def sms_size(text: str) -> SmsSize:
    """Characters and segments as carriers count them (GSM-7: 160, or 153 per part; else
    UCS-2: 70, or 67 per part)."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsSize(units, segments, encoding)


def validate_template(*, channel: str, subject: str, body: str) -> None:
    """Refuse unknown tokens, tokens that do not render (a format spec, conversion or index),
    and SMS wording that would pass the segment budget."""
    unknown = (tokens_in(body) | tokens_in(subject)) - TOKENS
    if unknown:
        raise TemplateError(
            gettext("Unknown merge tokens: %(unknown)s. Available: %(available)s")
            % {
                "unknown": ", ".join("{" + t + "}" for t in sorted(unknown)),
                "available": ", ".join("{" + t + "}" for t in sorted(TOKENS)),
            }
        )
    try:
        subject.format_map(SAMPLE_CONTEXT)
        rendered = body.format_map(SAMPLE_CONTEXT)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise TemplateError(
            gettext("Write each merge token as {token}, with nothing after its name (%(reason)s).")
            % {"reason": exc}
        ) from exc
    if channel == SMS:
        size = sms_size(rendered)
        if size.segments > settings.SMS_SEGMENT_BUDGET:
            raise TemplateError(
                gettext(
                    "With typical values this text is %(characters)s characters "
                    "(%(segments)s %(encoding)s segments); the budget is %(budget)s. Shorten it."
                )
                % {
                    "characters": size.characters,
                    "segments": size.segments,
                    "encoding": size.encoding,
                    "budget": settings.SMS_SEGMENT_BUDGET,
                }
            )


# Three or more line breaks in a row (spaces between allowed) close up to one blank line.
_GAP = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


def render(text: str, context: dict[str, str]) -> str:
    """Fill the tokens. A token that stands alone as a paragraph and is empty for this message
    (`{join_instructions}` of an in-person visit) leaves no double gap behind."""
    return _GAP.sub("\n\n", text.format_map({t: context.get(t, "") for t in TOKENS}))
