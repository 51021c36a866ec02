from django.urls import path

from visits import econsult_views, evisit_views, group_views, views

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
    path("visits/<int:visit_id>/move-to-group/", views.move_to_group, name="move-to-group"),
    path("visits/<int:visit_id>/end/", views.end_moved, name="end-moved"),
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
    # E-visits (store-and-forward): the patient's pages, then the clinician's.
    path("evisits/", evisit_views.mine, name="evisits"),
    path("evisits/start/<int:condition_id>/", evisit_views.start, name="evisit-start"),
    path("evisits/<int:evisit_id>/", evisit_views.evisit, name="evisit"),
    path("evisits/<int:evisit_id>/reply/", evisit_views.reply, name="evisit-reply"),
    path("evisits/<int:evisit_id>/cancel/", evisit_views.cancel, name="evisit-cancel"),
    path("evisits/photos/<int:photo_id>/", evisit_views.photo, name="evisit-photo"),
    path("evisits/queue/", evisit_views.queue, name="evisit-queue"),
    path("evisits/<int:evisit_id>/review/", evisit_views.review, name="evisit-review"),
    path("evisits/<int:evisit_id>/assign/", evisit_views.assign, name="evisit-assign"),
    path("evisits/<int:evisit_id>/ask/", evisit_views.ask, name="evisit-ask"),
    path("evisits/<int:evisit_id>/time/", evisit_views.record_time, name="evisit-time"),
    path("evisits/<int:evisit_id>/complete/", evisit_views.complete, name="evisit-complete"),
    path("evisits/<int:evisit_id>/escalate/", evisit_views.escalate, name="evisit-escalate"),
    # E-consults (clinician to specialist): the inbox and profile, a new case, the case.
    path("econsults/", econsult_views.inbox, name="econsults"),
    path("econsults/profile/", econsult_views.profile, name="econsult-profile"),
    path("econsults/new/<int:patient_id>/", econsult_views.new, name="econsult-new"),
    path("econsults/<int:econsult_id>/", econsult_views.case, name="econsult"),
    path("econsults/<int:econsult_id>/ask/", econsult_views.ask, name="econsult-ask"),
    path("econsults/<int:econsult_id>/reply/", econsult_views.reply, name="econsult-reply"),
    path("econsults/<int:econsult_id>/answer/", econsult_views.answer, name="econsult-answer"),
    path("econsults/<int:econsult_id>/time/", econsult_views.record_time, name="econsult-time"),
    path("econsults/<int:econsult_id>/decline/", econsult_views.decline, name="econsult-decline"),
    path(
        "econsults/<int:econsult_id>/withdraw/", econsult_views.withdraw, name="econsult-withdraw"
    ),
    path("econsults/files/<int:record_id>/", econsult_views.record_file, name="econsult-file"),
    # Group sessions through the media server: staff pages, the patient's list, the room.
    path("groups/", group_views.staff_list, name="groups"),
    path("groups/new/", group_views.new, name="group-new"),
    path("groups/mine/", group_views.mine, name="groups-mine"),
    path("groups/<int:session_id>/", group_views.detail, name="group"),
    path("groups/<int:session_id>/edit/", group_views.edit, name="group-edit"),
    path("groups/<int:session_id>/cancel/", group_views.cancel, name="group-cancel"),
    path("groups/<int:session_id>/name/", group_views.name_choice, name="group-name"),
    path("groups/<int:session_id>/book/", group_views.book, name="group-book"),
    path("groups/<int:session_id>/give-up/", group_views.give_up, name="group-give-up"),
    path("groups/<int:session_id>/room/", group_views.room, name="group-room"),
    path("groups/<int:session_id>/room/people/", group_views.people, name="group-people"),
    path("groups/<int:session_id>/join/", group_views.join, name="group-join"),
    path("groups/<int:session_id>/leave/", group_views.leave, name="group-leave"),
    path(
        "groups/<int:session_id>/attendance/<int:attendance_id>/remove/",
        group_views.remove,
        name="group-remove",
    ),
    path(
        "groups/<int:session_id>/attendance/<int:attendance_id>/mute/",
        group_views.mute,
        name="group-mute",
    ),
]
