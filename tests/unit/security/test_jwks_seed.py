"""An instance (re)started while the control plane is down verifies service tokens from the JWKS written beside its
credentials; a key the file lacks is still fetched from the issuer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.errors import SecurityError
from baton.events.server import free_port
from baton.security.plane import ControlPlaneSecurity
from baton.security.tokens.jwks import JwksCache, StaticJwksFetcher
from baton.security.wiring import JWKS_FILE, InstanceSecurity


@pytest.fixture
def plane(tmp_path: Path) -> ControlPlaneSecurity:
    # Nothing listens on this address: the control plane is "down" for every instance below.
    return ControlPlaneSecurity.open(tmp_path / "home", control_url=f"http://127.0.0.1:{free_port()}")


def instance(plane: ControlPlaneSecurity, tls_dir: Path) -> InstanceSecurity:
    security = InstanceSecurity.from_env(
        {
            "BATON_TLS_DIR": str(tls_dir),
            "BATON_SERVICE": "inventory",
            "BATON_INSTANCE": "inventory-1",
            "BATON_CONTROL_URL": plane.issuer.issuer,
            "BATON_CONTROL_TLS_URL": f"https://127.0.0.1:{free_port()}",
        }
    )
    assert security is not None
    return security


async def test_started_while_the_control_plane_is_down_accepts_a_valid_token(plane: ControlPlaneSecurity) -> None:
    tls_dir = plane.issue("inventory", "inventory-1")
    assert json.loads((tls_dir / JWKS_FILE).read_text()) == plane.issuer.jwks()

    verified = await instance(plane, tls_dir).verifier().verify(plane.issuer.issue(sub="order", aud="inventory"))

    assert verified.principal.subject == "order"


async def test_rotation_rewrites_the_file_and_an_unknown_kid_still_goes_to_the_issuer(
    plane: ControlPlaneSecurity,
) -> None:
    tls_dir = plane.issue("inventory", "inventory-1")
    before = instance(plane, tls_dir).verifier()  # running since before the rotations
    plane.rotate_signing_key()
    plane.rotate_signing_key()  # the active key is now one the first file never published
    token = plane.issuer.issue(sub="order", aud="inventory")

    with pytest.raises(SecurityError):
        await before.verify(token)  # not in its seed: fetched from the (unreachable) issuer
    assert json.loads((tls_dir / JWKS_FILE).read_text()) == plane.issuer.jwks()
    assert (await instance(plane, tls_dir).verifier().verify(token)).principal.subject == "order"


async def test_a_seed_is_not_a_fetch(plane: ControlPlaneSecurity) -> None:
    fetcher = StaticJwksFetcher(plane.issuer.jwks)
    cache = JwksCache(fetcher, min_refresh=3600)
    stale = plane.issuer.jwks()
    plane.rotate_signing_key()
    plane.rotate_signing_key()

    assert cache.seed(stale) == 2
    assert await cache.get(json.loads(json.dumps(stale))["keys"][0]["kid"]) is not None
    assert fetcher.calls == 0
    assert await cache.get(plane.issuer.active_kid) is not None  # unknown to the seed: fetched at once
    assert fetcher.calls == 1


def test_an_unreadable_file_is_ignored(plane: ControlPlaneSecurity) -> None:
    tls_dir = plane.issue("inventory", "inventory-1")
    (tls_dir / JWKS_FILE).write_text("{not json")
    assert instance(plane, tls_dir).verifier().keys._keys == {}
