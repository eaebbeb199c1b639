"""One instance's security, switched on by ``BATON_TLS_DIR``: mTLS contexts, renewal, service tokens, allow rules.

The control plane writes an instance's first leaf to ``<home>/certs/<instance>/`` before spawning it and passes
that directory as ``BATON_TLS_DIR``. :meth:`InstanceSecurity.from_env` turns the environment into everything the
instance needs; :meth:`InstanceSecurity.current` is the process-wide one (``None`` without ``BATON_TLS_DIR``:
plain HTTP, as in unit tests and the ``launch_service`` fixture)::

    security = InstanceSecurity.current()
    if security is not None:
        server_ctx = security.server_context()               # client certificates required, hot-swapped
        app = security.protect(app)                          # SPIFFE allow rules + service tokens
        uvicorn.Config(app, **security.uvicorn_options())
        connector = security.connector("inventory")          # aiohttp, server must be spiffe://.../inventory
        ServiceClient("inventory", connector=connector, auth=security.token_provider)
        nats.connect(url, tls=security.client_context("nats"))
        service.add_component(security.renewer)              # renews at half-life, into every context above

Environment (set by the control plane, :mod:`baton.control.launch`):

==========================  ===================================================================================
``BATON_TLS_DIR``           the instance's credentials (:class:`~baton.security.mtls.Credentials`)
``BATON_SERVICE``           this service's name (its identity ``spiffe://baton.local/svc/<name>``)
``BATON_INSTANCE``          this instance's id (renewals name it)
``BATON_CONTROL_URL``       the token issuer (``iss``) and where its JWKS is read (``/.well-known/jwks.json``)
``BATON_CONTROL_TLS_URL``   the control plane's mTLS listener: renewals and service tokens, authenticated by
                            this instance's own certificate
``BATON_ALLOW``             JSON ``{"/v1/route-prefix": ["caller", ...]}`` from ``baton.yaml``'s ``allow:``;
                            unset: any service of the trust domain may call any route
==========================  ===================================================================================

Every context built here is attached to :attr:`InstanceSecurity.renewer`, so a renewed leaf (and a new trust
root) reaches the listener, every client pool and the NATS connection without a restart.

The control plane (``spiffe://baton.local/svc/control``) is trusted on every route without a token: it holds
the CA and the token issuer, so a token would prove nothing more than its certificate does.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baton.client.base import SERVICE_TOKEN_HEADER
from baton.errors import ConfigError, SecurityError
from baton.security.mtls.contexts import MtlsContext, client_context, in_trust_domain, only, server_context
from baton.security.mtls.credentials import CertificateSource, ControlPlaneCertificateSource, Credentials
from baton.security.mtls.renewer import CertificateRenewer
from baton.security.spiffe import ANY_SERVICE, spiffe_id
from baton.security.tokens.provider import ControlPlaneTokenSource, ServiceTokenProvider, TokenSource

if TYPE_CHECKING:
    import aiohttp
    from starlette.types import ASGIApp

    from baton.security.tokens.verifier import TokenVerifier

log = logging.getLogger(__name__)

__all__ = [
    "ALLOW_ENV",
    "CONTROL_SERVICE",
    "CONTROL_TLS_URL_ENV",
    "DOCS_PATHS",
    "JWKS_FILE",
    "NATS_SERVICE",
    "TLS_DIR_ENV",
    "TOKEN_HEADER",
    "InstanceSecurity",
    "allow_from_env",
    "instance_ssl",
]

TLS_DIR_ENV = "BATON_TLS_DIR"
JWKS_FILE = "jwks.json"
"""The token issuer's JWKS as the control plane last wrote it into ``BATON_TLS_DIR`` (at the leaf's issue and on
every key rotation): the verifier starts from it, so an instance started while the control plane is down accepts
valid tokens; a ``kid`` it lacks is still fetched from the issuer."""
CONTROL_TLS_URL_ENV = "BATON_CONTROL_TLS_URL"
ALLOW_ENV = "BATON_ALLOW"
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
"""FastAPI's API documentation: behind mutual TLS, but without a service token (a browser cannot add one)."""
TOKEN_HEADER = SERVICE_TOKEN_HEADER
"""The header service tokens travel in (``Authorization`` stays the end user's)."""
CONTROL_SERVICE = "control"
"""The control plane's identity: ``spiffe://baton.local/svc/control``."""
NATS_SERVICE = "nats"
"""The embedded NATS server's identity."""

