"""File storage that encrypts every file at rest (uploads: attachments, insurance cards)."""

import os
import posixpath
import re
import secrets

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage
from django.utils.deconstruct import deconstructible

from telehealth.crypto.keys import decrypt_bytes, encrypt_bytes

RANDOM_NAME = re.compile(r"[0-9a-f]{32}")


def random_file_name() -> str:
    return secrets.token_hex(16)


@deconstructible
class EncryptedFileSystemStorage(FileSystemStorage):
    """Whole-file Fernet encryption. Uploads are size-capped by their forms, so the file is
    held in memory once while it is encrypted or decrypted.

    Files are stored under random names in their model's folder: an upload's own name can be
    PHI ("hiv-result-ana.pdf"). Models that show the name keep it in an encrypted field."""

    def generate_filename(self, filename: str | os.PathLike[str]) -> str:
        folder = posixpath.dirname(filename)
        return super().generate_filename(posixpath.join(folder, random_file_name()))

    def _save(self, name: str, content: File) -> str:
        content.seek(0)
        # django-stubs leave out Storage's private _save and _open, which Django documents.
        return super()._save(name, ContentFile(encrypt_bytes(content.read())))  # type: ignore[misc]

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode:
            raise ValueError("Encrypted files are written with save(), not opened for writing.")
        with super()._open(name, "rb") as stored:  # type: ignore[misc]
            data = decrypt_bytes(stored.read())
        return ContentFile(data, name=name)

    def read_token(self, name: str) -> bytes:
        with open(self.path(name), "rb") as stored:
            return stored.read()

    def replace_token(self, name: str, token: bytes) -> None:
        """Atomically swap a file's ciphertext (used by key rotation)."""
        path = self.path(name)
        tmp = f"{path}.rotating"
        with open(tmp, "wb") as out:
            out.write(token)
        os.replace(tmp, path)
