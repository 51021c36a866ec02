from tests.conftest import sign_in


def test_anonymous_visitor_gets_the_browsers_language(client, db):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es-MX,es;q=0.9")
    assert response["Content-Language"] == "es"
    assert "Iniciar sesión" in response.content.decode()


def test_patient_sees_their_preferred_language_whatever_the_browser(client, world):
    world.patient.preferred_language = "es"
    world.patient.save(update_fields=["preferred_language"])
    sign_in(client, world.patient.user)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert response["Content-Language"] == "es"
    assert '<html lang="es">' in response.content.decode()


def test_english_patient_sees_english(client, world):
    sign_in(client, world.patient.user)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="es")
    assert response["Content-Language"] == "en"
    assert "Your visits" in response.content.decode()
