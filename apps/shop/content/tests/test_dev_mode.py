"""``CONTENT_DEV_MODE``: without configured API tokens the hub accepts the well-known dev tokens (so a fresh
``make up`` works); configured tokens always win, and without dev mode there are no tokens at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from content_helpers import FULL, running_hub

DEV_READ = {"Authorization": "Bearer dev-content-read-only"}
DEV_FULL = {"Authorization": "Bearer dev-content-full-access"}
BLURB = {"data": {"productId": "p-dev", "headline": "Dev"}}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # (dev read token reads drafts, dev full token writes, configured token writes, dev read token writes)
        ({"CONTENT_DEV_MODE": "true", "CONTENT_API_TOKENS": ""}, (200, 201, 401, 403)),  # dev tokens only
        ({"CONTENT_DEV_MODE": "true"}, (401, 401, 201, 401)),  # the secret is set: dev tokens refused
        ({"CONTENT_DEV_MODE": "false", "CONTENT_API_TOKENS": ""}, (401, 401, 401, 401)),  # no tokens at all
    ],
)
async def test_dev_tokens_work_only_in_dev_mode_without_configured_tokens(tmp_path: Path, env, expected):
    async with running_hub(tmp_path, env) as http:
        drafts = await http.get("/api/email-templates", params={"status": "draft"}, headers=DEV_READ)
        created = await http.post("/api/product-blurbs", json=BLURB, headers=DEV_FULL)
        configured = await http.post("/api/product-blurbs", json=BLURB, headers=FULL)
        readonly_write = await http.post("/api/product-blurbs", json=BLURB, headers=DEV_READ)
    statuses = (drafts.status_code, created.status_code, configured.status_code, readonly_write.status_code)
    assert statuses == expected
