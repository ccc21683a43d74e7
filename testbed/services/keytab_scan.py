"""A scan for Kerberos keys on a node, run *inside* the node (``python3 -c <this file>``, standard
library only) by :func:`testbed.observe.kerberos.keytab_scan`; prints one JSON object.

- ``files``: every regular file (up to 1 MiB; /proc, /sys and /dev skipped) that is a keytab by
  its content (format 0x0501/0x0502 and a plausible first entry: a printable realm) or by its
  name (``*.keytab``), with owner, mode and who may read it.
- ``env``: every process's environment variables that name a keytab (``KRB5_KTNAME``,
  ``KRB5_CLIENT_KTNAME``, ``*KEYTAB*``), and whether the file they name exists.
- ``mounts``: the node's mounts other than the kernel's own (proc, sysfs, cgroups, devices).
- ``cache``: for ``--cache PATH``, whether that credential cache exists, can be read, and
  whether appending to it or creating a file beside it works (it must not, on a worker).

Run it twice: as root for ``files``, ``mounts`` and ``cache`` (root sees every file), and with
``--user`` as the node's own user for ``env`` and ``cache`` (root in a container has no
CAP_SYS_PTRACE, so it cannot read the environment of another user's processes; the node's user
can read its own processes'). Variables a process sets after it started (Airflow exports
KRB5_KTNAME in its own process) are not in ``/proc/<pid>/environ``; see the host-side part.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys

SKIP = ("/proc", "/sys", "/dev")
KERNEL_FS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "devtmpfs", "securityfs"}
MAX_SIZE = 1 << 20


def is_keytab(head: bytes) -> bool:
    """A keytab's version bytes, then a first entry with 1-16 components and a printable realm."""
    if len(head) < 12 or head[:2] not in (b"\x05\x02", b"\x05\x01"):
        return False
    order = "big" if head[1] == 2 else sys.byteorder
    size = int.from_bytes(head[2:6], order, signed=True)
    count = int.from_bytes(head[6:8], order)
    rlen = int.from_bytes(head[8:10], order)
    realm = head[10 : 10 + rlen]
    return (
        size > 0
        and 1 <= count <= 16
        and 1 <= rlen <= 255
        and len(realm) == rlen
        and all(33 <= c < 127 for c in realm)
    )


def readers(st: os.stat_result) -> list[str]:
    bits = (("owner", stat.S_IRUSR), ("group", stat.S_IRGRP), ("other", stat.S_IROTH))
    return [who for who, bit in bits if st.st_mode & bit]


def scan_files(root: str) -> tuple[list[dict], int]:
    found, scanned = [], 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in SKIP]
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIZE:
                    continue
                scanned += 1
                with open(path, "rb") as fh:
                    head = fh.read(300)
            except OSError:
                continue
            by_content = is_keytab(head)
            if by_content or name.endswith(".keytab"):
                found.append(
                    {
                        "path": path,
                        "keytab": by_content,
                        "uid": st.st_uid,
                        "mode": oct(st.st_mode & 0o777),
                        "readable_by": readers(st),
                    }
                )
    return found, scanned


def scan_env() -> list[dict]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                raw = fh.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ")[:80]
        except OSError:
            continue
        for item in raw:
            name, _, value = item.decode("utf-8", "replace").partition("=")
            if name in ("KRB5_KTNAME", "KRB5_CLIENT_KTNAME") or "KEYTAB" in name.upper():
                path = value.removeprefix("FILE:")
                resolved = path if path.startswith("/") else f"/proc/{pid}/cwd/{path}"
                out.append(
                    {
                        "pid": int(pid),
                        "cmd": cmd.decode("utf-8", "replace").strip(),
                        "name": name,
                        "value": value,
                        "exists": bool(path) and os.path.exists(resolved),
                    }
                )
    return out


def scan_mounts() -> list[dict]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            point, options, fstype = fields[4], fields[5], rfields[0]
            if fstype in KERNEL_FS or point.startswith(SKIP):
                continue
            out.append({"path": point, "fstype": fstype, "ro": "ro" in options.split(",")})
    return out


def probe_cache(path: str) -> dict:
    def attempt(fn) -> str:
        try:
            fn()
            return "ok"
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))

    def append() -> None:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))

    def create() -> None:
        probe = os.path.join(os.path.dirname(path), ".testbed-write-probe")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)

    return {
        "path": path,
        "uid": os.getuid(),
        "exists": os.path.exists(path),
        "readable": os.access(path, os.R_OK),
        "append": attempt(append),
        "create": attempt(create),
    }


def main(argv: list[str]) -> dict:
    cache = argv[argv.index("--cache") + 1] if "--cache" in argv else None
    if "--user" in argv:
        return {"env": scan_env(), "cache": probe_cache(cache) if cache else None}
    files, scanned = scan_files("/")
    return {
        "files": files,
        "scanned": scanned,
        "mounts": scan_mounts(),
        "cache": probe_cache(cache) if cache else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
