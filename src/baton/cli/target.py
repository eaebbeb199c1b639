"""Which system a command talks to: the manifest (``-f``), its data directory and its running daemon."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baton.control.client import ControlClient, running_daemon
from baton.control.home import DaemonInfo, Home, resolve_home
from baton.errors import ControlError


@dataclass(frozen=True, slots=True)
class Target:
    """A manifest and its home."""

    manifest: Path
    home: Home

    @classmethod
    def of(cls, manifest: Path) -> Target:
        """The target for ``manifest`` (home from ``$BATON_HOME`` or ``.baton`` beside it)."""
        return cls(manifest=manifest, home=Home(resolve_home(manifest)))

    def daemon(self) -> DaemonInfo | None:
        """The running daemon, if any."""
        return running_daemon(self.home)

    def client(self, *, timeout: float = 10.0) -> ControlClient:
        """A client of the running daemon.

        Raises:
            ControlError: no control plane runs for this home.
        """
        client = ControlClient.for_home(self.home, timeout=timeout)
        if client is None:
            raise ControlError(
                f"no control plane runs for {self.manifest} (home {self.home.root}); start it with `baton up`"
            )
        return client
