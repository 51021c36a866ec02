"""Intake refuses bad input and unlikely timing politely: numbers FHIR cannot hold, a guessed
date of birth, a malformed editor post, an admin with no practice, staff who may not read
answers, two requests starting the same form, and a rejected version or completion that must
leave nothing half-saved."""

import threading
import time
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone

from intake import questionnaire as fhirq
from intake import services
from intake.links import INTAKE
from intake.models import Form, FormVersion, Response
from telehealth import links
from tests.conftest import sign_in
from tests.intake.test_intake import PNG, history_answers

pytestmark = pytest.mark.django_db

NUMBERS = {
    "resourceType": "Questionnaire",
    "url": "urn:test:numbers",
    "title": "Numbers",
    "status": "active",
    "item": [
        {"linkId": "age", "type": "integer", "text": "Your age", "required": True},
        {"linkId": "temp", "type": "decimal", "text": "Your temperature"},
    ],
}


@pytest.fixture
def numbers_form(world):
    form = Form.objects.create(practice=world.practice, slug="numbers", title="Numbers")
    services.form_save_version(form=form, definition=NUMBERS, by=None)
    return form


@pytest.fixture
def history(world):
    services.install_builtin(world.practice)
    return Form.objects.get(practice=world.practice, slug="medical-history")


# --- Numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "raw", "reason"),
    [
        ("age", "2147483648", "That number is out of range."),
        ("age", "-2147483649", "That number is out of range."),
        ("age", "99999999999999999999", "That number is out of range."),
        ("temp", "NaN", "Enter a number."),
        ("temp", "sNaN", "Enter a number."),
        ("temp", "Infinity", "Enter a number."),
        ("temp", "-inf", "Enter a number."),
        ("temp", "1e400", "That number is out of range."),
        ("temp", "-1e16", "That number is out of range."),
    ],
)
def test_numbers_fhir_cannot_hold_get_a_reason_on_their_question(link, raw, reason):
    answers = {"age": ["40"], "temp": ["37.5"], link: [raw]}
    with pytest.raises(fhirq.AnswerErrors) as problem:
        fhirq.clean(NUMBERS, answers, complete=True)
    assert problem.value.errors == {link: reason}


def test_numbers_at_the_edges_of_the_range_are_kept():
    low = fhirq.clean(NUMBERS, {"age": ["-2147483648"], "temp": ["-1e15"]}, complete=True)
    assert low == {"age": [-2147483648], "temp": [Decimal("-1e15")]}
    high = fhirq.clean(NUMBERS, {"age": ["2147483647"], "temp": ["0.000001"]}, complete=True)
    resource = fhirq.response_resource(
        definition=NUMBERS,
        canonical="urn:test:numbers|1",
        answers=high,
        patient_ref="Patient/1",
        authored=timezone.now(),
    )
    assert resource["item"][0]["answer"] == [{"valueInteger": 2147483647}]


def test_a_resource_fhir_refuses_is_an_answer_error_on_its_question_not_a_crash():
    with pytest.raises(fhirq.AnswerErrors) as problem:
        fhirq.response_resource(
            definition=NUMBERS,
            canonical="urn:test:numbers|1",
            answers={"age": [2**31]},  # past clean(), as a stored answer could be
            patient_ref="Patient/1",
            authored=timezone.now(),
        )
    assert set(problem.value.errors) == {"age"}


def test_a_question_without_text_still_makes_a_valid_response():
    definition = {**NUMBERS, "item": [{"linkId": "age", "type": "integer"}]}
    resource = fhirq.response_resource(
        definition=definition,
        canonical="urn:test:numbers|1",
        answers={"age": [40]},
        patient_ref="Patient/1",
        authored=timezone.now(),
    )
    assert resource["item"] == [{"linkId": "age", "answer": [{"valueInteger": 40}]}]


def test_submitting_an_out_of_range_number_is_a_400_with_the_reason(client, world, numbers_form):
    sign_in(client, world.patient.user)
    url = f"/intake/forms/{numbers_form.pk}/"
    page = client.post(url, {"age": "99999999999", "temp": "NaN", "action": "submit"})
    assert page.status_code == 400
    assert b"That number is out of range." in page.content
    assert b"Enter a number." in page.content
    response = Response.objects.get(form_version__form=numbers_form)
    assert response.status == Response.Status.IN_PROGRESS and response.answers == {}


