"""Toxiproxy (built from its Go module): one proxy per link a component uses to reach Postgres,
Redis or the api-server's Execution API, declared in a config file so every proxy exists before
any component starts.

The host talks to its HTTP API (published on 127.0.0.1) to add and remove toxics.
"""

from __future__ import annotations

import json

import requests

from testbed import airflow_config as AC
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx
from testbed.topology import Topology

API_PORT = 8474
UPSTREAM_PORTS = {
    "postgres": 5432,
    "redis": 6379,
    "api-server": AC.API_PORT,
    "minio": AC.MINIO_PORT,
}


def proxies(topology: Topology) -> list[dict]:
    return [
        {
            "name": link.name,
            "listen": f"0.0.0.0:{link.listen_port}",
            "upstream": f"{link.upstream}:{UPSTREAM_PORTS[link.upstream]}",
            "enabled": True,
        }
        for link in topology.links()
    ]


def spec(ctx: Ctx, node: str = "toxiproxy") -> NodeSpec:
    config = json.dumps(proxies(ctx.topology), indent=1).encode()
    return NodeSpec(
        name=node,
        role="toxiproxy",
        image=ctx.services_image,
        command=[
            "toxiproxy-server",
            "-host",
            "0.0.0.0",
            "-port",
            str(API_PORT),
            "-config",
            "/etc/toxiproxy.json",
        ],
        files={"/etc/toxiproxy.json": (config, 0o444)},
        ports=[API_PORT],
        file_uid=0,
    )


def api(ctx: Ctx) -> str:
    return f"http://127.0.0.1:{ctx.host_port('toxiproxy', API_PORT)}"


def probe(ctx: Ctx, node: str = "toxiproxy") -> Probe:
    def attempt() -> bool:
        r = requests.get(f"{api(ctx)}/proxies", timeout=2)
        return r.status_code == 200 and len(r.json()) == len(ctx.topology.links())

    return Probe("GET /proxies (all links declared)", attempt, interval=0.2)
