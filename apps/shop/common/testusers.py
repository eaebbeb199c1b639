"""Users for a service's own tests: a local issuer whose JWKS the service under test is told to trust.

::

    users = TestUsers()
    monkeypatch.setenv("SHOP_USER_JWKS", users.jwks_json())   # before the service starts
    await http.get("/v1/orders/o1", headers=users.headers("ada"))
    await http.put("/v1/stock/p1", headers=users.headers("boss", roles=("customer", "staff")), json=...)

The tokens are what identity issues (EdDSA, ``iss``/``aud`` of the shop, scopes of the roles), signed by a key
made for the test run; nothing here is used outside tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from apps.shop.common.users import DEFAULT_AUDIENCE, DEFAULT_ISSUER, scopes_for
from baton.security.tokens.issuer import TokenIssuer

__all__ = ["STAFF", "USERS", "TestUsers"]

STAFF = ("customer", "staff")


class TestUsers:
    """Issues shop access tokens for made-up users."""

    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE) -> None:
        self.issuer = TokenIssuer(issuer)
        self.audience = audience

    def jwks_json(self) -> str:
        """The issuer's JWKS as the ``SHOP_USER_JWKS`` value."""
        return json.dumps(self.issuer.jwks())

    def token(self, subject: str, *, roles: Iterable[str] = ("customer",), ttl: float = 600) -> str:
        """An access token for ``subject`` with ``roles`` and their scopes."""
        held = list(roles)
        return self.issuer.issue(
            sub=subject, aud=self.audience, ttl=ttl, scopes=scopes_for(held), claims={"roles": held}
        )

    def expired_token(self, subject: str, *, roles: Iterable[str] = ("customer",)) -> str:
        """A token for ``subject`` that expired ten minutes ago (signed by the right key)."""
        clock = self.issuer.clock
        self.issuer.clock = lambda: clock() - 1200
        try:
            return self.token(subject, roles=roles, ttl=600)
        finally:
            self.issuer.clock = clock

    def headers(self, subject: str, *, roles: Iterable[str] = ("customer",)) -> dict[str, str]:
        """``Authorization: Bearer`` for ``subject``."""
        return {"Authorization": f"Bearer {self.token(subject, roles=roles)}"}


USERS = TestUsers()
"""One issuer for a test session: ``SHOP_USER_JWKS=USERS.jwks_json()`` in the service's environment."""
