# syntax=docker/dockerfile:1
# The Rule Repository workers and API: one image, run as `rulerepo worker`,
# `rulerepo api` or `rulerepo migrate`. Dependencies come from requirements.lock.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY tasks ./tasks
COPY graphs ./graphs
COPY api ./api
COPY rulerepo ./rulerepo
COPY migrations ./migrations
RUN /opt/venv/bin/pip install --no-deps .

FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 rulerepo \
    && useradd --system --uid 10001 --gid rulerepo --home /home/rulerepo --create-home rulerepo
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /home/rulerepo
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["rulerepo"]
CMD ["worker"]
