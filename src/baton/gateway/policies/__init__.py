"""The gateway's request policies, one module each, in chain order.

allowlist ▸ auth ▸ authz ▸ ratelimit ▸ quota ▸ validation (see :mod:`baton.gateway.policies.base`).
"""
