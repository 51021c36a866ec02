"""Model fields that keep PHI encrypted at rest.

Values are Fernet tokens in a text column; the application sees plain values. Encrypted
columns cannot be filtered or ordered on: pair them with a blind index where exact lookups
are needed (see `blind_index`).
"""

import json
from typing import TYPE_CHECKING, Any

from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from telehealth.crypto.keys import decrypt_bytes, encrypt_bytes

if TYPE_CHECKING:
    _FieldBase = models.Field[Any, Any]  # the concrete field the mixin is combined with
else:
    _FieldBase = object


class EncryptedMixin(_FieldBase):
    """Shared by the encrypted fields; subclasses turn values into text and back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("db_index") or kwargs.get("unique") or kwargs.get("primary_key"):
            raise ImproperlyConfigured("Encrypted fields cannot be indexed: add a blind index.")
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "TextField"

    def to_text(self, value: Any) -> str:
        raise NotImplementedError

    def from_text(self, text: str) -> Any:
        raise NotImplementedError

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt_bytes(self.to_text(value).encode()).decode()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        try:
            text = decrypt_bytes(value.encode()).decode()
        except InvalidToken as exc:
            raise InvalidToken(
                f"{self.model.__name__}.{self.name}: no key in FIELD_ENCRYPTION_KEYS decrypts it"
            ) from exc
        return self.from_text(text)

    def get_lookup(self, lookup_name: str):
        if lookup_name not in {"isnull"}:
            return None  # an encrypted value cannot be compared in SQL
        return super().get_lookup(lookup_name)


class EncryptedTextField(EncryptedMixin, models.TextField):
    """Empty text is stored as the empty string: it carries nothing to protect, and skipping
    it spares a decryption on every read of the many blank optional fields."""

    def to_text(self, value: Any) -> str:
        return str(value)

    def from_text(self, text: str) -> str:
        return text

    def get_prep_value(self, value: Any) -> Any:
        if value == "":
            return ""
        return super().get_prep_value(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value == "":
            return ""
        return super().from_db_value(value, expression, connection)


class EncryptedJSONField(EncryptedMixin, models.TextField):
    """JSON kept encrypted. Stored as text, so no JSON lookups: query the blind index instead."""

    # What the model attribute takes and gives (django-stubs reads these): JSON values, not str.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def to_text(self, value: Any) -> str:
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)

    def from_text(self, text: str) -> Any:
        return json.loads(text)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def value_to_string(self, obj: Any) -> str:
        return self.to_text(self.value_from_object(obj))


def encrypted_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedMixin)]
