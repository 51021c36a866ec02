from django.urls import path

from telehealth.realtime import UserEventsConsumer
from visits.routing import websocket_urlpatterns as visit_routes

websocket_urlpatterns = [
    path("ws/me/", UserEventsConsumer.as_asgi()),
    *visit_routes,
]
