"""The data directory (``.baton/`` beside ``baton.yaml``, or ``$BATON_HOME``) and what lives in it.

::

    .baton/
      admin-token        bearer token of the control plane API (0600, created at first start)
      daemon.json        where the running control plane listens (pid, ports)
      state.json         supervised instances (pid, create time, port, restarts) for re-adoption
      logs/<id>.log      stdout/stderr of every instance; logs/control.log of the daemon
      nats/              JetStream store of the embedded server
      data/              SQLite files, one per service
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_CONTROL_PORT = 7700
DEFAULT_PORT_BASE = 7800
# Equal to baton.events.server.DEFAULT_PORT / DEFAULT_MONITOR_PORT (a test pins it): repeated here because
# importing baton.events loads the whole event runtime (SQLAlchemy…), which costs the CLI a second per command.
DEFAULT_NATS_PORT = 7722
DEFAULT_NATS_MONITOR_PORT = 7723


def resolve_home(manifest: Path, *, environ: dict[str, str] | None = None) -> Path:
    """``$BATON_HOME`` when set, else ``.baton`` beside the manifest (absolute)."""
    env = os.environ if environ is None else environ
    explicit = env.get("BATON_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (manifest.resolve().parent / ".baton").resolve()


def atomic_write(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """Where a running control plane listens; written to ``daemon.json`` once its API answers."""

    pid: int
    create_time: float
    """psutil create time of the daemon process (so a reused pid is not mistaken for it)."""
    control_port: int
    port_base: int
    nats_url: str
    nats_monitor_port: int | None
    manifest: str

    @property
    def url(self) -> str:
        """Base URL of the control plane API."""
        return f"http://127.0.0.1:{self.control_port}"


class Home:
    """Paths of one Baton data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def logs(self) -> Path:
        """Directory of the instance logs."""
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        """The supervisor's state file."""
        return self.root / "state.json"

    @property
    def daemon_file(self) -> Path:
        """The running daemon's address file."""
        return self.root / "daemon.json"

    @property
    def token_file(self) -> Path:
        """The admin token file."""
        return self.root / "admin-token"

    @property
    def nats_store(self) -> Path:
        """JetStream store of the embedded server."""
        return self.root / "nats"

    def log_file(self, instance: str) -> Path:
        """Log file of ``instance`` (``control`` for the daemon itself)."""
        return self.logs / f"{instance}.log"

    def admin_token(self, *, create: bool = False) -> str | None:
        """The admin token; with ``create`` a new random one is written (0600) when none exists."""
        try:
            return self.token_file.read_text().strip() or None
        except FileNotFoundError:
            if not create:
                return None
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two daemons racing at first start must end up agreeing on one token.
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self.token_file.read_text().strip() or None
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        return self.token_file.read_text().strip()

    def read_daemon(self) -> DaemonInfo | None:
        """The last written :class:`DaemonInfo` (the process may be gone; check before trusting it)."""
        try:
            data: dict[str, Any] = json.loads(self.daemon_file.read_text())
            return DaemonInfo(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def write_daemon(self, info: DaemonInfo) -> None:
        """Publish where the daemon listens."""
        atomic_write(self.daemon_file, json.dumps(asdict(info), indent=2))

    def clear_daemon(self, pid: int) -> None:
        """Remove ``daemon.json`` if it still describes daemon ``pid``."""
        info = self.read_daemon()
        if info is not None and info.pid == pid:
            self.daemon_file.unlink(missing_ok=True)
