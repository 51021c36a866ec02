# One image for every process: web (the default command), Celery worker and Celery beat.
# docker-compose.yml shows how each is started; docs/deploy.md explains the deployment.
FROM python:3.11-slim

# PYTHONPATH: run the code in /app, where settings find templates/, static/ and locale/ beside
# it, not the copy `pip install .` also puts in site-packages.
# DATA_DIR: media (encrypted uploads) and the beat schedule live here; mount a volume on it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DATA_DIR=/data

WORKDIR /app

# Only what the application needs. Never `COPY . .`: it would bake .env (production secrets),
# .data/ (development keys and database), .venv/ and .git/ into the image.
COPY pyproject.toml manage.py ./
COPY telehealth ./telehealth
COPY scheduling ./scheduling
COPY intake ./intake
COPY messaging ./messaging
COPY rpm ./rpm
COPY documents ./documents
COPY visits ./visits
COPY billing ./billing
RUN pip install . && rm -rf build ./*.egg-info

COPY templates ./templates
COPY static ./static
COPY locale ./locale

# Static files are collected at build time. Production serves them through WhiteNoise's
# manifest storage, which only exists when collectstatic itself runs with
# DJANGO_ENV=production; a development-mode collectstatic writes no manifest and every page
# would fail in production. The values below are throwaway placeholders that satisfy the
# production start-up check: collectstatic opens no database, cache or broker connection and
# encrypts nothing, and none of them is kept in the image.
RUN DJANGO_ENV=production \
    DATA_DIR=/tmp/build-data \
    SECRET_KEY=build-only \
    FIELD_ENCRYPTION_KEYS=build-only \
    BLIND_INDEX_KEY=build-only \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    EMAIL_URL=console:// \
    SITE_URL=http://localhost \
    python manage.py collectstatic --noinput -v0 \
 && rm -rf /tmp/build-data

# A non-root user that owns nothing but /data.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin telehealth \
 && mkdir -p /data \
 && chown telehealth:telehealth /data
USER telehealth

EXPOSE 8000
CMD ["uvicorn", "telehealth.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
