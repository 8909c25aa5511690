# syntax=docker/dockerfile:1
# CodeTether images: `server` (codetether serve) and `worker` (codetether-worker).
#   docker build --target server -t codetether-server .
#   docker build --target worker -t codetether-worker .
# compose.yaml runs both with Postgres. Both run as the unprivileged user `codetether`.

# Everything, dev tools included: compiles the server (dist/, with the patched postgres.js bundled in) and
# builds the dashboard (web/dist).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund

# Only what runs: production dependencies.
FROM node:20-bookworm-slim AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/package.json
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS base
# OpenCode works in git repositories; tini reaps the opencode processes it starts.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates tini \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system codetether \
  && useradd --system --gid codetether --create-home --home-dir /home/codetether codetether \
  && mkdir -p /data /workspace \
  && chown codetether:codetether /data /workspace
WORKDIR /app
COPY --from=runtime-deps /app/node_modules node_modules
COPY package.json ./
COPY bin bin
COPY --from=build /app/dist dist
COPY drizzle drizzle
COPY openapi openapi
COPY --from=build /app/web/dist web/dist
ENV NODE_ENV=production \
    CODETETHER_DATA_DIR=/data \
    HOME=/home/codetether
USER codetether
ENTRYPOINT ["/usr/bin/tini", "--"]

FROM base AS server
ENV CODETETHER_HOST=0.0.0.0 \
    CODETETHER_PORT=8000
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CODETETHER_PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/codetether.mjs", "serve"]

FROM base AS worker
# Give it its codebases and the server: docker run codetether-worker --server http://server:8000 --codebase app:/workspace/app
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/codetether-worker.mjs"]
CMD ["--help"]
