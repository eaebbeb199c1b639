"""The dashboard: server-rendered pages over the control plane's observations, served at ``/`` on port 7700.

Pages (``/ui/...``): overview (services, instances, RED sparklines), topology, traces (search + waterfall),
sagas (list + timeline), resilience (breakers, bulkheads), SLOs (budgets, burn rates), incidents. HTML comes
from Jinja2 templates, behaviour from one small vanilla script (``static/app.js``), charts from uPlot (vendored
from npm, MIT: ``static/uPlot.LICENSE``) — no Node build step. Live updates arrive over Server-Sent Events
(``GET /v1/events``): each event makes a live page re-fetch its own content.

Sign-in is the admin token (:mod:`baton.control.dashboard.auth`): the login form, or ``?token=`` once.
"""

from __future__ import annotations

from baton.control.dashboard.app import Sources, dashboard_app

__all__ = ["Sources", "dashboard_app"]
