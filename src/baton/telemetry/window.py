"""A bounded time-series window: what the control plane remembers of its instances' ``/metrics``.

Each series (metric sample name + labels) is a ring buffer of ``(time, value)`` samples, trimmed to
``retention`` seconds and ``max_samples`` entries. Counters (``*_total``, histogram ``_bucket``/``_count``/``_sum``)
are stored *reset-corrected*: when an instance restarts and its counter starts again from zero, the series keeps
rising, so an increase is always a plain difference. The window is bounded in series too (``max_series``): a
label explosion in one service cannot exhaust the control plane's memory — new series are refused and counted.

A counter series that appears in a later scrape of a target (the first 5xx of a route) is given a zero sample
at the target's previous scrape, so its first increase counts — where PromQL's ``increase`` would miss it.

Queries mirror PromQL's: :meth:`MetricWindow.increase` is ``sum(increase(name{matchers}[window]))`` without
extrapolation, :meth:`MetricWindow.latest` is ``sum(name{matchers})``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from baton.errors import TelemetryError

__all__ = ["Matchers", "MetricWindow", "Series", "WindowPolicy"]

Matchers = Mapping[str, "str | re.Pattern[str]"]
"""Label matchers: an exact value, or a compiled regex that must match the whole value (``re.compile("5..")``)."""

_COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


@dataclass(frozen=True)
class WindowPolicy:
    """How much the window remembers."""

    retention: float = 6 * 3600.0
    """Seconds of samples kept per series (the longest query window the raw data can answer)."""
    max_samples: int = 2_000
    """Samples kept per series (at a 15 s scrape interval, 2,000 samples cover 8 h)."""
    max_series: int = 50_000
    """Series kept in total; samples of new series beyond it are dropped and counted in ``refused``."""


@dataclass
class Series:
    """One time series: reset-corrected when it is a counter."""

    name: str
    labels: dict[str, str]
    counter: bool
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    _offset: float = 0.0
    _last_raw: float | None = None

    def append(self, at: float, raw: float, *, max_samples: int) -> None:
        """Add a scraped value (corrected for counter resets)."""
        if self.counter:
            if self._last_raw is not None and raw < self._last_raw:
                self._offset += self._last_raw
            self._last_raw = raw
            raw += self._offset
        if self.samples and at <= self.samples[-1][0]:
            return  # out of order or duplicate scrape: the first value seen for a time wins
        self.samples.append((at, raw))
        while len(self.samples) > max_samples:
            self.samples.popleft()

    def value_at(self, at: float) -> float | None:
        """The last value at or before ``at`` (``None`` before the first sample)."""
        found = None
        for t, v in reversed(self.samples):
            if t <= at:
                found = v
                break
        return found

    def increase(self, start: float, end: float) -> float:
        """How much the counter rose in ``(start, end]``; a series born inside counts from its first sample."""
        last = self.value_at(end)
        if last is None:
            return 0.0
        first = self.value_at(start)
        if first is None:
            first = self.samples[0][1]
        return max(0.0, last - first)

    def matches(self, matchers: Matchers) -> bool:
        """Whether every matcher accepts this series' label value (missing labels are empty strings)."""
        for key, wanted in matchers.items():
            value = self.labels.get(key, "")
            if isinstance(wanted, str):
                if value != wanted:
                    return False
            elif wanted.fullmatch(value) is None:
                return False
        return True


