"""Delivery: consumer-driven contracts, a pipeline per service, blue-green and canary releases with analysis.

Releases (``baton rollout``) — pure state machines driven by a runner::

    policy = RolloutPolicy.from_spec(manifest.rollouts["catalog"])   # canary steps, analysis thresholds
    runner = RolloutRunner(state, spec=new_spec, replicas=2, policy=policy, fleet=SupervisorFleet(supervisor),
                           router=OverlayRouter(home), analyzer=LiveAnalyzer(...), preview=..., token=...)
    await runner.run()                                               # ends healthy, rolled_back or aborted

Contracts (``baton contracts``) live in :mod:`baton.delivery.contracts`; the pipeline (``baton pipeline``) in
:mod:`baton.delivery.pipeline`; staging and production side by side in :mod:`baton.delivery.environments`.
"""

from baton.delivery.analysis import Analysis, Analyzer, Check, MetricAnalyzer, Stats, Verdict, judge
from baton.delivery.bluegreen import BlueGreenController
from baton.delivery.canary import CanaryController
from baton.delivery.fleet import Fleet, Member, MemoryFleet, SupervisorFleet
from baton.delivery.policy import AnalysisPolicy, BlueGreenPolicy, CanaryPolicy, RolloutPolicy
from baton.delivery.runner import PreviewCheck, RolloutHooks, RolloutRunner
from baton.delivery.state import Complete, Phase, Rollback, RolloutState, SetWeight
from baton.delivery.traffic import MemoryRouter, OverlayRouter, TrafficRouter, TrafficSplit, preview_headers

__all__ = [
    "Analysis",
    "AnalysisPolicy",
    "Analyzer",
    "BlueGreenController",
    "BlueGreenPolicy",
    "CanaryController",
    "CanaryPolicy",
    "Check",
    "Complete",
    "Fleet",
    "Member",
    "MemoryFleet",
    "MemoryRouter",
    "MetricAnalyzer",
    "OverlayRouter",
    "Phase",
    "PreviewCheck",
    "Rollback",
    "RolloutHooks",
    "RolloutPolicy",
    "RolloutRunner",
    "RolloutState",
    "SetWeight",
    "Stats",
    "SupervisorFleet",
    "TrafficRouter",
    "TrafficSplit",
    "Verdict",
    "judge",
    "preview_headers",
]
