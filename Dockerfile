# syntax=docker/dockerfile:1
#
# One image for every comfy-recovery service; the argument picks the service:
#
#   docker build -t comfy-recovery .
#   docker run --rm -e CR_NATS_URL=nats://nats:4222 comfy-recovery submitter
#   docker run --rm --entrypoint comfy-recovery comfy-recovery status   # the CLI
#
# The services are `python -m submitter|monitor|classifier|recovery|analytics`.
# Stage 1 resolves the locked dependencies with uv into /opt/venv (wheels only:
# every runtime package of uv.lock ships a manylinux wheel, so no compiler is
# needed, and tests/deploy/test_image.py keeps it so). Stage 2 is a plain
# python slim image holding that venv and nothing else: no uv, no pip cache,
# no compiler, no sources (the workspace members are installed as wheels).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

# Same uv as the Makefile; from PyPI so the build needs no other registry.
ARG UV_VERSION=0.9.30
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1

WORKDIR /src

# Dependencies first (this layer changes only with uv.lock or a pyproject.toml).
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/client/pyproject.toml libs/client/
COPY libs/runtime/pyproject.toml libs/runtime/
COPY libs/cli/pyproject.toml libs/cli/
COPY services/submitter/pyproject.toml services/submitter/
COPY services/monitor/pyproject.toml services/monitor/
COPY services/classifier/pyproject.toml services/classifier/
COPY services/recovery/pyproject.toml services/recovery/
COPY services/analytics/pyproject.toml services/analytics/
COPY tools/comfysim/pyproject.toml tools/comfysim/
RUN uv sync --locked --no-dev --no-editable --no-install-workspace

# Then the workspace members themselves, installed as wheels (not editable),
# so that the final stage needs /opt/venv only.
COPY libs/ libs/
COPY services/ services/
COPY tools/ tools/
RUN uv sync --locked --no-dev --no-editable


FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="comfy-recovery" \
      org.opencontainers.image.description="Automatic failure recovery for ComfyUI jobs: submitter, monitor, classifier, recovery, analytics"

# A fixed numeric UID/GID so that Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# The root filesystem is read-only on Kubernetes: bytecode was compiled at
# build time, and nothing may try to write it at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
USER 10001:10001

# SIGTERM stops a service cleanly (consumers finish the batch in hand).
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m"]
CMD ["submitter"]
