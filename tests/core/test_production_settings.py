"""Production settings are checked in a fresh interpreter, as a deployment would start."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "SECRET_KEY": "x" * 64 + "-production-secret-key-for-tests-only",
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "BLIND_INDEX_KEY": "blind-index-key-for-tests-only-0123456789",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth_prod_check",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "ALLOWED_HOSTS": "clinic.example.org",
    "EMAIL_URL": "smtp://mailer:secret@smtp.example.org:587",
    "SITE_URL": "https://clinic.example.org",
}


def production(*args: str, env: dict) -> subprocess.CompletedProcess:
    """`python *args` started as a deployment starts it: DJANGO_ENV=production and `env`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in SECRETS and not k.startswith(("DJANGO", "PYTEST", "TELEHEALTH"))
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, "DJANGO_ENV": "production", "DATA_DIR": "/nonexistent-data-dir", **env},
        timeout=120,
    )


def manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return production("manage.py", *args, env=env)


def test_production_refuses_to_start_without_secrets():
    result = manage("check", env={})
    assert result.returncode != 0
    assert "refuses to start without" in result.stderr
    for name in SECRETS:
        assert name in result.stderr


def test_production_names_the_one_missing_secret():
    env = dict(SECRETS)
    del env["FIELD_ENCRYPTION_KEYS"]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "without: FIELD_ENCRYPTION_KEYS" in result.stderr


def test_production_refuses_to_guess_its_site_url_from_the_port():
    env = {name: value for name, value in SECRETS.items() if name != "SITE_URL"}
    result = manage("check", env={**env, "HOST": "0.0.0.0", "PORT": "8123"})
    assert result.returncode != 0
    assert "without: SITE_URL" in result.stderr


def test_production_passes_check_deploy_with_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=SECRETS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def production_settings(expressions: str, *, env: dict) -> subprocess.CompletedProcess:
    """Prints `expressions` of the settings (`s`), as the settings module computes them on
    import in a fresh interpreter. `manage.py shell` would also set up every app (the check
    above does) for values fixed before any app loads: three times the CPU."""
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'telehealth.settings'); "
        f"from django.conf import settings as s; print({expressions})"
    )
    return production("-c", code, env=env)


def test_production_hashes_passwords_with_argon2_and_secures_cookies():
    result = production_settings(
        "s.PASSWORD_HASHERS[0], s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_NAME",
        env=SECRETS,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "True",
        "True",
        "__Host-sessionid",
    ]
