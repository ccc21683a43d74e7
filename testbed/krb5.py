"""The Kerberos realm's names, shared by the KDC, every Kerberos node's configuration and the
checks: the realm and its DNS domain, a node's dotted name in it, a service principal, the KDC's
address and where ``krb5.conf`` lives in every node (pure constants)."""

from __future__ import annotations

REALM = "TESTBED.INTERNAL"
DOMAIN = "testbed.internal"
HOST = f"kdc.{DOMAIN}"
PORT = 88
KRB5_CONF = "/etc/krb5.conf"


def fqdn(node: str) -> str:
    return f"{node}.{DOMAIN}"


def principal(service: str, node: str) -> str:
    """``airflow/worker-1.testbed.internal@TESTBED.INTERNAL``."""
    return f"{service}/{fqdn(node)}@{REALM}"
