"""Dashboard sign-in: the admin token, exchanged once for an HttpOnly, SameSite=Strict session cookie.

The cookie holds an HMAC of the admin token, not the token: it proves the browser was given the token, it
cannot be replayed as a bearer token against the API's write routes, and rotating ``.baton/admin-token`` signs
every browser out. The API accepts the cookie on safe methods only (``GET``/``HEAD``), so a form on another site
cannot make a signed-in browser scale or stop the system (SameSite=Strict already withholds the cookie there).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "SAFE_METHODS", "check_token", "has_session", "session_value", "set_session"]

COOKIE = "baton_session"
"""Name of the session cookie."""
SAFE_METHODS = frozenset({"GET", "HEAD"})
"""Methods a session cookie authenticates; anything else needs the bearer token."""
_PURPOSE = b"baton dashboard session v1"


def session_value(token: str) -> str:
    """The cookie value for the admin ``token``."""
    return hmac.new(token.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def check_token(given: str, token: str) -> bool:
    """Whether ``given`` is the admin token (constant time)."""
    return bool(token) and hmac.compare_digest(given.strip().encode(), token.encode())


def has_session(request: Request, token: str) -> bool:
    """Whether ``request`` carries a valid session cookie."""
    cookie = request.cookies.get(COOKIE, "")
    return bool(cookie) and bool(token) and hmac.compare_digest(cookie.encode(), session_value(token).encode())


def set_session(response: Response, token: str, *, secure: bool = False) -> None:
    """Sign the browser in: an HttpOnly, SameSite=Strict cookie scoped to the whole control plane."""
    response.set_cookie(
        COOKIE,
        session_value(token),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
        max_age=12 * 3600,
    )