# --- Completing atomically -----------------------------------------------------------------


def test_a_completion_whose_resource_cannot_be_built_stores_nothing(world):
    # Versions written without validation (fixtures, the admin site) can still be broken.
    form = Form.objects.create(practice=world.practice, slug="broken", title="Broken")
    broken = {**NUMBERS, "item": [{"linkId": "", "type": "string", "text": "Anything else?"}]}
    FormVersion.objects.create(form=form, version=1, questionnaire=broken)
    response = services.response_for(patient=world.patient, form=form)
    with pytest.raises(fhirq.AnswerErrors) as problem:
        services.response_save(response=response, raw={"": ["Nothing"]}, complete=True)
    assert "" in problem.value.errors
    response.refresh_from_db()
    assert response.status == Response.Status.IN_PROGRESS
    assert response.answers == {} and response.resource == {}


def test_saving_for_later_keeps_the_valid_answers_and_names_the_bad_ones(world, numbers_form):
    response = services.response_for(patient=world.patient, form=numbers_form)
    with pytest.raises(fhirq.AnswerErrors) as problem:
        services.response_save(
            response=response, raw={"age": ["41"], "temp": ["Infinity"]}, complete=False
        )
    assert set(problem.value.errors) == {"temp"}
    response.refresh_from_db()
    assert response.answers == {"age": [41]}


def test_a_response_cannot_be_completed_twice(world, history):
    response = services.response_for(patient=world.patient, form=history)
    stale = Response.objects.get(pk=response.pk)
    services.response_save(response=response, raw=history_answers(), complete=True)
    with pytest.raises(services.IntakeError):
        services.response_save(response=stale, raw=history_answers(smoking=["yes"]), complete=True)
    response.refresh_from_db()
    assert response.answers["smoking"] == ["never"]


# --- One response in progress --------------------------------------------------------------


def test_the_database_holds_one_response_in_progress_per_patient_and_version(world, history):
    first = services.response_for(patient=world.patient, form=history)
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(patient=world.patient, form_version=first.form_version)
    services.response_save(response=first, raw=history_answers(), complete=True)
    Response.objects.create(patient=world.patient, form_version=first.form_version)  # completed


@pytest.mark.django_db(transaction=True)
def test_two_requests_opening_a_form_at_once_share_one_response(world, require_postgres):
    # On SQLite the second writer waits on the first one's database lock and fails with
    # "database table is locked"; the race this proves needs PostgreSQL's row locks.
    services.install_builtin(world.practice)
    form = Form.objects.get(practice=world.practice, slug="medical-history")
    created = threading.Event()
    found: dict[str, int] = {}

    def first():
        try:
            with transaction.atomic():
                found["first"] = services.response_for(patient=world.patient, form=form).pk
                created.set()
                time.sleep(0.5)  # the second request looks and inserts before this commits
        finally:
            created.set()
            connection.close()

    def second():
        try:
            created.wait(5)
            found["second"] = services.response_for(patient=world.patient, form=form).pk
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert found["first"] == found["second"]
    assert Response.objects.filter(patient=world.patient).count() == 1


def test_opening_a_completed_form_shows_it_done_and_starts_nothing(client, world, history):
    sign_in(client, world.patient.user)
    url = f"/intake/forms/{history.pk}/"
    assert client.post(url, {**history_answers(), "action": "submit"}).status_code == 302
    page = client.get(url)
    assert page.status_code == 200
    assert b"You sent this form on" in page.content
    assert b"Lisinopril 10 mg daily" in page.content  # their own answers, to read
    assert b'name="action"' not in page.content
    assert Response.objects.filter(patient=world.patient).count() == 1
    again = client.post(url, {**history_answers(smoking=["yes"]), "action": "submit"})
    assert again["Location"] == "/intake/"
    assert Response.objects.get().answers["smoking"] == ["never"]


# --- Date-of-birth links -------------------------------------------------------------------


def test_guessing_a_date_of_birth_from_many_sessions_is_stopped_per_patient(world, history):
    url = f"/intake/start/{links.token_for(INTAKE, world.patient)}/"
    for n in range(5):  # a fresh session each time: the session's own counter never trips
        wrong = Client().post(url, {"date_of_birth": f"1990-01-0{n + 1}"})
        assert wrong.status_code == 400
    locked = Client().post(url, {"date_of_birth": "1980-01-02"})
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    assert Client().get("/intake/").status_code == 404
    other = f"/intake/start/{links.token_for(INTAKE, world.other_patient)}/"
    assert Client().post(other, {"date_of_birth": "1980-01-02"}).status_code == 302


