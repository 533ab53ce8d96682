# rq-dashboard for docker-compose.yml, at the release tests/deploy/test_rq_dashboard.py
# runs against the adapter's jobs (RQ 3, JSON-serialized). Bump both together.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
# six: rq-dashboard 0.9.0 imports it without declaring it (a clean install fails)
RUN pip install --no-cache-dir "rq-dashboard==0.9.0" "six>=1.16,<2" "rq>=3.0,<4" \
    && useradd --create-home --uid 10002 --shell /usr/sbin/nologin dashboard
USER dashboard
EXPOSE 9181
ENTRYPOINT ["rq-dashboard"]
