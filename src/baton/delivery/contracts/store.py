"""The local contract store: pacts by consumer version, verification results, and what is deployed where.

A folder (Pact's broker, reduced to files) — ``$BATON_CONTRACTS_DIR``, or ``.baton/contracts`` beside the
manifest::

    pacts/<consumer>/<consumer version>/<provider>.json     the pact files consumer tests wrote
    verifications.json                                      one row per (pact content, provider version): ok?
    deployments.json                                        {env: {service: {"version", "at"}}}

Verification rows are keyed by the pact's *content* hash, like the Pact broker does: a consumer version that
publishes the same pact as an earlier one is already verified. Writes are atomic and serialised with a lock
file, so a pipeline and a developer's test run can share a store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from baton.control.home import atomic_write
from baton.errors import DeliveryError

__all__ = ["CONTRACTS_ENV", "ContractStore", "PactRef", "Verification"]

CONTRACTS_ENV = "BATON_CONTRACTS_DIR"
"""Environment variable naming the store (the pipeline sets it for the test runs it starts)."""


@dataclass(frozen=True, slots=True)
class PactRef:
    """One stored pact file."""

    consumer: str
    consumer_version: str
    provider: str
    path: Path
    sha: str
    """SHA-256 of the pact's interactions (what a verification is about)."""

    @property
    def label(self) -> str:
        """``order 1.2.0 → inventory``."""
        return f"{self.consumer} {self.consumer_version} → {self.provider}"


@dataclass(frozen=True, slots=True)
class Verification:
    """A provider version's verdict on one pact content."""

    consumer: str
    consumer_version: str
    provider: str
    provider_version: str
    sha: str
    success: bool
    at: float
    failures: list[str] = field(default_factory=list)


def pact_sha(document: dict[str, Any]) -> str:
    """Hash of what a pact asks for (interactions and messages), not of its metadata (library versions, dates)."""
    essence = {k: document.get(k) for k in ("consumer", "provider", "interactions", "messages")}
    return hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()


class ContractStore:
    """Pacts, verification results and deployments in a folder (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_env(cls, default: Path) -> ContractStore:
        """The store named by ``$BATON_CONTRACTS_DIR``, else ``default``."""
        named = os.environ.get(CONTRACTS_ENV)
        return cls(Path(named).resolve() if named else default)

    # pacts ----------------------------------------------------------------------------------------------

    def publish(self, pact_file: Path, *, consumer_version: str) -> PactRef:
        """Store a pact file written by a consumer test under its consumer version.

        Raises:
            DeliveryError: the file is not a pact (no consumer/provider names).
        """
        try:
            document = json.loads(pact_file.read_text())
            consumer, provider = document["consumer"]["name"], document["provider"]["name"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DeliveryError(f"{pact_file} is not a pact file: {exc}") from exc
        target = self.root / "pacts" / consumer / consumer_version / f"{provider}.json"
        with self._locked():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pact_file, target)
        return PactRef(consumer, consumer_version, provider, target, pact_sha(document))

    def pacts(
        self, *, consumer: str | None = None, consumer_version: str | None = None, provider: str | None = None
    ) -> list[PactRef]:
        """Stored pacts matching the filters, sorted by consumer, version, provider."""
        found = []
        base = self.root / "pacts"
        for path in sorted(base.glob("*/*/*.json")) if base.is_dir() else []:
            c, v, p = path.parent.parent.name, path.parent.name, path.stem
            if (
                (consumer and c != consumer)
                or (consumer_version and v != consumer_version)
                or (provider and p != provider)
            ):
                continue
            try:
                sha = pact_sha(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
            found.append(PactRef(c, v, p, path, sha))
        return found

    # verifications --------------------------------------------------------------------------------------

    def record_verification(
        self, pact: PactRef, *, provider_version: str, success: bool, failures: list[str] | None = None
    ) -> Verification:
        """Remember that ``provider_version`` verified (or broke) ``pact`` (replacing an earlier row of that pair)."""
        row = Verification(
            pact.consumer, pact.consumer_version, pact.provider, provider_version, pact.sha, success, time.time(),
            list(failures or []),
        )  # fmt: skip
        with self._locked():
            rows = [r for r in self._rows() if not (r.sha == pact.sha and r.provider_version == provider_version)]
            rows.append(row)
            self._write("verifications.json", [asdict(r) for r in rows])
        return row

    def verification(self, pact: PactRef, provider_version: str) -> Verification | None:
        """The latest verdict of ``provider_version`` on ``pact``'s content."""
        rows = [r for r in self._rows() if r.sha == pact.sha and r.provider_version == provider_version]
        return max(rows, key=lambda r: r.at) if rows else None

    def verifications(self) -> list[Verification]:
        """Every verification row (the matrix), oldest first."""
        return sorted(self._rows(), key=lambda r: r.at)

    def _rows(self) -> list[Verification]:
        return [Verification(**row) for row in self._read("verifications.json", [])]

    # deployments ----------------------------------------------------------------------------------------

    def record_deployment(self, env: str, service: str, version: str) -> None:
        """``service`` now runs ``version`` in ``env`` (what can-i-deploy checks against)."""
        with self._locked():
            data = self._read("deployments.json", {})
            data.setdefault(env, {})[service] = {"version": version, "at": time.time()}
            self._write("deployments.json", data)

    def deployed(self, env: str) -> dict[str, str]:
        """``{service: version}`` recorded for ``env``."""
        return {name: str(entry["version"]) for name, entry in self._read("deployments.json", {}).get(env, {}).items()}

    # files ----------------------------------------------------------------------------------------------

    def _read(self, name: str, default: Any) -> Any:
        try:
            return json.loads((self.root / name).read_text())
        except FileNotFoundError:
            return default
        except ValueError as exc:
            raise DeliveryError(f"{self.root / name} is damaged: {exc}") from exc

    def _write(self, name: str, data: Any) -> None:
        atomic_write(self.root / name, json.dumps(data, indent=2, sort_keys=True))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
