"""The payment service: a payment-provider simulator (authorize, capture, void, refund), idempotent per operation."""
