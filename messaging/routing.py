from django.urls import path

from messaging.consumers import InboxConsumer, ThreadConsumer

websocket_urlpatterns = [
    path("ws/messaging/threads/<int:thread_id>/", ThreadConsumer.as_asgi()),
    path("ws/messaging/inbox/", InboxConsumer.as_asgi()),
]
