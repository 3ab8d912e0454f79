# The gateway image: one codebase, the role chosen by ROLE (default: api + relay + consumer).
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY examples ./examples
COPY scripts ./scripts
USER node
EXPOSE 8080
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=8080
CMD ["node", "--import", "tsx", "src/main.ts"]
