"""Test helpers shipped with Baton, for Baton's own tests and for its users'."""

from baton.testing.faultproxy import FaultProxy
from baton.testing.waiting import ConditionTimeout, wait_until, wait_until_sync

__all__ = ["ConditionTimeout", "FaultProxy", "wait_until", "wait_until_sync"]