# --- Who reads attachments -----------------------------------------------------------------


def test_front_desk_cannot_download_a_file_a_patient_attached(world):
    form = Form.objects.create(practice=world.practice, slug="skin", title="Skin check")
    definition = {
        **NUMBERS,
        "item": [{"linkId": "photo", "type": "attachment", "text": "A photo"}],
    }
    services.form_save_version(form=form, definition=definition, by=None)
    response = services.response_for(patient=world.patient, form=form)
    answer = services.response_attach(
        response=response,
        link_id="photo",
        upload=SimpleUploadedFile("rash.png", PNG, "image/png"),
    )
    url = f"/intake/files/{answer.removeprefix('file:')}/"
    assert sign_in(Client(), world.front_desk).get(url).status_code == 404
    assert sign_in(Client(), world.clinician).get(url).status_code == 200
    assert sign_in(Client(), world.admin).get(url).status_code == 200
    assert sign_in(Client(), world.patient.user).get(url).status_code == 200
    assert sign_in(Client(), world.outside_clinician).get(url).status_code == 404


# --- The form editor -----------------------------------------------------------------------


def editor_post(video_type, **overrides):
    data = {
        "title": "Reason for your visit",
        "appointment_types": [video_type.pk],
        "items-TOTAL_FORMS": "2",
        "items-INITIAL_FORMS": "0",
        "items-0-text": "Have you had a fever?",
        "items-0-link_id": "fever",
        "items-0-type": "boolean",
        "items-0-ORDER": "1",
        "items-1-text": "Highest temperature",
        "items-1-type": "decimal",
        "items-1-show_if_question": "fever",
        "items-1-show_if_answer": "yes",
        "items-1-ORDER": "2",
    }
    data.update(overrides)
    return data


def test_a_malformed_visit_type_in_the_editor_is_refused_politely(
    client, world, practice_forms, video_type
):
    form = practice_forms["reason-for-visit"]
    sign_in(client, world.admin)
    for bad in (["abc"], [str(video_type.pk), "1 OR 1=1"], ["99999999999999999999999"]):
        page = client.post(
            f"/intake/manage/{form.pk}/", editor_post(video_type, appointment_types=bad)
        )
        assert page.status_code == 400, bad
        assert b"is not a valid value" in page.content or b"valid choice" in page.content
    assert not form.appointment_types.exists()
    assert form.versions.count() == 1


def test_a_rejected_version_changes_nothing_else(client, world, practice_forms, video_type):
    form = practice_forms["reason-for-visit"]
    sign_in(client, world.admin)
    rejected = client.post(
        f"/intake/manage/{form.pk}/",
        editor_post(video_type, **{"items-1-show_if_question": "later"}),  # no such question
    )
    assert rejected.status_code == 400 and b"not an earlier question" in rejected.content
    form.refresh_from_db()
    assert form.is_active  # the post left "Active" unticked
    assert not form.appointment_types.exists()
    assert form.versions.count() == 1
    assert f'value="{video_type.pk}" checked'.encode() in rejected.content  # the choice stays
    saved = client.post(f"/intake/manage/{form.pk}/", editor_post(video_type))
    assert saved.status_code == 302
    form.refresh_from_db()
    assert not form.is_active
    assert list(form.appointment_types.all()) == [video_type]
    assert form.versions.count() == 2


def test_a_practice_admin_without_a_practice_is_refused_the_editor(client, world, practice_forms):
    form = practice_forms["reason-for-visit"]
    world.admin.practice = None
    world.admin.save(update_fields=["practice"])
    sign_in(client, world.admin)
    assert client.get("/intake/manage/").status_code == 403
    assert client.post("/intake/manage/new/", {"title": "New"}).status_code == 403
    assert client.get(f"/intake/manage/{form.pk}/").status_code == 403
    assert client.get(f"/intake/manage/{form.pk}/preview/").status_code == 403
    assert Form.objects.filter(practice__isnull=True).count() == 0


@pytest.fixture
def practice_forms(world):
    services.install_builtin(world.practice)
    return {f.slug: f for f in Form.objects.filter(practice=world.practice)}
