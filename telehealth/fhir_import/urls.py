from django.urls import path

from telehealth.fhir_import import views

app_name = "fhir_import"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("apply/", views.apply, name="apply"),
]
