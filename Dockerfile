# rhworker: one image for the worker, the Nova simulator and the demo.
#
#   docker build -t rhworker .                                  # from PyPI
#   docker build --build-arg BASE_IMAGE=rhworker-base -t rhworker .   # any Debian-like base
#
# When the build context holds wheelhouse/ (made with `pip wheel . -w wheelhouse`),
# rhworker and its dependencies are installed from it alone, with no index: the offline
# build that .ci/compose.sh does. Otherwise the dependencies come from PyPI.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title=rhworker

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/rhworker/bin:$PATH

COPY . /src
# A virtual environment: Debian's own Python refuses system-wide pip installs (PEP 668).
RUN set -eu; \
    python3 -m venv /opt/rhworker; \
    if ls /src/wheelhouse/rhworker-*.whl >/dev/null 2>&1; then \
        pip install --no-index --find-links /src/wheelhouse rhworker; \
    else \
        pip install /src; \
    fi; \
    rm -rf /src; \
    rhworker --version; \
    useradd --system --uid 10001 --user-group --home-dir /var/lib/rhworker --create-home \
        --shell /usr/sbin/nologin rhworker; \
    mkdir -p /etc/rhworker

USER rhworker
WORKDIR /var/lib/rhworker

# Exec form: rhworker is the process that receives SIGTERM (run with `init: true`, or
# `docker run --init`, so that a small init reaps children and forwards signals).
ENTRYPOINT ["rhworker"]
CMD ["worker"]
