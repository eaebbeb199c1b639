"""The decisions behind the client's layers, one module per layer; :mod:`baton.client.chain` runs them in order.

Breaker, bulkhead and deadline need no module of their own here: the chain asks the target's
:class:`~baton.resilience.CircuitBreaker`, :class:`~baton.resilience.Bulkhead` and
:mod:`~baton.resilience.deadline` directly.
"""
