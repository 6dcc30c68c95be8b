# casetrail: the API (`serve`) or the views and scheduler (`worker`), one image.
# Build: docker build -t casetrail .   Run: see compose.yaml and README "Container".

# --- build the wheel (no compiler needed: pure Python) ----------------------
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain domain
COPY application application
COPY infrastructure infrastructure
COPY projections projections
COPY api api
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- the runtime image ---------------------------------------------------------
FROM python:3.11-slim
# Noto CJK: closing documents and reports render Chinese, not empty boxes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/casetrail \
       --create-home casetrail
# The locked versions, every hash checked, then casetrail without dependencies.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
COPY deploy/entrypoint.sh /usr/local/bin/casetrail-entrypoint

USER casetrail
WORKDIR /var/lib/casetrail
# Files casetrail generates (key-encryption keys, the witness file, the SQLite
# file of a trial run) live under CASETRAIL_HOME: mount a volume there.
ENV CASETRAIL_HOME=/var/lib/casetrail \
    CASETRAIL_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/casetrail"]
EXPOSE 8000
# No HEALTHCHECK here: the image runs serve and worker alike; compose.yaml checks
# serve's /readyz.
ENTRYPOINT ["casetrail-entrypoint"]
CMD ["serve"]
