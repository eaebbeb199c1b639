"""baton.telemetry — tracing, metrics, logs, SLOs and incidents.

In every service instance (the kit):
    :mod:`~baton.telemetry.context`   correlation id + W3C trace context across hops
    :mod:`~baton.telemetry.tracing`   the process's TracerProvider (built by :mod:`~baton.telemetry.export`)
    :mod:`~baton.telemetry.sampling`  head ratio sampling with errors always kept
    :mod:`~baton.telemetry.metrics`   RED instruments with OTel semantic-convention names
    :mod:`~baton.telemetry.logging`   JSON logs carrying trace and correlation ids

In the control plane:
    :mod:`~baton.telemetry.receiver`  OTLP/HTTP receiver + trace query API over a span store
                                      (:mod:`~baton.telemetry.sqlite_spans`, :mod:`~baton.telemetry.memory_spans`)
    :mod:`~baton.telemetry.waterfall` ``baton trace <id>`` in the terminal
    :mod:`~baton.telemetry.scrape`    polls instances' ``/metrics`` into a :mod:`~baton.telemetry.window`
    :mod:`~baton.telemetry.red`       rate / errors / duration queries
    :mod:`~baton.telemetry.slo`       SLO definitions and burn-rate rules; :mod:`~baton.telemetry.burn` evaluates them
    :mod:`~baton.telemetry.incidents` alerts grouped into incidents (:mod:`~baton.telemetry.incident_store`,
                                      :mod:`~baton.telemetry.notify`)

Nothing is imported here: the kit imports :mod:`~baton.telemetry.metrics` on every start and must not pay for
the control plane's modules.
"""
