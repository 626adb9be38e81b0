# syntax=docker/dockerfile:1
# short-cut API. Two stages: build a venv from requirements-api.lock, then copy
# only the venv, src/ and entrypoint.sh onto the same slim base.
# Pin the base by digest in your registry mirror, e.g. python:3.12-slim@sha256:...
ARG BASE_IMAGE=docker.io/library/python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Every package, transitive ones too, pinned and hashed (`make lock`); pip refuses any file
# whose hash differs, and wheels only, so no downloaded setup.py runs during the build.
COPY requirements-api.lock /tmp/requirements-api.lock
# Bytecode is compiled here, once, for the same reason as the standard library's below.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-compile --only-binary=:all: \
        --require-hashes --no-deps -r /tmp/requirements-api.lock \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python*/site-packages/pip /opt/venv/lib/python*/site-packages/pip-* \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv/lib

FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=local \
    PORT=8000 \
    HOST=0.0.0.0
# HOST: a container is reached on its own interface (a published port, ECS awsvpc's ENI, the load
# balancer), never on its loopback; entrypoint.sh binds loopback by default only outside one.
# /tmp is declared a volume, sticky and world-writable. ECS Fargate (platform 1.4+) mounts a
# task bind volume with no host path as root 0755 unless the image declares a VOLUME at that
# path, in which case it copies the image's directory, mode included (aws/containers-roadmap
# #938, #863). Without this, uid 10001 on a read-only root has no writable /tmp on Fargate.
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir -p /tmp \
    && chmod 1777 /tmp
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root --chmod=0755 entrypoint.sh /app/entrypoint.sh
COPY --chown=root:root src /app/src
# Bytecode for the standard library, the venv (above) and src/, compiled at build time. The
# root filesystem is read-only and PYTHONDONTWRITEBYTECODE is set, so without it every task
# start compiles every module it imports, again: about 1 s of CPU, doubled on the task's half
# vCPU. python:*-slim ships its standard library without bytecode on purpose, to save ~30 MB
# (docker-library/python#615). The base's own site-packages (pip) and the GUI and 2to3 tools
# are never imported: left out. unchecked-hash for the standard library and the venv: they
# never change in this image, so no source is read to check, and the bytes do not depend on
# build time. checked-hash for src/: an image built FROM this one that copies new sources
# over /app/src must not run the old bytecode.
RUN python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        -x '/(site-packages|dist-packages|idlelib|tkinter|turtledemo|lib2to3|ensurepip)/' \
        "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" \
    && python -m compileall -q --invalidation-mode checked-hash /app/src
VOLUME ["/tmp"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/src/healthcheck.py"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/entrypoint.sh"]
