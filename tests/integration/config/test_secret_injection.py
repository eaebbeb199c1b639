"""A secret reaches a real child process through its environment, never through its command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import psutil
import pytest

from baton.security.secrets import LocalSecretStore, secrets_env

pytestmark = pytest.mark.integration

VALUE = "injected-s3cret-5521"

CHILD = """
import os, sys
sys.stdout.write(os.environ.get("DB_PASSWORD", "<missing>") + "\\n")
sys.stdout.write(os.environ.get("SMTP_TOKEN", "<missing>") + "\\n")
sys.stdout.flush()
sys.stdin.read()  # stay alive until the test has looked at us
"""


def test_secret_is_in_the_childs_environment_but_not_its_argv(tmp_path):
    store = LocalSecretStore.open(tmp_path, environ={})
    store.set("catalog/DB_PASSWORD", VALUE)
    store.set("_global/SMTP_TOKEN", "global-token-77")
    store.set("order/DB_PASSWORD", "not-for-catalog")

    env = {**os.environ, **secrets_env("catalog", store)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == VALUE
        assert child.stdout.readline().strip() == "global-token-77"

        argv = " ".join(psutil.Process(child.pid).cmdline())
        assert "python" in argv
        assert VALUE not in argv
        if shutil.which("ps"):
            listing = subprocess.run(
                ["ps", "-ww", "-o", "args=", "-p", str(child.pid)], capture_output=True, text=True, check=True
            ).stdout
            assert "python" in listing
            assert VALUE not in listing
        # The value is only in the process's own environment (readable by its owner and root).
        assert psutil.Process(child.pid).environ()["DB_PASSWORD"] == VALUE
    finally:
        child.communicate(input="", timeout=10)
    assert child.returncode == 0
