"""A small synchronous client of the control plane API (what the CLI speaks)."""

from __future__ import annotations

from typing import Any

import httpx

from baton.control.home import DaemonInfo, Home
from baton.control.state import ProcessRecord
from baton.errors import ControlError


class ControlClient:
    """Calls the control plane API with the admin token; errors become :class:`~baton.errors.ControlError`."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)

    @classmethod
    def for_home(cls, home: Home, *, timeout: float = 10.0) -> ControlClient | None:
        """A client of the daemon running for ``home``; ``None`` when none runs."""
        info = running_daemon(home)
        token = home.admin_token()
        if info is None or token is None:
            return None
        return cls(info.url, token, timeout=timeout)

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` and return the decoded JSON.

        Raises:
            ControlError: the control plane is unreachable or refused the request.
        """
        return self._call("GET", path, params=params or None)

    def post(self, path: str, body: Any = None, *, timeout: float | None = None) -> Any:
        """POST ``body`` as JSON to ``path`` and return the decoded JSON.

        Raises:
            ControlError: the control plane is unreachable or refused the request.
        """
        return self._call("POST", path, json=body, timeout=timeout)

    def answers(self) -> bool:
        """Whether the API answers (with any authenticated result)."""
        try:
            self.get("/v1/system")
        except ControlError:
            return False
        return True

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        try:
            response = self._http.request(method, path, **kwargs, **extra)
        except httpx.HTTPError as exc:
            raise ControlError(f"control plane at {self.base_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.text
            except ValueError:
                detail = response.text
            raise ControlError(str(detail), status=response.status_code)
        return response.json()


def running_daemon(home: Home) -> DaemonInfo | None:
    """The daemon of ``home`` if its recorded process still runs."""
    info = home.read_daemon()
    if info is None or not ProcessRecord(info.pid, info.create_time).alive():
        return None
    return info
