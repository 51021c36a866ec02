from django.urls import path

from visits.consumers import VisitConsumer, WaitingRoomConsumer
from visits.group_consumers import GroupRoomConsumer

websocket_urlpatterns = [
    path("ws/visits/<int:visit_id>/", VisitConsumer.as_asgi()),
    path("ws/visits/<int:visit_id>/waiting/", WaitingRoomConsumer.as_asgi()),
    path("ws/groups/<int:session_id>/", GroupRoomConsumer.as_asgi()),
]
