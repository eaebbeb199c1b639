"""The control plane's security routes: trust bundle, JWKS, certificates and service tokens.

=========================================  =====================================================================
``GET  /v1/ca/bundle``                     the trust bundle (PEM; every live root) — public
``GET  /.well-known/jwks.json``            the service-token JWKS (active + previous keys) — public
``POST /v1/certificates``                  issue a leaf — admin token, or an mTLS peer renewing its own service
``POST /v1/tokens``                        issue a service token — admin token, or the caller's own mTLS identity
=========================================  =====================================================================

Mounting (the control plane's ``create_app``)::

    ca = CertificateAuthority.open(home)
    issuer = TokenIssuer.open(home, issuer="http://127.0.0.1:7700")
    app.include_router(security_router(ca, issuer))

The admin check compares ``Authorization: Bearer`` with ``app.state.token`` (the control plane's
``.baton/admin-token``) unless ``require_admin`` is given. Answers carrying keys are ``Cache-Control: no-store``.

The issuing routes authenticate before they read their body: a caller with neither the admin token nor a verified
client certificate gets 401 whatever it sent (a 422 would tell an anonymous caller what the route expects). Only
then is the body validated (422 problem+json as usual) and the subject compared with the peer's identity (403).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from baton.errors import Forbidden, SecurityError
from baton.security.ca import LEAF_TTL, MAX_LEAF_TTL, CertificateAuthority
from baton.security.spiffe import service_of
from baton.security.tokens.issuer import DEFAULT_TTL, MAX_TTL, TokenIssuer

AdminCheck = Callable[[Request], Awaitable[None]]
_Body = TypeVar("_Body", bound=BaseModel)

_NO_STORE = {"Cache-Control": "no-store"}


class CertificateRequest(BaseModel):
    """Body of ``POST /v1/certificates``."""

    service: str = Field(min_length=1, max_length=63)
    instance: str = Field(min_length=1, max_length=128)
    ttl_seconds: int = Field(default=int(LEAF_TTL.total_seconds()), gt=0, le=int(MAX_LEAF_TTL.total_seconds()))
    dns: list[str] = Field(default_factory=lambda: ["localhost"], max_length=16)
    ips: list[str] = Field(default_factory=lambda: ["127.0.0.1"], max_length=16)


class TokenRequest(BaseModel):
    """Body of ``POST /v1/tokens``."""

    subject: str = Field(min_length=1, max_length=63, description="the calling service")
    audience: str = Field(min_length=1, max_length=63, description="the target service")
    ttl_seconds: int = Field(default=int(DEFAULT_TTL), gt=0, le=int(MAX_TTL))
    scopes: list[str] = Field(default_factory=list, max_length=64)


async def admin_token(request: Request) -> None:
    """Dependency: ``Authorization: Bearer`` equals ``request.app.state.token``.

    Raises:
        SecurityError: missing or wrong token (401).
    """
    if not _has_admin_token(request):
        raise SecurityError("missing or wrong admin token; it is in .baton/admin-token")


def security_router(
    ca: CertificateAuthority, issuer: TokenIssuer, *, require_admin: AdminCheck | None = None
) -> APIRouter:
    """The routes above, bound to ``ca`` and ``issuer``."""
    check_admin = require_admin or admin_token
    router = APIRouter(tags=["security"])

    @router.get("/v1/ca/bundle", response_class=Response)
    async def bundle() -> Response:
        """The trust bundle: every root a peer must accept (old and new during a root rotation)."""
        return Response(ca.trust_bundle(), media_type="application/pem-certificate-chain")

    @router.get("/.well-known/jwks.json")
    async def jwks(response: Response) -> dict[str, object]:
        """Public keys verifying service tokens."""
        response.headers["Cache-Control"] = "max-age=60"
        return issuer.jwks()

    @router.post("/v1/certificates", openapi_extra=_body_schema(CertificateRequest))
    async def certificate(request: Request, response: Response) -> dict[str, object]:
        """Issue a leaf certificate (with its private key) for an instance."""
        peer = await _authenticated(request, check_admin)
        body = await _parse(request, CertificateRequest)
        _own(peer, body.service, "a service may only renew its own certificate")
        leaf = ca.issue_leaf(
            body.service,
            body.instance,
            ttl=timedelta(seconds=body.ttl_seconds),
            dns=tuple(body.dns),
            ips=tuple(body.ips),
        )
        response.headers.update(_NO_STORE)
        return {"certificate": leaf.to_json(), "bundle": ca.trust_bundle()}

    @router.post("/v1/tokens", openapi_extra=_body_schema(TokenRequest))
    async def token(request: Request, response: Response) -> dict[str, object]:
        """Issue a service token for ``subject`` to call ``audience``."""
        peer = await _authenticated(request, check_admin)
        body = await _parse(request, TokenRequest)
        _own(peer, body.subject, "a service may only ask for tokens in its own name")
        token = issuer.issue(sub=body.subject, aud=body.audience, ttl=body.ttl_seconds, scopes=body.scopes)
        response.headers.update(_NO_STORE)
        return {"token": token, "token_type": "Bearer", "expires_at": time.time() + body.ttl_seconds}

    return router


async def _authenticated(request: Request, check_admin: AdminCheck) -> str | None:
    """Who calls: ``None`` for the admin, else the service of a verified client certificate (mTLS listener only).

    Raises:
        SecurityError: neither (401), before anything of the body is looked at.
    """
    if _has_admin_token(request):
        return None
    peer = _peer_service(request)
    if peer is None:
        await check_admin(request)  # raises 401 with the usual hint
    return peer


def _own(peer: str | None, service: str, refusal: str) -> None:
    """A peer (not the admin) may only act for its own ``service``."""
    if peer is not None and peer != service:
        raise Forbidden(refusal)


async def _parse(request: Request, model: type[_Body]) -> _Body:
    """The JSON body as ``model``; a 422 problem like FastAPI's own validation when it does not fit."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        raise RequestValidationError(errors) from None


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses ``model`` itself (after authenticating)."""
    schema = {"content": {"application/json": {"schema": model.model_json_schema()}}, "required": True}
    return {"requestBody": schema}


def _has_admin_token(request: Request) -> bool:
    expected = getattr(request.app.state, "token", None)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return (
        isinstance(expected, str)
        and bool(expected)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), expected.encode())
    )


def _peer_service(request: Request) -> str | None:
    tls = request.scope.get("extensions", {}).get("tls") or {}
    identity = tls.get("spiffe_id")
    return service_of(identity) if isinstance(identity, str) else None
