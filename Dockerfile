# crm-adapter: one image for the web process and the workers.
#   docker build -t crm-adapter .
#   docker run --env-file .env -p 8000:8000 crm-adapter                    # web
#   docker run --env-file .env crm-adapter adapter worker                   # a worker
# Secrets come from the environment at run time; none are baked into the image.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY workers ./workers
COPY crm_sandbox ./crm_sandbox
COPY bench ./bench
# wheels for the package and every dependency, so the final stage installs offline
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels crm-adapter \
    && rm -rf /wheels
USER app
WORKDIR /home/app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
CMD ["adapter", "serve", "--host", "0.0.0.0"]