_current: InstanceSecurity | None = None
_current_loaded = False


def allow_from_env(environ: Mapping[str, str]) -> dict[str, list[str]] | None:
    """The route allow rules in ``BATON_ALLOW``, or ``None`` when unset (any Baton service, every route).

    Raises:
        ConfigError: not a JSON object of route prefix → list of service names.
    """
    raw = environ.get(ALLOW_ENV)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(n, str) for n in v) for k, v in data.items()
        ):
            raise TypeError("not an object of lists of names")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f'{ALLOW_ENV} must be JSON like {{"/v1/stock": ["order"]}}: {exc}') from exc
    return {prefix: list(names) for prefix, names in data.items()}


class InstanceSecurity:
    """The TLS and token machinery of one process holding a Baton leaf (an instance, the control plane, a tool).

    Args:
        service: the identity's service name.
        credentials: the first leaf and trust bundle.
        certificates: where renewals come from.
        tokens: where service tokens come from (``None``: this process sends none).
        issuer: the token issuer URL (``BATON_CONTROL_URL``); needed by :meth:`verifier` and :meth:`protect`.
        allow: route prefix → calling services (``None``: any Baton service on every route).
        store: directory rewritten on every renewal.
    """

    def __init__(
        self,
        service: str,
        credentials: Credentials,
        *,
        certificates: CertificateSource,
        tokens: TokenSource | None = None,
        issuer: str | None = None,
        allow: Mapping[str, Collection[str]] | None = None,
        store: Path | None = None,
    ) -> None:
        self.service = service
        self.identity = spiffe_id(service)
        self.issuer = issuer
        self.allow = {prefix: list(names) for prefix, names in allow.items()} if allow is not None else None
        self.renewer = CertificateRenewer(certificates, initial=credentials, store=store)
        self._store = store
        self.token_provider: ServiceTokenProvider | None = ServiceTokenProvider(tokens) if tokens else None
        self._server: MtlsContext | None = None
        self._clients: dict[str | None, MtlsContext] = {}
        self._verifier: TokenVerifier | None = None

    # -- construction ---------------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstanceSecurity | None:
        """The security of the instance described by ``environ`` (default ``os.environ``); ``None`` without
        ``BATON_TLS_DIR``.

        Raises:
            ConfigError: ``BATON_TLS_DIR`` is set but the credentials or the other variables are unusable.
        """
        env = os.environ if environ is None else environ
        tls_dir = env.get(TLS_DIR_ENV)
        if not tls_dir:
            return None
        service = env.get("BATON_SERVICE")
        if not service:
            raise ConfigError(f"{TLS_DIR_ENV} is set but BATON_SERVICE is not")
        instance = env.get("BATON_INSTANCE") or service
        store = Path(tls_dir)
        try:
            credentials = Credentials.read(store)
        except SecurityError as exc:
            raise ConfigError(f"{TLS_DIR_ENV}: {exc}") from exc
        control_url = env.get("BATON_CONTROL_URL")
        control_tls = env.get(CONTROL_TLS_URL_ENV)
        if not control_tls:
            raise ConfigError(f"{TLS_DIR_ENV} is set but {CONTROL_TLS_URL_ENV} is not (renewals and tokens)")
        # The control-plane client context is built before ``self`` exists; attached to the renewer below.
        to_control = client_context(credentials.leaf, credentials.bundle_pem, expect=only(CONTROL_SERVICE))
        security = cls(
            service,
            credentials,
            certificates=ControlPlaneCertificateSource(
                control_tls, service=service, instance=instance, ssl_context=to_control
            ),
            tokens=ControlPlaneTokenSource(control_tls, subject=service, ssl_context=to_control),
            issuer=control_url,
            allow=allow_from_env(env),
            store=store,
        )
        security._clients[CONTROL_SERVICE] = to_control
        security.renewer.attach(to_control)
        return security

    @classmethod
    def current(cls) -> InstanceSecurity | None:
        """This process's security: :meth:`install`-ed, else read once from ``os.environ``."""
        global _current, _current_loaded
        if not _current_loaded:
            _current, _current_loaded = cls.from_env(), True
        return _current

    @classmethod
    def install(cls, security: InstanceSecurity | None) -> None:
        """Make ``security`` this process's :meth:`current` (the control plane; tests reset with ``None``)."""
        global _current, _current_loaded
        _current, _current_loaded = security, security is not None

    # -- contexts ---------------------------------------------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The current leaf and trust bundle."""
        return self.renewer.credentials

    def server_context(self) -> MtlsContext:
        """The listener's context (one per process): presents the leaf, requires a Baton client certificate."""
        if self._server is None:
            creds = self.credentials
            self._server = server_context(creds.leaf, creds.bundle_pem)
            self.renewer.attach(self._server)
        return self._server

    def client_context(self, target: str | None = None) -> MtlsContext:
        """A client context presenting the leaf and accepting only ``target``'s identity (``None``: any Baton
        service, for callers reaching many services, like the control plane's probes). One per target."""
        context = self._clients.get(target)
        if context is None:
            creds = self.credentials
            expect = in_trust_domain if target is None else only(target)
            context = self._clients[target] = client_context(creds.leaf, creds.bundle_pem, expect=expect)
            self.renewer.attach(context)
        return context

    def connector(self, target: str | None = None, **options: Any) -> aiohttp.TCPConnector:
        """An ``aiohttp`` connector over :meth:`client_context` (``options`` go to ``TCPConnector``)."""
        import aiohttp

        return aiohttp.TCPConnector(ssl=self.client_context(target), **options)

    def uvicorn_options(self) -> dict[str, Any]:
        """``uvicorn.Config`` keyword arguments serving HTTPS with :meth:`server_context` and the ASGI TLS
        extension (which :meth:`protect` reads)."""
        from baton.security.mtls.asgi import uvicorn_tls_options

        return uvicorn_tls_options(self.server_context())

    # -- serving ------------------------------------------------------------------------------------------------

    def verifier(self) -> TokenVerifier:
        """The verifier of tokens addressed to this service (JWKS of :attr:`issuer`, cached).

        Raises:
            ConfigError: no issuer is configured.
        """
        if self._verifier is None:
            if not self.issuer:
                raise ConfigError("service tokens need the issuer: set BATON_CONTROL_URL")
            from baton.security.tokens.verifier import TokenVerifier

            self._verifier = TokenVerifier.for_issuer(self.issuer, audience=self.service)
            self._seed_jwks(self._verifier)
        return self._verifier

    def _seed_jwks(self, verifier: TokenVerifier) -> None:
        """Seed the verifier's keys from :data:`JWKS_FILE`, when the control plane wrote one (unreadable: skipped,
        the issuer is asked as before)."""
        if self._store is None:
            return
        path = self._store / JWKS_FILE
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return
        if isinstance(document, dict):
            verifier.keys.seed(document)

    def protect(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind the route allow rules (403 for a caller not listed) and service tokens (401).

        Order: the certificate's identity first (401 without one, 403 when not allowed), then the token, whose
        subject must be that identity. ``/livez``, ``/readyz`` and ``/metrics`` need neither (mTLS still); the API
        docs (``/docs``, ``/openapi.json``) need no token, so an operator's browser holding the certificate of
        ``baton cert operator`` opens them.
        """
        from baton.security.mtls.authorization import SpiffeAuthorization
        from baton.security.tokens.middleware import DEFAULT_EXEMPT, ServiceTokenAuth

        control = spiffe_id(CONTROL_SERVICE)
        rules: dict[str, list[str]] = {"/": [ANY_SERVICE]}
        for prefix, names in (self.allow or {}).items():
            rules[prefix] = [*names, control]
        inner = ServiceTokenAuth(
            app, self.verifier(), header=TOKEN_HEADER, trusted_peers=(control,), exempt=(*DEFAULT_EXEMPT, *DOCS_PATHS)
        )
        return SpiffeAuthorization(inner, allow=rules)

    # -- calling -------------------------------------------------------------------------------------------------

    async def token_for(self, target: str) -> str | None:
        """A service token for calling ``target`` (``None`` when this process sends none)."""
        if self.token_provider is None:
            return None
        return await self.token_provider(target)

    def headers_for(self, token: str | None) -> dict[str, str]:
        """The request headers carrying ``token`` (empty for ``None``)."""
        return {TOKEN_HEADER: token} if token else {}


def instance_ssl() -> ssl.SSLContext | bool:
    """The ``ssl=`` for ``aiohttp`` calls on instances of any service (probes, scrapes, the control plane's
    reads): this process's mTLS client context accepting any Baton server, or ``True`` (default verification,
    used only for ``https`` URLs) when the process holds no leaf."""
    security = InstanceSecurity.current()
    return security.client_context() if security is not None else True
