"""Service tokens: short-lived EdDSA JWTs from the control plane, audience = the target service.

* :class:`TokenIssuer` signs them and publishes the JWKS (control plane side);
* :class:`TokenVerifier` checks them locally against the cached JWKS of the configured issuer;
* :class:`ServiceTokenAuth` is the ASGI middleware a service puts in front of its routes;
* :class:`ServiceTokenProvider` is the client side: ``ServiceClient(target, auth=provider)``.
"""

from baton.security.tokens.issuer import DEFAULT_TTL, MAX_TTL, TokenIssuer
from baton.security.tokens.jwks import HttpJwksFetcher, JwksCache, JwksFetcher, StaticJwksFetcher, parse_jwks
from baton.security.tokens.keys import SigningKey, public_jwk
from baton.security.tokens.middleware import ServiceTokenAuth
from baton.security.tokens.provider import (
    ControlPlaneTokenSource,
    IssuedToken,
    LocalTokenSource,
    ServiceTokenProvider,
    TokenSource,
)
from baton.security.tokens.verifier import MAX_LEEWAY, TokenVerifier, VerifiedToken

__all__ = [
    "DEFAULT_TTL",
    "MAX_LEEWAY",
    "MAX_TTL",
    "ControlPlaneTokenSource",
    "HttpJwksFetcher",
    "IssuedToken",
    "JwksCache",
    "JwksFetcher",
    "LocalTokenSource",
    "ServiceTokenAuth",
    "ServiceTokenProvider",
    "SigningKey",
    "StaticJwksFetcher",
    "TokenIssuer",
    "TokenSource",
    "TokenVerifier",
    "VerifiedToken",
    "parse_jwks",
    "public_jwk",
]
