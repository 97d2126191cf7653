# maildesk daemon image. Used by docker-compose.yml; standalone:
#   docker build -t maildesk . && docker run -p 2525:2525 -p 8000:8000 maildesk
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAILDESK_DATA_DIR=/data \
    MAILDESK_SMTP_LISTEN=0.0.0.0:2525 \
    MAILDESK_HTTP_LISTEN=0.0.0.0:8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY maildesk ./maildesk
COPY migrations ./migrations
COPY templates ./templates
# Editable on purpose: maildesk finds migrations/ and templates/ next to the
# package directory (they are not package data), so it runs from /app.
RUN pip install -e . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin maildesk \
    && mkdir -p /data && chown maildesk: /data

USER maildesk
VOLUME ["/data"]
EXPOSE 2525 8000
# exec: SIGTERM from `docker stop` goes to serve, which shuts down cleanly.
CMD ["sh", "-c", "maildesk migrate && exec maildesk serve"]
