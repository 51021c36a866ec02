from django.urls import path

from telehealth.fhir_subscriptions import views

app_name = "fhir_subscriptions"

urlpatterns = [
    path("", views.subscriptions, name="list"),
    path("<int:subscription_id>/", views.subscription, name="detail"),
    path("<int:subscription_id>/test/", views.handshake, name="handshake"),
    path("<int:subscription_id>/status/", views.set_status, name="status"),
]
