"""Security: the CA and mutual TLS, service tokens, RBAC, and secret encryption.

==============================  =============================================================================
``baton.security.ca``           the control plane's CA (root, issuer, SPIFFE leaves, root rotation)
``baton.security.mtls``         TLS contexts, hot-swapping renewer, ASGI TLS extension, SPIFFE authorization
``baton.security.tokens``       service JWTs: issuer + JWKS, verifier, ASGI middleware, client token provider
``baton.security.rbac``         principals, scope/role dependencies, ownership (foreign == missing == 404)
``baton.security.api``          the control plane routes (bundle, JWKS, certificates, tokens)
``baton.security.secrets``      encrypted secrets store (with ``crypto`` and ``vault``)
==============================  =============================================================================
"""
