from django.urls import path

from visits.consumers import VisitConsumer, WaitingRoomConsumer

websocket_urlpatterns = [
    path("ws/visits/<int:visit_id>/", VisitConsumer.as_asgi()),
    path("ws/visits/<int:visit_id>/waiting/", WaitingRoomConsumer.as_asgi()),
]
