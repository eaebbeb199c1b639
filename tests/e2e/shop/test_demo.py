"""``baton demo`` against the running shop: every step succeeds and the e-mails are shown."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

BATON = Path(sys.executable).with_name("baton")


async def test_the_demo_runs_every_step_through_the_gateway(shop):
    done = await asyncio.to_thread(
        subprocess.run,
        [str(BATON), "demo", "-f", str(shop.manifest_path), "--json", "--timeout", "60"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = json.loads(done.stdout)
    steps = {s["title"]: s for s in report["steps"]}
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert report["ok"] is True
    assert report["via"].startswith("the gateway")
    assert steps["Check out (card accepted)"]["data"]["order"]["status"] == "CONFIRMED"
    assert steps["Check out (card declined)"]["data"]["order"]["status"] == "CANCELLED"
    after = steps["Change a price (staff)"]["data"]
    assert after["after"]["price_cents"] == after["before"]["price_cents"] + 100
    subjects = [m["subject"] for m in steps["Read the e-mails"]["data"]["messages"]]
    assert any("is confirmed" in s for s in subjects)
    assert any("was cancelled" in s for s in subjects)


def test_the_demo_says_plainly_when_no_shop_runs(tmp_path):
    manifest = tmp_path / "baton.yaml"
    manifest.write_text("name: nothing\nservices: {x: {command: [true]}}\n")
    done = subprocess.run([str(BATON), "demo", "-f", str(manifest)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no control plane runs" in done.stderr
    assert "Traceback" not in done.stderr
