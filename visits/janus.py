"""The app's side of Janus (VideoRoom), the media server of group sessions: rooms are
created, listed, moderated and destroyed through Janus's admin API (`message_plugin`, with the
admin secret and the VideoRoom admin key); browsers get only a signed token (good for the
VideoRoom plugin on that instance, any room, until it expires: the app makes it end with the
session, see group_services), a room number and its pin. The pin is what keeps a room closed:
the app changes it (`room_edit`) when someone must not come back. Janus relays the media;
nothing here touches it.

Plugin errors arrive as HTTP 200 with `error_code`; they, and an instance that does not answer,
become `JanusError` / `JanusUnavailable` with a message fit to show."""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext as _

PLUGIN = "janus.plugin.videoroom"
TIMEOUT_SECONDS = 3.0
ROOM_EXISTS = 427  # JANUS_VIDEOROOM_ERROR_ROOM_EXISTS
NO_SUCH_ROOM = 426
NO_SUCH_FEED = 428


class JanusError(Exception):
    """Janus answered, and refused. `code` is Janus's error code (0: not a Janus answer)."""

    def __init__(self, message: str, *, code: int = 0):
        super().__init__(message)
        self.code = code


class JanusUnavailable(JanusError):
    """The instance did not answer (down, unreachable, or too slow)."""


class JanusNotConfigured(JanusError):
    pass


@dataclass(frozen=True)
class Instance:
    name: str
    url: str  # the HTTP API, e.g. http://127.0.0.1:8600/janus (the app only)
    admin_url: str  # the admin API, e.g. http://127.0.0.1:8601/admin (the app only)
    ws_url: str  # what browsers connect to, e.g. wss://media1.example.org/
    api_secret: str
    admin_secret: str
    admin_key: str  # the VideoRoom plugin's admin_key: needed to create rooms
    token_secret: str  # Janus's token_auth_secret: signs browsers' tokens


def instances() -> list[Instance]:
    """The configured instances (settings.JANUS_INSTANCES), in the order given."""
    return [Instance(**entry) for entry in settings.JANUS_INSTANCES]


def instance_named(name: str) -> Instance | None:
    return next((i for i in instances() if i.name == name), None)


def _admin(instance: Instance, request: dict[str, Any]) -> dict[str, Any]:
    """One synchronous VideoRoom request through the admin API; the plugin's answer."""
    body: dict[str, Any] = {
        "janus": "message_plugin",
        "transaction": secrets.token_hex(6),
        "plugin": PLUGIN,
        "admin_secret": instance.admin_secret,
        "request": request,
    }
    try:
        answer = requests.post(instance.admin_url, json=body, timeout=TIMEOUT_SECONDS)
        reply = answer.json()
    except (requests.RequestException, ValueError) as failure:
        raise JanusUnavailable(
            _("The media server %(name)s does not answer.") % {"name": instance.name}
        ) from failure
    if reply.get("janus") != "success":
        refusal = reply.get("error") or {}
        raise JanusError(
            _("The media server refused the request (%(reason)s).")
            % {"reason": refusal.get("reason", "?")},
            code=int(refusal.get("code") or 0),
        )
    response = reply.get("response") or {}
    if "error_code" in response:
        raise JanusError(
            _("The media server refused the request (%(reason)s).")
            % {"reason": response.get("error", "?")},
            code=int(response["error_code"]),
        )
    return response


def room_create(
    *, instance: Instance, room: int, pin: str, secret: str, publishers: int, description: str
) -> None:
    """A private room (hidden from `list` without the admin key), joined with the pin,
    moderated and destroyed with the secret. Subscriptions must name the subscriber's own
    publisher (`private_id`, which Janus tells only that publisher): it ties each one to a
    participant, and kicking the participant closes them (without it, a kicked
    participant's subscriptions go on receiving)."""
    _admin(
        instance,
        {
            "request": "create",
            "room": room,
            "admin_key": instance.admin_key,
            "description": description,
            "secret": secret,
            "pin": pin,
            "publishers": publishers,
            "is_private": True,
            "require_pvtid": True,
            "permanent": False,
        },
    )


def room_edit(
    *,
    instance: Instance,
    room: int,
    secret: str,
    new_pin: str | None = None,
    new_publishers: int | None = None,
) -> None:
    """Change a live room. A new pin is checked at the next join only: people in the room
    stay connected, and anyone holding the old pin can no longer join (Janus answers 433)."""
    request: dict[str, Any] = {"request": "edit", "room": room, "secret": secret}
    if new_pin is not None:
        request["new_pin"] = new_pin
    if new_publishers is not None:
        request["new_publishers"] = new_publishers
    _admin(instance, request)


def room_exists(*, instance: Instance, room: int) -> bool:
    return bool(_admin(instance, {"request": "exists", "room": room}).get("exists"))


def room_destroy(*, instance: Instance, room: int, secret: str) -> None:
    """Destroy the room (everyone in it is sent away). A room already gone is not an error."""
    try:
        _admin(instance, {"request": "destroy", "room": room, "secret": secret})
    except JanusError as error:
        if error.code != NO_SUCH_ROOM:
            raise


def rooms(*, instance: Instance) -> list[dict[str, Any]]:
    """Every room on the instance, private ones included, with `num_participants`."""
    return list(_admin(instance, {"request": "list", "admin_key": instance.admin_key})["list"])


def participants(*, instance: Instance, room: int) -> list[dict[str, Any]]:
    """[{"id": feed, "display": ..., "publisher": bool, ...}] of the room."""
    answer = _admin(instance, {"request": "listparticipants", "room": room})
    return list(answer.get("participants", []))


def participant_kick(*, instance: Instance, room: int, secret: str, feed: int) -> None:
    """Send a participant out of the room. One who already left is not an error."""
    try:
        _admin(instance, {"request": "kick", "room": room, "secret": secret, "id": feed})
    except JanusError as error:
        if error.code != NO_SUCH_FEED:
            raise


def participant_mute(
    *, instance: Instance, room: int, secret: str, feed: int, mid: str, mute: bool = True
) -> None:
    """Stop (or resume) forwarding one of a publisher's streams to everyone: Janus 1.x
    moderates per m-line, so the caller names the stream's `mid`."""
    _admin(
        instance,
        {
            "request": "moderate",
            "room": room,
            "secret": secret,
            "id": feed,
            "mid": mid,
            "mute": mute,
        },
    )


def token_for(*, instance: Instance, seconds: int) -> str:
    """A token Janus accepts until it expires, for the VideoRoom plugin only (Janus's
    token_auth_secret scheme: "<expiry>,janus,<plugin>:<base64 HMAC-SHA1>")."""
    data = f"{int(time.time()) + seconds},janus,{PLUGIN}"
    digest = hmac.new(instance.token_secret.encode(), data.encode(), hashlib.sha1).digest()
    return f"{data}:{base64.b64encode(digest).decode()}"
