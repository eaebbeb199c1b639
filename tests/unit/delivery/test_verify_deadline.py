"""A pact replay that never returns from the FFI becomes a named error, not a hung test run."""

from __future__ import annotations

import threading

import pytest

from baton.delivery.contracts.pacts import VerificationHung, _verify_within


class Blocking:
    """Stands in for a verifier whose native call never returns (until released at teardown)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def verify(self) -> None:
        self.entered.set()
        self.release.wait(30)


class Failing:
    def verify(self) -> None:
        raise RuntimeError("interaction 'a reservation' failed")


class Passing:
    def __init__(self) -> None:
        self.calls = 0

    def verify(self) -> None:
        self.calls += 1


def test_a_replay_that_never_returns_is_reported_as_hung() -> None:
    verifier = Blocking()
    try:
        with pytest.raises(VerificationHung, match="did not return within"):
            _verify_within(verifier, 0.2)
        assert verifier.entered.is_set()
    finally:
        verifier.release.set()


def test_a_failed_replay_raises_the_verifiers_own_error() -> None:
    with pytest.raises(RuntimeError, match="a reservation"):
        _verify_within(Failing(), 5)


def test_a_passing_replay_returns_once_verified() -> None:
    verifier = Passing()
    _verify_within(verifier, 5)
    assert verifier.calls == 1
