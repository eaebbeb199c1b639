"""The order service: carts, orders and their state machine, the checkout saga and a local price read model.

Importing any part of the package loads :mod:`apps.shop.order.service` first: the service module registers the
saga, routes and handlers at its end, and those modules import from it, so it must be the one that starts.
"""

from apps.shop.order import service as service
