"""The example service: a minimal tour of the service kit (routes, database, idempotency, events)."""
