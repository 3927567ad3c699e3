# ci-bot's container image: `cibot serve` as an unprivileged user on a read-only root.
#
# Two stages: the first installs exactly the locked dependencies (uv.lock, no development
# tools) and ci-bot itself into a virtual environment at /app; the second is a plain Debian
# with Python and that environment, nothing else (no compiler, no pip, no uv).
#
#   docker build --build-arg VERSION=0.1.0 --build-arg SOURCE=https://… -t cibot .
#
# The base is an argument so that a build that can reach no registry can name a local one
# (scripts/localimage makes it from Debian packages). Debian 12's python3 is the 3.11
# ci-bot is made for.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# UV_SYSTEM_CERTS: trust the system's CA store, as apt and pip do (a proxy's CA included).
ENV UV_PYTHON=/usr/bin/python3 UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy UV_NO_CACHE=1 UV_PROJECT_ENVIRONMENT=/app UV_SYSTEM_CERTS=1
WORKDIR /src
# The dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project
COPY README.md ./
COPY src ./src
RUN /opt/uv/bin/uv sync --locked --no-dev --no-editable

FROM ${BASE_IMAGE}
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="ci-bot" \
      org.opencontainers.image.description="Deploys each build to a preview; QA approves in Slack; owners promote to production." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 cibot \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin cibot \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/cibot
COPY --from=build /app /app
# Bytecode was compiled at build time; nothing is written below / at run time, so the root
# filesystem can be read-only. State goes to the database (a SQLite file under
# /var/lib/cibot, a volume, or PostgreSQL); the config is mounted at /etc/cibot/cibot.yaml.
ENV PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    CIBOT_CONFIG=/etc/cibot/cibot.yaml
WORKDIR /var/lib/cibot
USER 10001:10001
EXPOSE 8080
CMD ["cibot", "serve"]
