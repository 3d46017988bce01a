"""Throw-away TLS material made with `openssl`: a CA and server certificates it signs, for the
tests and benchmarks that run mosquitto with TLS. EC P-256 keys: quick to make, as a site's
would be."""

from __future__ import annotations

import subprocess
from pathlib import Path

KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(folder: Path, name: str = "ca") -> tuple[Path, Path]:
    """`folder/name.crt` and its key, a CA valid two days."""
    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    openssl("req", "-x509", *KEY, "-days", "2", "-subj", f"/CN={name}", "-keyout", key, "-out", crt)
    return crt, key


def make_server_cert(
    folder: Path,
    ca: tuple[Path, Path],
    name: str = "server",
    ips: tuple[str, ...] = ("127.0.0.1",),
    dns: tuple[str, ...] = ("localhost",),
) -> tuple[Path, Path]:
    """`folder/name.crt` and its key, signed by `ca`, for `ips` and `dns` names (the first IP
    is also its common name)."""
    key, csr, crt, ext = (folder / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    names = [f"IP:{ip}" for ip in ips] + [f"DNS:{d}" for d in dns]
    ext.write_text(f"subjectAltName = {', '.join(names)}\n")
    openssl("req", "-new", *KEY, "-subj", f"/CN={ips[0]}", "-keyout", key, "-out", csr)
    signing = ["-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-days", "2", "-sha256"]
    openssl("x509", "-req", "-in", csr, *signing, "-extfile", ext, "-out", crt)
    return crt, key
