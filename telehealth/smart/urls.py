from django.urls import path

from telehealth.smart import views

app_name = "smart"

# Mounted at the site root, ahead of the FHIR API (whose `<type>/<id>` would take the second).
urlpatterns = [
    path("oauth/token", views.TokenView.as_view(), name="token"),
    path(".well-known/smart-configuration", views.configuration, name="configuration"),
    path(
        "fhir/R4/.well-known/smart-configuration",
        views.configuration,
        name="fhir-configuration",
    ),
]