class MetricWindow:
    """Bounded per-series ring buffers of scraped samples, with PromQL-like queries."""

    def __init__(self, policy: WindowPolicy | None = None) -> None:
        self.policy = policy or WindowPolicy()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
        self._by_name: dict[str, list[Series]] = {}
        self._scraped: dict[tuple[tuple[str, str], ...], float] = {}
        self.refused = 0
        """Samples dropped because ``max_series`` was reached."""

    def __len__(self) -> int:
        return len(self._series)

    def add(self, name: str, labels: Mapping[str, str], value: float, *, at: float, counter: bool) -> None:
        """Record one sample of the series ``name{labels}`` at Unix time ``at``."""
        key = (name, tuple(sorted(labels.items())))
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self.policy.max_series:
                self.refused += 1
                return
            series = self._series[key] = Series(name=name, labels=dict(labels), counter=counter)
            self._by_name.setdefault(name, []).append(series)
        series.append(at, value, max_samples=self.policy.max_samples)

    def ingest(self, text: str, *, at: float, labels: Mapping[str, str] | None = None) -> int:
        """Parse a Prometheus text exposition and add its samples; ``labels`` (the target's) override.

        Returns the number of samples added.

        Raises:
            TelemetryError: the text is not a valid exposition.
        """
        extra = dict(labels or {})
        target = tuple(sorted(extra.items()))
        previous = self._scraped.get(target)
        self._scraped[target] = at
        added = 0
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as exc:
            raise TelemetryError(f"invalid Prometheus exposition: {exc}") from exc
        for family in families:
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue  # creation timestamps, not measurements
                counter = family.type in ("counter", "histogram", "summary") and (
                    sample.name.endswith(_COUNTER_SUFFIXES)
                )
                series_labels = {**sample.labels, **extra}
                if counter and previous is not None and not self._known(sample.name, series_labels):
                    # A counter that was absent at this target's previous scrape was zero then (the first 5xx
                    # of a route creates its series): without this baseline its first increase would be lost.
                    self.add(sample.name, series_labels, 0.0, at=previous, counter=True)
                self.add(sample.name, series_labels, float(sample.value), at=at, counter=counter)
                added += 1
        return added

    def _known(self, name: str, labels: Mapping[str, str]) -> bool:
        return (name, tuple(sorted(labels.items()))) in self._series

    def trim(self, now: float) -> None:
        """Drop samples older than ``retention`` and series left without samples."""
        horizon = now - self.policy.retention
        self._scraped = {target: at for target, at in self._scraped.items() if at >= horizon}
        for key, series in list(self._series.items()):
            while series.samples and series.samples[0][0] < horizon:
                series.samples.popleft()
            if not series.samples:
                del self._series[key]
                self._by_name[series.name].remove(series)

    def select(self, name: str, matchers: Matchers | None = None) -> list[Series]:
        """The series named ``name`` whose labels satisfy ``matchers``."""
        candidates = self._by_name.get(name, [])
        return [s for s in candidates if not matchers or s.matches(matchers)]

    def names(self) -> Iterable[str]:
        """Sample names with at least one series."""
        return [name for name, series in self._by_name.items() if series]

    def increase(self, name: str, matchers: Matchers | None = None, *, window: float, now: float) -> float:
        """``sum(increase(name{matchers}[window]))`` at ``now`` (no extrapolation)."""
        return sum(s.increase(now - window, now) for s in self.select(name, matchers))

    def increase_by(
        self, name: str, label: str, matchers: Matchers | None = None, *, window: float, now: float
    ) -> dict[str, float]:
        """``sum by (label) (increase(name{matchers}[window]))``."""
        totals: dict[str, float] = {}
        for series in self.select(name, matchers):
            key = series.labels.get(label, "")
            totals[key] = totals.get(key, 0.0) + series.increase(now - window, now)
        return totals

    def rate(self, name: str, matchers: Matchers | None = None, *, window: float, now: float) -> float:
        """Per-second average rate over ``window``."""
        return self.increase(name, matchers, window=window, now=now) / window if window > 0 else 0.0

    def latest(self, name: str, matchers: Matchers | None = None, *, now: float) -> float | None:
        """``sum(name{matchers})`` of the values current at ``now``; ``None`` when no series has one."""
        values = [v for v in (s.value_at(now) for s in self.select(name, matchers)) if v is not None]
        return sum(values) if values else None
