from django.urls import path

from telehealth.realtime import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/me/", UserEventsConsumer.as_asgi()),
]
