"""``baton cert operator`` against a real system: the exported certificate opens a kit instance's ``/docs`` over
mutual TLS (with httpx, as curl or a browser would, no service token); without it the handshake is refused."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from baton.security.spiffe import spiffe_id_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[3]
BATON = Path(sys.executable).with_name("baton")


def baton(plane, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BATON), *args, "-f", str(plane.manifest)],
        capture_output=True,
        text=True,
        timeout=120,
        env=plane.env(),
        cwd=plane.root,
    )


def hello() -> dict[str, object]:
    """A real kit service (the example app) in the system under test."""
    return {"module": "apps.hello.service:service", "cwd": str(REPO), "env": {"HELLO_GREETING": "Hello"}}


async def test_the_exported_certificate_opens_an_instances_docs_and_nothing_else_does(control_plane, tmp_path):
    plane = control_plane({"hello": hello()})
    up = baton(plane, "up", "--detach")
    assert up.returncode == 0, up.stderr
    try:
        assert "baton cert operator" in up.stdout  # the URLs `up` prints say how to open the instances' /docs
        out = tmp_path / "operator"
        run = baton(plane, "cert", "operator", "--out", str(out), "--json")
        assert run.returncode == 0, run.stderr
        exported = json.loads(run.stdout)
        check_files(out, exported)
        check_docs(exported)
        check_pkcs12(exported, written=[*out.iterdir(), *plane.home.root.rglob("*")])
    finally:
        assert baton(plane, "down").returncode == 0


def check_files(out: Path, exported: dict[str, str]) -> None:
    """Owner-only PEM files and the PKCS#12 bundle, of a short-lived operator leaf."""
    assert {p.name for p in out.iterdir()} >= {"cert.pem", "key.pem", "bundle.pem", "operator.p12"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in out.iterdir())  # owner-only, the key above all
    not_after = datetime.fromisoformat(exported["not_after"])
    assert timedelta(hours=11) < not_after - datetime.now(UTC) <= timedelta(hours=12)  # 12 h by default
    assert exported["spiffe_id"].endswith("/svc/operator")


def check_docs(exported: dict[str, str]) -> None:
    """What curl does with the files: the docs open; without a client certificate the handshake is refused."""
    docs = exported["curl"].split()[-1]
    assert docs.startswith("https://127.0.0.1:")
    assert docs.endswith("/docs")
    trust = ssl.create_default_context(cafile=exported["ca"])  # the system's CA as the only trust anchor
    trust.load_cert_chain(exported["cert"], exported["key"])
    with httpx.Client(verify=trust, timeout=30) as http:
        page = http.get(docs)
        schema = http.get(docs.removesuffix("/docs") + "/openapi.json")
        api = http.get(docs.removesuffix("/docs") + "/v1/greetings")
    assert page.status_code == 200, page.text
    assert "swagger-ui" in page.text
    assert schema.json()["info"]["title"] == "hello"
    assert api.status_code == 401  # the API itself still wants a service token: the docs need none

    bare = ssl.create_default_context(cafile=exported["ca"])
    with httpx.Client(verify=bare, timeout=30) as http, pytest.raises(httpx.TransportError):
        http.get(docs)


def check_pkcs12(exported: dict[str, str], *, written: list[Path]) -> None:
    """The browser's bundle opens with the printed password only, holds the leaf and its key, and the password
    is stored nowhere (not beside the files, not in any file or log of the system)."""
    data = Path(exported["pkcs12"]).read_bytes()
    key, cert, chain = pkcs12.load_key_and_certificates(data, exported["pkcs12_password"].encode())
    assert cert is not None
    assert key is not None
    assert chain  # the issuer, so the browser presents the full chain
    assert spiffe_id_of(cert) == exported["spiffe_id"]
    assert cert.public_key() == key.public_key()
    with pytest.raises(ValueError, match="password"):
        pkcs12.load_key_and_certificates(data, b"not-the-password")
    password = exported["pkcs12_password"].encode()
    assert not [p for p in written if p.is_file() and password in p.read_bytes()]


async def test_bad_input_is_one_line_and_a_usage_status(control_plane, tmp_path):
    plane = control_plane({"hello": hello()})  # not started: no control plane runs
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    cases = {
        ("--out", str(not_a_dir)): (2, "is a file"),
        ("--env", "nowhere"): (2, "nowhere"),
        ("--out", str(tmp_path / "fresh")): (1, "baton up"),
    }
    for args, (status, words) in cases.items():
        run = baton(plane, "cert", "operator", *args)
        assert run.returncode == status, (args, run.stdout, run.stderr)
        assert words in run.stderr, (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) <= 2, run.stderr
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "fresh").exists()
