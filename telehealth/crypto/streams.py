"""Files too large to hold in memory, encrypted at rest in chunks: each line of the stored
file is one Fernet token (urlsafe base64, so it never holds a newline) of up to
CHUNK_BYTES of the plaintext. Written and read a chunk at a time with the same keys as
every other file (telehealth.crypto.keys), so memory stays bounded by the chunk size.

Used for bulk exports, which live a day: `rotate_keys` does not visit them (it rotates the
whole-file tokens of EncryptedFileSystemStorage), and a file written under a retired key
expires before the key is dropped."""

import os
from collections.abc import Iterator
from pathlib import Path

from telehealth.crypto.keys import decrypt_bytes, encrypt_bytes

CHUNK_BYTES = 1024 * 1024


class EncryptedChunkWriter:
    """Appends plaintext; every CHUNK_BYTES are encrypted and written as one line. The file
    appears under its name only when closed whole (written beside it, then renamed)."""

    def __init__(self, path: Path, *, chunk_bytes: int = CHUNK_BYTES):
        self.path = path
        self.chunk_bytes = chunk_bytes
        self._partial = path.with_name(f"{path.name}.partial")
        self._out = open(self._partial, "wb")  # noqa: SIM115 (closed by close())
        self._buffer: list[bytes] = []
        self._buffered = 0

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self.chunk_bytes:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._out.close()
        os.replace(self._partial, self.path)

    def discard(self) -> None:
        self._out.close()
        self._partial.unlink(missing_ok=True)

    def _flush(self) -> None:
        if self._buffer:
            self._out.write(encrypt_bytes(b"".join(self._buffer)) + b"\n")
            self._buffer, self._buffered = [], 0


def read_decrypted(path: Path) -> Iterator[bytes]:
    """The plaintext, one decrypted chunk at a time."""
    with open(path, "rb") as stored:
        for line in stored:
            token = line.rstrip(b"\n")
            if token:
                yield decrypt_bytes(token)
