from django.urls import path

from visits import views

app_name = "visits"

urlpatterns = [
    path("visit/<str:token>/", views.join, name="join"),
    path("visits/", views.today, name="today"),
    path("visits/device-check/", views.device_check_offer, name="device-check"),
    path("visits/walk-in/", views.walk_in, name="walk-in"),
    path("visits/<int:visit_id>/take/", views.walk_in_take, name="walk-in-take"),
    path("visits/<int:visit_id>/waiting/", views.waiting, name="waiting"),
    path("visits/<int:visit_id>/location/", views.location, name="location"),
    path("visits/<int:visit_id>/room/", views.room, name="room"),
    path("visits/<int:visit_id>/note/", views.note_save, name="note-save"),
    path("visits/<int:visit_id>/invite/", views.invite_guest, name="invite"),
    path("visits/guest/<str:token>/", views.guest_join, name="guest-join"),
    path("visits/<int:visit_id>/note/sign/", views.note_sign, name="note-sign"),
    path("visits/<int:visit_id>/note/addenda/", views.addendum_add, name="addendum-add"),
    path("visits/<int:visit_id>/", views.record, name="record"),
    path("visits/<int:visit_id>/summary/", views.summary, name="summary"),
    path("visits/summary/<str:token>/", views.summary_link, name="summary-link"),
    path("visits/appointments/<int:appointment_id>/open/", views.open_visit, name="open"),
    path(
        "visits/appointments/<int:appointment_id>/status/",
        views.provider_status,
        name="provider-status",
    ),
]
