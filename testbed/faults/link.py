"""Link faults through Toxiproxy: a toxic (latency, stall, timeout/blackhole, bandwidth,
reset_peer) or ``down`` on one link or a glob of links (``*->redis``); each fault undoes only
its own toxics. :func:`heal_proxy` clears a whole proxy (a cluster's reset).
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

import requests

from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.services import toxiproxy

if TYPE_CHECKING:
    from testbed.cluster import Cluster


TOXICS = {
    "latency": ("latency", {"latency": 1000, "jitter": 0}),
    "timeout": ("timeout", {"timeout": 0}),  # blackhole: data is dropped, nothing is closed
    # A stall: data is held (an hour's latency) and delivered when the toxic is removed, so the
    # link heals cleanly. A blackhole's dropped bytes leave the client either waiting forever or
    # with a broken protocol stream (the dag-processor then exits 1): not a heal.
    "stall": ("latency", {"latency": 3_600_000, "jitter": 0}),
    "bandwidth": ("bandwidth", {"rate": 16}),
    "reset_peer": ("reset_peer", {"timeout": 0}),
}


class LinkFault(Fault):
    """A Toxiproxy fault on one link (e.g. ``scheduler->postgres``): a toxic, or ``down``."""

    kind = "link"

    def __init__(self, cluster: Cluster, link: str, toxic: str, **params) -> None:
        name = params.pop("name", None)
        super().__init__(cluster, link, name=name)
        if toxic not in (*TOXICS, "down"):
            raise FaultError(f"toxic {toxic!r}; allowed: {', '.join([*TOXICS, 'down'])}")
        self.proxies = link_proxies(cluster, link)
        self.toxic, self.params = toxic, params

    @property
    def proxy(self) -> str:
        return self.proxies[0]

    @proxy.setter
    def proxy(self, value: str) -> None:
        self.proxies = [value]

    def describe(self) -> dict[str, Any]:
        return {"toxic": self.toxic, "proxies": self.proxies, **self.params}

    def _url(self, proxy: str, path: str = "") -> str:
        return f"{toxiproxy.api(self.cluster)}/proxies/{proxy}{path}"

    def _inject(self) -> None:
        for proxy in self.proxies:
            self._inject_one(proxy)

    def _inject_one(self, proxy: str) -> None:
        if self.toxic == "down":
            _ok(requests.post(self._url(proxy), json={"enabled": False}, timeout=5))
            return
        kind, defaults = TOXICS[self.toxic]
        for stream in ("upstream", "downstream"):
            body = {
                "name": self._toxic_name(stream),
                "type": kind,
                "stream": stream,
                "attributes": {**defaults, **self.params},
            }
            _ok(requests.post(self._url(proxy, "/toxics"), json=body, timeout=5))

    def _toxic_name(self, stream: str) -> str:
        return f"tb-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.name)}-{stream}"

    def _heal(self) -> None:
        """Undo only this fault: its own toxics, or the proxy it disabled (faults may overlap)."""
        for proxy in self.proxies:
            url = self._url(proxy)
            if self.toxic == "down":
                _ok(requests.post(url, json={"enabled": True}, timeout=5))
                continue
            _ok(requests.get(url, timeout=5))  # the proxy itself must exist
            for stream in ("upstream", "downstream"):
                r = requests.delete(f"{url}/toxics/{self._toxic_name(stream)}", timeout=5)
                if r.status_code not in (204, 404):
                    _ok(r)


def link_proxies(cluster: Cluster, pattern: str) -> list[str]:
    """Proxy names of the links matching ``client->upstream`` (``*`` globs allowed)."""
    links = cluster.topology.links()
    found = [k.name for k in links if fnmatch.fnmatchcase(k.label, pattern)]
    if not found:
        raise FaultError(f"no link {pattern!r}; links: {', '.join(k.label for k in links)}")
    return found


def heal_proxy(cluster: Cluster, proxy: str) -> None:
    """Enable the proxy and delete every toxic on it."""
    url = f"{toxiproxy.api(cluster)}/proxies/{proxy}"
    _ok(requests.post(url, json={"enabled": True}, timeout=5))
    for toxic in requests.get(f"{url}/toxics", timeout=5).json():
        r = requests.delete(f"{url}/toxics/{toxic['name']}", timeout=5)
        if r.status_code not in (204, 404):
            _ok(r)


def _ok(r: requests.Response) -> None:
    if r.status_code >= 300:
        raise FaultError(f"toxiproxy {r.request.method} {r.url}: {r.status_code} {r.text[:200]}")
