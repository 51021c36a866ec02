from django.urls import path

from rpm import views

app_name = "rpm"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("mine/", views.mine, name="mine"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("patients/<int:patient_id>/enroll/", views.enroll, name="enroll"),
    path("patients/<int:patient_id>/devices/", views.device_add, name="device-add"),
    path("patients/<int:patient_id>/time/", views.time_add, name="time"),
    path("devices/<int:device_id>/revoke/", views.device_revoke, name="device-revoke"),
    path("alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("alerts/<int:alert_id>/resolve/", views.resolve, name="resolve"),
]
