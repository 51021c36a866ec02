from django.urls import path

from telehealth.notify import views

app_name = "notify"

urlpatterns = [
    path("webhooks/twilio/sms", views.twilio_sms, name="twilio-sms"),
    path("webhooks/twilio/status", views.twilio_status, name="twilio-status"),
    path("texts/unrouted/", views.unrouted_texts, name="unrouted"),
]
