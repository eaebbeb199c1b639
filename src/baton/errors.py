"""The Baton error tree.

Every exception Baton raises hangs from :class:`BatonError`; foreign exceptions (aiohttp, nats, SQLAlchemy…)
are translated at the boundary where they enter Baton. ``retryable`` says whether repeating the same
operation may succeed.

::

    BatonError
    ├── ConfigError                  bad settings, env vars or manifest
    │   └── ManifestError            baton.yaml invalid (carries file, line, field)
    ├── BrokerError                  the event broker is unreachable or misbehaves        (retryable)
    │   └── BrokerUnavailable        no connection to NATS                                (retryable)
    ├── EventError                   an event could not be encoded, decoded or handled
    │   └── PoisonEvent              a handler keeps failing; the event goes to the dead-letter stream
    ├── StoreError                   a service database failed                            (retryable)
    ├── CallError                    a service-to-service call failed
    │   ├── NoInstances              discovery has no ready instance for the target       (retryable)
    │   ├── CallTimeout              a per-try timeout expired                            (retryable)
    │   ├── DeadlineExceeded         the overall deadline of the request is spent
    │   ├── CircuitOpen              the target's breaker is open; the call was not made
    │   ├── BulkheadFull             the target's concurrency limit and queue are full
    │   ├── RetryBudgetExhausted     a retry was wanted but the budget is spent
    │   ├── UpstreamUnavailable      connect error / reset / 5xx                          (retryable)
    │   └── UpstreamRejected         the target answered 4xx (a business error; never retried)
    ├── SagaError                    a saga could not proceed
    ├── SecurityError                authentication failed (401)
    │   └── Forbidden                authenticated, but lacking a scope, role or identity (403)
    ├── NotFound                     missing, or someone else's: both answer the same 404
    ├── SecretError                  a secret cannot be stored, read or decrypted (never carries the value)
    ├── IllegalStateTransition       a breaker transition its state machine forbids
    ├── ControlError                 the control plane refused or failed an operation
    ├── TelemetryError               an OTLP export or a metrics exposition cannot be decoded
    └── DeliveryError                a rollout, a contract check or a pipeline stage was refused or failed
"""

from __future__ import annotations

from typing import Any, ClassVar


class BatonError(Exception):
    """Root of every error Baton raises."""

    retryable: ClassVar[bool] = False
    #: HTTP status a service answers with when this error escapes a handler.
    status: ClassVar[int] = 500
    #: Short problem title used in problem+json bodies.
    title: ClassVar[str] = "Internal error"

    def __init__(self, message: str = "", **context: Any) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title
        self.context = context


class ConfigError(BatonError):
    """Raised when settings, environment variables or the manifest are invalid."""

    title = "Invalid configuration"


class ManifestError(ConfigError):
    """Raised when ``baton.yaml`` is invalid; names the file, line and field."""

    title = "Invalid manifest"

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"{file}:{line}" if line else file
        text = f"{where}: {field + ': ' if field else ''}{message}"
        if hint:
            text += f" (hint: {hint})"
        super().__init__(text, file=file, line=line, field=field, hint=hint)
        self.file, self.line, self.field, self.hint = file, line, field, hint


class BrokerError(BatonError):
    """Raised when the event broker misbehaves (publish not acknowledged, stream missing...)."""

    retryable = True
    status = 503
    title = "Event broker error"


class BrokerUnavailable(BrokerError):
    """Raised when there is no connection to NATS."""

    title = "Event broker unavailable"


class EventError(BatonError):
    """Raised when an event cannot be encoded, decoded or handled."""

    title = "Event error"


class PoisonEvent(EventError):
    """Raised (and recorded) when an event exhausted its deliveries and went to the dead-letter stream."""

    title = "Poison event"


class StoreError(BatonError):
    """Raised when a service database operation fails."""

    retryable = True
    status = 503
    title = "Database error"


class CallError(BatonError):
    """Raised when a service-to-service call fails."""

    status = 502
    title = "Upstream call failed"


class NoInstances(CallError):
    """Raised when discovery knows no ready instance of the target."""

    retryable = True
    status = 503
    title = "No instance available"


class CallTimeout(CallError):
    """Raised when one try of a call exceeds its per-try timeout."""

    retryable = True
    status = 504
    title = "Upstream timed out"


class DeadlineExceeded(CallError):
    """Raised when the request's overall deadline is spent (locally or as received in X-Request-Deadline)."""

    status = 504
    title = "Deadline exceeded"


class CircuitOpen(CallError):
    """Raised when the target's circuit breaker is open (or forced open); the call was not attempted."""

    status = 503
    title = "Circuit open"


class BulkheadFull(CallError):
    """Raised when the target's concurrency limit and its waiting queue are both full."""

    status = 503
    title = "Bulkhead full"


class RetryBudgetExhausted(CallError):
    """Raised when a retry was warranted but the target's retry budget is spent."""

    status = 503
    title = "Retry budget exhausted"


class UpstreamUnavailable(CallError):
    """Raised on connect errors, resets and 5xx answers from the target."""

    retryable = True
    status = 502
    title = "Upstream unavailable"


class UpstreamRejected(CallError):
    """Raised when the target answered 4xx: a business error, never retried, never a breaker failure."""

    status = 400
    title = "Upstream rejected the request"


class SagaError(BatonError):
    """Raised when a saga cannot proceed (unknown saga, invalid transition, replay mismatch)."""

    title = "Saga error"


class SecurityError(BatonError):
    """Raised when authentication or authorization fails."""

    status = 401
    title = "Unauthorized"


class ControlError(BatonError):
    """Raised when the control plane refuses or fails an operation."""

    title = "Control plane error"


class SecretError(BatonError):
    """Raised when a secret cannot be stored, read or decrypted (wrong master key, tampered file, backend down).

    The message never contains a secret's value.
    """

    title = "Secret error"


class IllegalStateTransition(BatonError):
    """Raised when a circuit breaker is asked for a transition its state machine forbids (CLOSED to HALF_OPEN)."""

    title = "Illegal circuit breaker transition"


class TelemetryError(BatonError):
    """Raised when telemetry input cannot be decoded: an OTLP trace export or a Prometheus text exposition."""

    status = 400
    title = "Invalid telemetry"


class Forbidden(SecurityError):
    """Raised when the caller is authenticated but lacks the scope, role or identity an operation needs."""

    status = 403
    title = "Forbidden"


class NotFound(BatonError):
    """Raised when a resource does not exist *or* belongs to someone else (both answer the same 404)."""

    status = 404
    title = "Not found"


class DeliveryError(BatonError):
    """Raised when a rollout cannot start or act (no new version, one already running), a contract cannot be
    stored or verified, or a pipeline stage fails."""

    status = 409
    title = "Delivery refused"
