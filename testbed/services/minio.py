"""MinIO, the S3 store for remote task logs (built from its Go module); creates the log bucket."""

from __future__ import annotations

import boto3
import requests
from botocore.config import Config

from testbed.airflow_config import LOG_BUCKET, MINIO_USER
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx

PORT = 9000


def spec(ctx: Ctx, node: str = "minio") -> NodeSpec:
    return NodeSpec(
        name=node,
        role="minio",
        image=ctx.services_image,
        command=["minio", "server", "/data", "--address", f":{PORT}", "--quiet"],
        env={
            "MINIO_ROOT_USER": MINIO_USER,
            "MINIO_ROOT_PASSWORD": ctx.secrets.minio_password,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        },
        ports=[PORT],
    )


def url(ctx: Ctx) -> str:
    return f"http://127.0.0.1:{ctx.host_port('minio', PORT)}"


def probe(ctx: Ctx, node: str = "minio") -> Probe:
    def attempt() -> bool:
        return requests.get(f"{url(ctx)}/minio/health/live", timeout=2).status_code == 200

    return Probe("GET /minio/health/live", attempt, interval=0.3)


def s3(ctx: Ctx, timeout: float = 5):
    """A boto3 S3 client for the cluster's MinIO, with bounded connect/read times."""
    return boto3.client(
        "s3",
        endpoint_url=url(ctx),
        aws_access_key_id=MINIO_USER,
        aws_secret_access_key=ctx.secrets.minio_password,
        region_name="us-east-1",
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}),
    )


def create_log_bucket(ctx: Ctx) -> None:
    s3(ctx).create_bucket(Bucket=LOG_BUCKET)
