# syntax=docker/dockerfile:1
# airlock's container image: `docker build -t airlock-mcp:0.1.0 .`
#
# Two stages. `build` installs every dependency and runs the package's own build (`npm run build`: TypeScript,
# then the one-file bundle and its V8 code cache). `runtime` installs the production dependencies only and
# copies what the npm package ships (package.json "files"). Both stages use the same Node image: the code
# cache is made for the exact Node version that built it, and another Node would ignore it (and start slower).

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the build below is the only one (npm ci would otherwise run "prepare" before the
# sources are here), and nothing airlock needs at build time has a script of its own that must run.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json policies.json airlock.example.json ./
COPY scripts ./scripts
COPY src ./src
COPY tools ./tools
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/tools ./dist/tools
COPY --from=build /src/dist/bundle ./dist/bundle
COPY policies.json airlock.example.json ./
# `airlock` on PATH, as `npm install -g` would link it. /etc/airlock takes the policy and the runtime config
# (mounted read-only); /var/lib/airlock is the only place airlock writes (the JSON audit store and approvals,
# when the PostgreSQL stores are not configured): a volume, so the root filesystem can be read-only.
RUN ln -s /app/dist/bundle/cli.js /usr/local/bin/airlock \
 && mkdir -p /etc/airlock /var/lib/airlock/audit \
 && chown -R 1000:1000 /var/lib/airlock
# The image's `node` user, by number: Kubernetes can only verify runAsNonRoot for a numeric user.
USER 1000:1000
VOLUME ["/var/lib/airlock"]
EXPOSE 7300
# The HTTP transport's own health endpoint, on loopback (a Host header airlock always accepts). The image has
# no curl: Node's fetch makes the request. Change the port here too if you change --port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7300/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["airlock"]
CMD ["serve", "--http", "--host", "0.0.0.0", "--port", "7300", "--policy", "/etc/airlock/policies.json", "--config", "/etc/airlock/airlock.json", "--audit-dir", "/var/lib/airlock/audit"]
