# syntax=docker/dockerfile:1
# sirportly-mailgate: SMTP -> Redis queue -> Sirportly.
#
#   docker build -t sirportly-mailgate .                      # Node 24 (default)
#   docker build --build-arg NODE_MAJOR=26 -t sirportly-mailgate .
#
# Stages:
#   build  all dependencies (incl. TypeScript), compiles src/ -> dist/
#   deps   production dependencies only, from the lockfile, no lifecycle scripts
#   (final) dist + config + package*.json + production node_modules, runs as `node`
ARG NODE_MAJOR=24

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
# Dependencies first so this layer is reused until the lockfile changes. --ignore-scripts:
# the only dependency with an install script is msgpackr-extract (native addon, denied in
# package.json "allowScripts"; msgpackr falls back to JS), and the root `prepare` (= build)
# cannot run yet because the sources are not copied. We build explicitly below instead.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
# A clean, lockfile-exact production tree. --ignore-scripts is required here: `prepare` would
# run `tsc`, which is a dev dependency and is not installed with --omit=dev.
RUN npm ci --omit=dev --ignore-scripts \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Files stay owned by root (read-only for the service user): the gateway keeps all state in
# Redis and never writes to its own install directory.
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Read at run time as <package root>/config/default.yaml; MAILGATE_CONFIG overlays another file.
COPY config ./config

USER node
# SMTP (put a 25 -> 2525 mapping in front), HTTP: /healthz, /readyz, /metrics
EXPOSE 2525 8080

# No curl in slim images: ask /healthz with Node's own fetch. Exits non-zero on a non-2xx
# status, a connection error or after 4 s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Node runs as PID 1 and handles SIGTERM itself (graceful drain: stop accepting SMTP, finish
# sessions, close workers). Give it time: compose uses stop_grace_period 60s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["serve"]
