"""Test helpers shipped with Baton, for Baton's own tests and for its users'."""

from baton.testing.waiting import ConditionTimeout, wait_until, wait_until_sync

__all__ = ["ConditionTimeout", "wait_until", "wait_until_sync"]
