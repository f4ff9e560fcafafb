# One image for all seven pillars services; each container picks its service:
#   docker run pillars python -m services.embedding
# Configured only through environment variables (PILLARS_*, OTEL_*); see compose/.
FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /bin/

# Every user cache (the ONNX export: /var/cache/pillars/pillars/onnx) sits in one writable dir.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/app/.venv/bin:$PATH" \
    XDG_CACHE_HOME=/var/cache/pillars \
    PILLARS_DATA_DIR=/var/lib/pillars

WORKDIR /app

# Dependencies first (the big layer), so source edits rebuild only the last layers.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

COPY shared ./shared
COPY services ./services
COPY schemas ./schemas
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --create-home --home-dir /home/pillars pillars \
    && mkdir -p /var/cache/pillars /var/lib/pillars \
    && chown pillars:pillars /var/cache/pillars /var/lib/pillars
USER 10001

# Prometheus metrics of whichever service runs (PILLARS_METRICS_PORT).
EXPOSE 9464

# Nothing runs by default: name the service, e.g. `python -m services.embedding`.
CMD ["python", "-c", "print('pillars: run `python -m services.<ingestion|embedding|inference|evaluator|feedback|scaler>`')"]
