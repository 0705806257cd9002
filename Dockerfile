# syntax=docker/dockerfile:1
# keystore-watch container image.
#
#   docker build -t keystore-watch .
#   docker run --rm -p 9464:9464 \
#     -v "$PWD/config/keystore-watch.yaml:/etc/keystore-watch/config.yaml:ro" \
#     -v keystore-watch-state:/var/lib/keystore-watch \
#     --read-only --tmpfs /tmp keystore-watch
#
# The same install-and-start steps run outside Docker in CI: scripts/docker-steps.sh.
# test/kit/dockerfile.test.ts asserts the properties below (keep them in sync).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile TypeScript to dist/ ----------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, compiled code, non-root -----------------------------------
FROM ${NODE_IMAGE} AS runtime

# VERSION is package.json's "version" (scripts/sync-version.mjs keeps this default equal to it at every
# `npm version`; test/kit/release.test.ts checks); REVISION is the git commit:
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" -t keystore-watch:"$(node -p 'require("./package.json").version')" .
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="keystore-watch" \
      org.opencontainers.image.description="Watches every AWS KMS custom key store across accounts and regions, exports Prometheus metrics and pages on-call with the fix." \
      org.opencontainers.image.source="https://github.com/keystore-watch/keystore-watch" \
      org.opencontainers.image.documentation="https://github.com/keystore-watch/keystore-watch/blob/main/docs/operator-kit.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# tini as PID 1: forwards SIGTERM/SIGINT to node (graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# A V8 heap ceiling. Besides bounding the heap, a ceiling under 2 GiB makes V8 grow the heap in smaller
# steps between full collections (growing factor 1.6 at 1 GiB, 4.0 at 2 GiB and more): at 16,000 targets the daemon peaks at
# ~210-220 MB of RSS instead of ~265-400 MB, at the same CPU (docs/performance.md). The live heap at that
# size is ~40-70 MB; raise the ceiling with -e NODE_OPTIONS=--max-old-space-size=N for far larger fleets.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-old-space-size=1024
# keystore_watch_build_info{revision} (src/version.ts).
ENV KEYSTORE_WATCH_REVISION=${REVISION}
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config

# State (snapshot, alert state, outbox, history) only under the volume; the rest of the filesystem
# can be read-only. The image's "node" user is uid/gid 1000.
# /app/data points there too, so the default stateDir (./data) also lands on the volume.
RUN mkdir -p /var/lib/keystore-watch /etc/keystore-watch \
 && chown 1000:1000 /var/lib/keystore-watch \
 && ln -s /var/lib/keystore-watch /app/data
VOLUME /var/lib/keystore-watch
USER 1000:1000

EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

ENTRYPOINT ["tini", "--", "node", "dist/cli/main.js"]
CMD ["run", "--config", "/etc/keystore-watch/config.yaml"]
