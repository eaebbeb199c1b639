"""The certificate renewer: fetches a fresh leaf at half-life and hot-swaps it into every attached context.

Attached contexts are the instance's server context (the uvicorn listener) and client contexts (the
``aiohttp`` connector of its :class:`~baton.client.ServiceClient`, its NATS connection). Nothing restarts:
new connections present the new leaf, open connections finish with the old one, which stays valid until
its own expiry — that overlap is why renewal happens at half-life rather than just before expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from baton.errors import SecurityError
from baton.kit.component import InstanceContext
from baton.security.mtls.contexts import add_trust, install_leaf
from baton.security.mtls.credentials import CertificateSource, Credentials

log = logging.getLogger("baton.security.renewer")


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    """When to renew and how to retry."""

    at_fraction: float = 0.5
    """Renew once this fraction of the leaf's validity has passed (0.5: at half-life)."""
    retry_min: float = 1.0
    """Seconds before the first retry after a failed renewal; doubles per failure."""
    retry_max: float = 60.0
    """Upper bound of the retry delay, in seconds."""


class CertificateRenewer:
    """A :class:`~baton.kit.component.Component` keeping the instance's leaf fresh.

    Args:
        source: where fresh leaves come from.
        initial: the credentials the instance started with (``None``: fetched in :meth:`start`).
        store: directory to rewrite on every renewal (``<home>/certs/<instance>``), so a restart starts with
            the newest leaf and external tools (nats-server) find it.
    """

    name = "certificates"

    def __init__(
        self,
        source: CertificateSource,
        *,
        initial: Credentials | None = None,
        policy: RenewalPolicy | None = None,
        store: Path | None = None,
    ) -> None:
        self.source = source
        self.policy = policy or RenewalPolicy()
        self.store = store
        self._current = initial
        self._contexts: list[ssl.SSLContext] = []
        self._task: asyncio.Task[None] | None = None
        self.renewals = 0
        """How many times a new leaf was installed (for tests and metrics)."""

    @property
    def credentials(self) -> Credentials:
        """The current leaf and bundle.

        Raises:
            SecurityError: nothing fetched yet.
        """
        if self._current is None:
            raise SecurityError("no certificate yet: start the renewer or pass initial credentials")
        return self._current

    def attach(self, context: ssl.SSLContext) -> None:
        """Hot-swap future leaves (and new trust roots) into ``context``."""
        self._contexts.append(context)

    async def renew(self) -> Credentials:
        """Fetch a new leaf now and install it into every attached context.

        Raises:
            BatonError: the source failed (nothing was changed).
        """
        fresh = await self.source.fetch()
        for context in self._contexts:
            # Trust first: a peer already using a leaf from a new root must verify the moment we present ours.
            add_trust(context, fresh.bundle_pem)
            install_leaf(context, fresh.leaf)
        if self.store is not None:
            await asyncio.to_thread(fresh.write, self.store)
        self._current = fresh
        self.renewals += 1
        log.info(
            "certificate renewed", extra={"spiffe_id": fresh.leaf.spiffe_id, "not_after": str(fresh.leaf.not_after)}
        )
        return fresh

    def next_renewal(self) -> datetime:
        """When the current leaf is due for renewal."""
        return self.credentials.leaf.renew_at(self.policy.at_fraction)

    async def start(self, ctx: InstanceContext) -> None:
        """Fetch a leaf if there is none, then renew in the background."""
        if self._current is None:
            await self.renew()
        self._task = asyncio.create_task(self._run(), name="baton-certificate-renewer")

    async def check(self) -> None:
        """Not ready when the leaf has expired (renewal kept failing)."""
        if self.credentials.leaf.not_after <= datetime.now(UTC):
            raise SecurityError(f"certificate of {self.credentials.leaf.spiffe_id} expired; renewal keeps failing")

    async def drain(self) -> None:
        """Nothing to drain: renewal continues while in-flight requests finish."""

    async def stop(self) -> None:
        """Stop renewing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self.policy.retry_min
        while True:
            wait = (self.next_renewal() - datetime.now(UTC)).total_seconds()
            if wait > 0:
                # A timer, not synchronisation: the renewal is due at a wall-clock time.
                await asyncio.sleep(wait)
            try:
                await self.renew()
                delay = self.policy.retry_min
            except Exception as exc:  # the renewer must outlive any one failure, whatever raised it
                log.warning("certificate renewal failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.policy.retry_max)
