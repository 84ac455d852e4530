# The production image: gunicorn for the web, the same image for Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/app/data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY clinic ./clinic
COPY patients ./patients
COPY scheduling ./scheduling
COPY manage.py ./
# collectstatic runs with DEBUG unset (off), so with the manifest storage production
# serves; .ci/production replays this step before it starts gunicorn.
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/data \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input \
    && chown -R app /app/data
USER app

EXPOSE 8000
CMD ["gunicorn", "clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
