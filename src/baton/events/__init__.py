"""Events: the embedded broker, the CloudEvents envelope, the event bus, outbox, inbox and dead letters."""
