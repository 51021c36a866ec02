from django.urls import path

from messaging.routing import websocket_urlpatterns as messaging_routes
from telehealth.realtime import UserEventsConsumer
from visits.routing import websocket_urlpatterns as visit_routes

websocket_urlpatterns = [
    path("ws/me/", UserEventsConsumer.as_asgi()),
    *visit_routes,
    *messaging_routes,
]
