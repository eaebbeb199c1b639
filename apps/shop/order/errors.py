"""The order service's own errors (answered as problem+json through the kit's ``BatonError`` handler)."""

from __future__ import annotations

from baton.errors import BatonError


class OrderConflict(BatonError):
    """Raised (409) when a cart or order is not in a state that allows the request (ordered cart, final order,
    a price the read model does not know yet)."""

    status = 409
    title = "Order conflict"


class OrderRejected(BatonError):
    """Raised (422) when an order cannot be made from the cart as it is (empty, mixed currencies)."""

    status = 422
    title = "Order rejected"
