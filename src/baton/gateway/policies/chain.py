"""A route's policy chain compiled into one straight-line function, once per route at config load.

:func:`~baton.gateway.policies.base.run_chain` walks a tuple of policy objects: a loop, an ``enumerate`` and a
method lookup per step, on every request. :func:`compile_chain` writes the same chain out as the body of a
single function instead: each step's bound ``check`` is a local name, steps that cannot matter for the route
are left out (an allowlist that admits every address, a header-phase validation with nothing to check), and
the IP allowlist's memoised verdict and a scopes-only authorisation are read inline. Verdicts and the switch to
asynchronous continuation when a step returns an awaitable are exactly :func:`run_chain`'s.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from baton.gateway.policies.allowlist import IpAllowlist
from baton.gateway.policies.authz import Authorize
from baton.gateway.policies.base import Policy, RequestInfo, Verdict, _continue
from baton.gateway.policies.validation import Validate
from baton.gateway.responses import Rejection

Chain = Callable[[RequestInfo], Verdict | Awaitable[Verdict]]
"""A compiled chain: ``None``, a :class:`Rejection` or an awaitable of either, as :func:`run_chain` answers."""

_EVERYONE = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def _admit(request: RequestInfo) -> Verdict:
    return None


def _is_noop(policy: Policy) -> bool:
    """Steps that answer ``None`` for every request of the route (left out of the compiled chain)."""
    if isinstance(policy, IpAllowlist):
        return set(_EVERYONE) <= set(policy.allowed.networks)
    if isinstance(policy, Validate):
        return policy.max_body >= 2**63 and not policy.content_types
    return False


def compile_chain(policies: Sequence[Policy]) -> Chain:
    """One function running ``policies`` in order (same verdicts as ``run_chain(policies, request)``)."""
    kept = [(index, policy) for index, policy in enumerate(policies) if not _is_noop(policy)]
    if not kept:
        return _admit
    namespace: dict[str, Any] = {"Rejection": Rejection, "_continue": _continue, "policies": tuple(policies)}
    lines = ["def chain(request):"]
    for index, policy in kept:
        if isinstance(policy, IpAllowlist):
            # The memoised verdict inline; a miss goes through AddressSet.__contains__ (which fills the memo).
            namespace[f"memo{index}"] = policy.allowed._memo
            namespace[f"allowed{index}"] = policy.allowed
            namespace[f"reject{index}"] = policy._reject
            lines += [
                "    ip = request.client_ip",
                f"    hit = memo{index}.get(ip)",
                "    if hit is None:",
                f"        hit = ip in allowed{index}",
                "    if not hit:",
                f"        return reject{index}",
            ]
        elif isinstance(policy, Validate) and not policy.content_types:
            namespace[f"limit{index}"] = policy.max_body
            namespace[f"reject{index}"] = policy.too_large
            lines += [
                "    length = request.content_length",
                f"    if length is not None and length > limit{index}:",
                f"        return reject{index}",
            ]
        elif isinstance(policy, Authorize) and policy.scopes and not policy.roles and not policy.consumers:
            # Authorize.check for a route granting by scopes alone (the common case), inline.
            namespace[f"scopes{index}"] = policy.scopes
            namespace[f"anonymous{index}"] = policy._anonymous
            namespace[f"no_scope{index}"] = policy._no_scope
            lines += [
                "    principal = request.principal",
                "    if principal is None:",
                f"        return anonymous{index}",
                f"    if not scopes{index} <= principal.scopes:",
                f"        return no_scope{index}",
            ]
        else:
            namespace[f"check{index}"] = policy.check
            lines += [
                f"    verdict = check{index}(request)",
                "    if verdict is not None:",
                "        if isinstance(verdict, Rejection):",
                "            return verdict",
                f"        return _continue(verdict, policies, {index + 1}, request)",
            ]
    lines.append("    return None")
    # The source is built above from fixed lines; only names bound in ``namespace`` vary.
    exec(compile("\n".join(lines), f"<policy chain {', '.join(p.name for _, p in kept)}>", "exec"), namespace)
    chain: Chain = namespace["chain"]
    return chain
