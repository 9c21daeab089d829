# The shop's image: Django served by gunicorn, plus the Stripe simulator for local stacks.
# It builds with BuildKit and with the classic builder alike: no RUN --mount, no heredocs.

FROM python:3.12-slim-bookworm AS builder

# uv installs exactly what uv.lock pins, into a virtualenv that the runtime stage copies whole.
# The image's own CPython is used; uv must never download another one.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

RUN pip install uv==0.13.9

WORKDIR /src

# Dependencies first: this layer is rebuilt only when the lock changes, not on every code edit.
# --locked fails the build when uv.lock no longer matches pyproject.toml.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

COPY app/ app/
COPY stripe_sim/ stripe_sim/
COPY deploy/ deploy/

# Hashed, compressed static files are made here, so a missing asset fails the build and the
# read-only runtime never writes them. The key exists only for this one command.
RUN SECRET_KEY=collectstatic-at-build-time-only /opt/venv/bin/python app/manage.py \
        collectstatic --noinput --verbosity 1 \
    && /opt/venv/bin/python -m compileall -q app stripe_sim deploy


FROM python:3.12-slim-bookworm AS runtime

ARG GIT_REVISION=unknown

LABEL org.opencontainers.image.title="django-stripe-shop" \
      org.opencontainers.image.description="A production-style Django shop paying through Stripe Checkout (test mode)." \
      org.opencontainers.image.revision="${GIT_REVISION}"

# psycopg2-binary bundles libpq, so this stage needs no apt step.
# A fixed, unprivileged user: the code stays root-owned and read-only to it.
RUN groupadd --gid 10001 shop \
    && useradd --uid 10001 --gid shop --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin shop

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}" \
    DJANGO_SETTINGS_MODULE=config.settings \
    PORT=8000 \
    SENTRY_RELEASE="${GIT_REVISION}"

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /src /srv/shop

WORKDIR /srv/shop/app
USER 10001:10001
EXPOSE 8000

# Liveness only: readiness (/readyz) depends on the database and is the orchestrator's call.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "/srv/shop/deploy/healthcheck.py", "/healthz"]

ENTRYPOINT ["/srv/shop/deploy/entrypoint.sh"]
CMD ["gunicorn", "--config", "/srv/shop/deploy/gunicorn.conf.py"]
