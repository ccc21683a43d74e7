# What every Airflow version's image shares, built once: Debian's Python, krb5, uv, and every
# package of the default version's lock except Airflow's own (apache-airflow, -core, -task-sdk),
# C extensions (gssapi, krb5, pykerberos) compiled here and nowhere else; then the diagnostic
# tools. The build trusts CA_BUNDLE (the host's bundle by default, so TLS-intercepting proxies
# work) only while installing, never at run time.
ARG BASE
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PATH=/opt/airflow/bin:$PATH \
    AIRFLOW_HOME=/opt/airflow/home PYTHONDONTWRITEBYTECODE=1
# libfaketime: a node whose clock can jump while it runs (the clock_jump fault; containers share
# the host's clock), at the path the services image links it too (testbed.faketime.LIBRARY)
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 krb5-user procps libfaketime \
 && ln -s /usr/lib/*/faketime/libfaketime.so.1 /usr/local/lib/libfaketime.so.1 \
 && rm -rf /var/lib/apt/lists/*
COPY uv /usr/local/bin/uv
COPY ca-bundle.crt /tmp/ca-bundle.crt
COPY deps.lock /opt/deps.lock
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends gcc libc6-dev libkrb5-dev python3-dev \
 && SSL_CERT_FILE=/tmp/ca-bundle.crt UV_NO_CACHE=1 \
    uv venv --python /usr/bin/python3 /opt/airflow \
 && SSL_CERT_FILE=/tmp/ca-bundle.crt UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 \
    uv pip sync --python /opt/airflow/bin/python /opt/deps.lock \
 && apt-get purge -y -q gcc libc6-dev libkrb5-dev python3-dev && apt-get autoremove -y -q \
 && rm -rf /var/lib/apt/lists/* /tmp/ca-bundle.crt \
 && useradd --uid 50000 --gid 0 --home-dir /opt/airflow/home --create-home airflow \
 && mkdir -p /opt/airflow/dags /opt/airflow/home/logs /run/testbed \
 && chown -R airflow:0 /opt/airflow/dags /opt/airflow/home /run/testbed
# Diagnostic tools (py-spy) from their own hash-pinned lock: adding a tool never re-locks
# Airflow. The CA bundle is copied again for this step only and removed after.
COPY tools.lock /opt/tools.lock
COPY ca-bundle.crt /tmp/ca-bundle.crt
RUN SSL_CERT_FILE=/tmp/ca-bundle.crt UV_NO_CACHE=1 \
    uv pip install --python /opt/airflow/bin/python --require-hashes --no-deps \
    -r /opt/tools.lock \
 && rm -f /tmp/ca-bundle.crt
