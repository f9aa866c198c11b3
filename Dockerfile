# syntax=docker/dockerfile:1
#
# Tandem image: web editor and server are built with scripts/build.sh, the same script that
# scripts/run.sh and CI use, so the image runs exactly what was tested.
#
#   docker build -t tandem .
#   docker run -p 8080:8080 -v tandem-data:/data tandem
#
# (docker-compose.yml runs it together with PostgreSQL.)
#
# Target `runtime-prebuilt` puts a binary and an editor built outside the image into the very
# same runtime stage (docs/container.md): the context is a directory holding `tandem` and
# `web/` (the built web/dist), e.g.
#
#   podman build --target runtime-prebuilt -f Dockerfile -t tandem ./context
#
# BASE_IMAGE names the Debian bookworm the runtime stage starts from; the test command passes
# a local one made by debootstrap (tests/image), as public registries may be out of reach.
ARG BASE_IMAGE=debian:bookworm-slim

# ---- web editor -------------------------------------------------------------------------
FROM node:20-bookworm-slim AS web
WORKDIR /src
# Dependencies first, so editing the app's sources does not re-run npm ci.
COPY web/package.json web/package-lock.json web/
RUN npm ci --prefix web --no-audit --no-fund
COPY scripts/build.sh scripts/build.sh
COPY web/ web/
RUN ./scripts/build.sh web

# ---- server -----------------------------------------------------------------------------
FROM rust:1-bookworm AS server
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
# migrations are embedded into the binary at compile time
COPY migrations/ migrations/
COPY scripts/build.sh scripts/build.sh
# The built editor sits where a checkout has it, in case the server build embeds or checks it.
COPY --from=web /src/web/dist web/dist
RUN ./scripts/build.sh server

# ---- runtime: what every image runs, without Tandem's own files ----------------------------
FROM ${BASE_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 tandem \
    && useradd --system --uid 10001 --gid tandem --home-dir /data --shell /usr/sbin/nologin tandem \
    && mkdir -p /data /app/web \
    && chown tandem:tandem /data

ENV TANDEM_LISTEN=0.0.0.0:8080 \
    TANDEM_DATA_DIR=/data \
    TANDEM_WEB_DIR=/app/web
VOLUME ["/data"]
EXPOSE 8080
USER tandem
WORKDIR /data

# `tandem healthcheck` GETs /healthz on TANDEM_LISTEN's port: no curl needed in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["tandem", "healthcheck"]

ENTRYPOINT ["tandem"]
CMD ["serve"]

# ---- runtime with a binary and editor built elsewhere (the test command's image check) ------
FROM runtime AS runtime-prebuilt
ARG TANDEM_BINARY=tandem
ARG TANDEM_WEB_DIST=web
COPY ${TANDEM_BINARY} /usr/local/bin/tandem
COPY ${TANDEM_WEB_DIST} /app/web

# ---- the image users build (the default target: the last stage) -----------------------------
FROM runtime
COPY --from=server /src/target/release/tandem /usr/local/bin/tandem
COPY --from=web /src/web/dist /app/web
