"""Client addresses: who the caller really is (``X-Forwarded-For`` from trusted proxies only) and the allowlist.

``X-Forwarded-For`` is a list anyone can write. It is believed only when the TCP peer is a configured proxy,
and then only from the right: the rightmost address that is not itself a trusted proxy is the client, so a
spoofed left-hand entry is never taken for the caller. Verdicts are memoised per address (bounded), so the
hot path does a dict lookup instead of parsing addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from baton.gateway.policies.base import RequestInfo, Verdict
from baton.gateway.responses import Rejection, problem

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MEMO_LIMIT = 65_536


class AddressSet:
    """A set of CIDRs with a memoised membership test."""

    __slots__ = ("_memo", "networks")

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
        self._memo: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: str) -> bool:
        hit = self._memo.get(address)
        if hit is not None:
            return hit
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            result = False
        else:
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            result = any(ip in net for net in self.networks)
        if len(self._memo) >= _MEMO_LIMIT:
            self._memo.clear()
        self._memo[address] = result
        return result


def client_address(peer: str, forwarded_for: bytes | None, trusted: AddressSet) -> str:
    """The caller's address: ``peer`` unless it is a trusted proxy, then the rightmost untrusted XFF entry."""
    if forwarded_for is None or not trusted or peer not in trusted:
        return peer
    hops = [h.strip() for h in forwarded_for.decode("latin-1").split(",")]
    for hop in reversed(hops):
        if hop and hop not in trusted:
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer  # garbage in the header: fall back to what the socket says
            return hop
    # Every hop is a trusted proxy: the leftmost entry is the closest thing to a client we have.
    return hops[0] or peer


class IpAllowlist:
    """Policy: only callers inside the route's CIDRs get through (403 otherwise)."""

    name = "allowlist"

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.allowed = AddressSet(cidrs)
        self._reject: Rejection = problem(403, "your address is not allowed on this route")

    def check(self, request: RequestInfo) -> Verdict:
        """Reject callers outside the allowlist."""
        allowed = self.allowed
        hit = allowed._memo.get(request.client_ip)  # the memoised verdict, without a method call
        if hit if hit is not None else request.client_ip in allowed:
            return None
        return self._reject
