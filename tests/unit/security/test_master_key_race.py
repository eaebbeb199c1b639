"""The master key file is created atomically: replicas starting together all end up with the same, whole key."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from baton.security.crypto import MASTER_KEY_FILE, _create_exclusive, load_keyring


def test_racing_starts_share_one_complete_key(tmp_path: Path) -> None:
    workers = 8
    for round_ in range(25):
        home = tmp_path / f"round-{round_}" / "data" / "orders-field-keys"
        barrier = threading.Barrier(workers)

        def start(home: Path = home, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            keyring, _ = load_keyring(home, environ={})
            return keyring.active.key_id

        with ThreadPoolExecutor(workers) as pool:
            ids = list(pool.map(lambda _: start(), range(workers)))
        assert len(set(ids)) == 1, ids
        assert sorted(os.listdir(home)) == [MASTER_KEY_FILE]  # no temporary file left behind
        assert (home / MASTER_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_loser_keeps_the_winners_key(tmp_path: Path) -> None:
    path = tmp_path / MASTER_KEY_FILE
    assert _create_exclusive(path, "first\n") is True
    assert _create_exclusive(path, "second\n") is False
    assert path.read_text() == "first\n"
    assert os.listdir(tmp_path) == [MASTER_KEY_FILE]
