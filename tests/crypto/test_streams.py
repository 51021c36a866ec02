"""Chunk-encrypted files (telehealth.crypto.streams): what bulk exports are stored as."""

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.test import override_settings

from telehealth.crypto.streams import EncryptedChunkWriter, read_decrypted

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
LINES = [f'{{"resourceType":"Patient","id":"{n}","name":"Ada {n}"}}\n'.encode() for n in range(500)]


def write(path, lines, **options) -> None:
    writer = EncryptedChunkWriter(path, **options)
    for line in lines:
        writer.write(line)
    writer.close()


def test_a_file_is_one_token_per_chunk_and_reads_back_whole(tmp_path):
    path = tmp_path / "patients.ndjson"
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):
        write(path, LINES, chunk_bytes=4096)
        stored = path.read_bytes()
        tokens = stored.splitlines()
        assert len(tokens) > 1 and all(len(t) < 2 * 4096 + 200 for t in tokens)
        # Quotes and spaces never occur in Fernet's base64 tokens (a bare b"Ada" can, by chance).
        assert b'"Ada ' not in stored and b'"resourceType"' not in stored
        assert b"".join(read_decrypted(path)) == b"".join(LINES)


def test_a_file_written_under_an_older_key_still_reads_after_rotation(tmp_path):
    path = tmp_path / "old.ndjson"
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        write(path, LINES)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW, OLD]):
        assert b"".join(read_decrypted(path)) == b"".join(LINES)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]), pytest.raises(InvalidToken):
        list(read_decrypted(path))


def test_a_file_appears_only_when_closed_whole(tmp_path):
    path = tmp_path / "patients.ndjson"
    writer = EncryptedChunkWriter(path, chunk_bytes=64)
    for line in LINES[:10]:
        writer.write(line)
    assert not path.exists()  # chunks so far are beside it, under another name
    writer.discard()
    assert list(tmp_path.iterdir()) == []
