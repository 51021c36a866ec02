from django.urls import path

from messaging import views

app_name = "messaging"

urlpatterns = [
    path("", views.mine, name="mine"),
    path("new/", views.new_thread, name="new"),
    path("threads/<int:thread_id>/", views.thread, name="thread"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:thread_id>/", views.staff_thread, name="staff-thread"),
    path("inbox/<int:thread_id>/assign/", views.assign, name="assign"),
    path("inbox/<int:thread_id>/status/", views.set_status, name="status"),
    path("patients/<int:patient_id>/new/", views.staff_new, name="staff-new"),
    path("bulk/", views.bulk, name="bulk"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path("inbox/pictures/<int:fetch_id>/retry/", views.media_retry, name="media-retry"),
    path("chat/<slug:practice_slug>/", views.web_chat, name="web-chat"),
]
