"""Redis, the Celery broker (Debian's package, ``tb-redis`` entry point, password per run)."""

from __future__ import annotations

import redis

from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx, secret_file

PORT = 6379


def spec(ctx: Ctx, node: str = "redis") -> NodeSpec:
    return NodeSpec(
        name=node,
        role="redis",
        image=ctx.services_image,
        command=["tb-redis"],
        files=dict([secret_file("redis_password", ctx.secrets.redis_password)]),
        ports=[PORT],
        file_uid=0,
    )


def client(ctx: Ctx, timeout: float = 2) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1",
        port=ctx.host_port("redis", PORT),
        password=ctx.secrets.redis_password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )


def probe(ctx: Ctx, node: str = "redis") -> Probe:
    return Probe("redis PING", lambda: client(ctx).ping(), interval=0.2)
