# maildesk daemon image: the wheel installed in a slim runtime, run as a non-root user, with
# every file (SQLite database, secret key, attachments, outbox) under the /data volume.
#
#   docker build -t maildesk .
#   docker run -v maildesk:/data -p 2525:2525 -p 8000:8000 maildesk
#
# Used by docker-compose.yml as maildesk:local (built once).

# --- build: the maildesk wheel plus wheels of its dependencies --------------------------------
FROM python:3.11.9-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY maildesk ./maildesk
COPY migrations ./migrations
COPY templates ./templates
RUN pip wheel --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11.9-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MAILDESK_DATA_DIR=/data \
    MAILDESK_DATABASE_URL=sqlite:////data/maildesk.db \
    MAILDESK_SMTP_LISTEN=0.0.0.0:2525 \
    MAILDESK_HTTP_LISTEN=0.0.0.0:8000

COPY --from=build /wheels /wheels
# Installs the wheel (not the source tree): migrations/ and templates/ are package data.
RUN pip install --no-index --find-links /wheels maildesk \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin maildesk \
    && mkdir -p /data && chown maildesk:maildesk /data && chmod 0700 /data

# A named volume mounted here starts as a copy of this directory, owned by maildesk.
USER maildesk
WORKDIR /data
VOLUME ["/data"]
EXPOSE 2525 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]
# exec: SIGTERM from `docker stop` goes to serve, which shuts down cleanly.
CMD ["sh", "-c", "maildesk migrate && exec maildesk serve"]
