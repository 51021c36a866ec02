from django.urls import path

from scheduling import views

app_name = "scheduling"

urlpatterns = [
    # Staff and patient pages
    path("scheduling/", views.schedule, name="schedule"),
    path(
        "scheduling/appointments/<int:appointment_id>/action/",
        views.appointment_action,
        name="appointment-action",
    ),
    path(
        "scheduling/appointments/<int:appointment_id>/send-join-link/",
        views.send_join_link,
        name="send-join-link",
    ),
    path("scheduling/mine/", views.my_appointments, name="mine"),
    path("scheduling/patients/<int:patient_id>/book/", views.staff_book, name="staff-book"),
    path("scheduling/appointments/<int:appointment_id>/move/", views.staff_move, name="staff-move"),
    path("scheduling/calendar-feed/", views.calendar_feed_settings, name="calendar-feed"),
    # Public: no account needed; links carry signed tokens
    path("book/<slug:practice_slug>/", views.book, name="book"),
    path("book/<slug:practice_slug>/details/", views.book_details, name="book-details"),
    path("book/<slug:practice_slug>/<slug:provider_slug>/", views.book, name="book-provider"),
    path("appointments/<str:token>/", views.manage, name="manage"),
    path("appointments/<str:token>/reschedule/", views.manage_reschedule, name="manage-reschedule"),
    path("appointments/<str:token>/waitlist/", views.manage_waitlist, name="manage-waitlist"),
    path(
        "appointments/<str:token>/account-invitation/",
        views.manage_account_invite,
        name="manage-account-invite",
    ),
    path("waitlist/offer/<str:token>/", views.offer, name="offer"),
    path("calendar/<str:token>.ics", views.provider_feed, name="feed"),
]
