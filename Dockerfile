# One image for every movierec process (migrate, api, worker); docker-compose.yml picks the command.

# GraphiQL's JavaScript and CSS from npm, at the versions in app/web/package-lock.json.
FROM node:20-slim AS web
WORKDIR /web
COPY app/web/package.json app/web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1

WORKDIR /srv/movierec

# torch first and pinned, so no other requirement pulls a different build. To get the small
# CPU-only wheel, pass --build-arg PIP_EXTRA_INDEX_URL=<the PyTorch CPU wheel index>.
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install "torch==2.13.0"

COPY pyproject.toml README.md ./
COPY app ./app
COPY --from=web /web/node_modules ./app/web/node_modules
COPY schema ./schema
COPY jobs ./jobs
RUN pip install .

RUN useradd --create-home movierec
USER movierec

CMD ["movierec", "--help"]
