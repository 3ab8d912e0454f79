# The gateway image: the compiled gateway (npm run build) on Node.js 26, the Active LTS (22 and 24
# are supported too: CI tests them). One codebase, the role chosen by ROLE (default: api + relay
# + consumer). Two stages: the build with the dev dependencies, and a runtime with only the
# production dependencies, dist/ and migrations/ (no TypeScript, no tsx).
ARG NODE_VERSION=26

FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspace of the OpenAPI client test (its dev dependencies only): npm ci needs its package.json.
COPY tools/openapi-client/package.json ./tools/openapi-client/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:${NODE_VERSION}-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY tools/openapi-client/package.json ./tools/openapi-client/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# dist/db/migrate.js reads ../../migrations/: /app/migrations. The served OpenAPI document's
# examples come from ../../examples/.
COPY migrations ./migrations
COPY examples ./examples
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8080
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=8080
# /ready: Postgres and the broker reachable (a relay or consumer without the API passes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/healthcheck.js"]
# node itself, not npm start: SIGTERM reaches the gateway, which drains and stops cleanly.
CMD ["node", "dist/main.js"]
