"""Threshold alarms on the metric store: the rule, its evaluation, and the evaluator loop.

Evaluation follows CloudWatch over complete periods: the alarm looks at the last
`evaluation_periods` periods that have ended (by the coordinator's clock). None has a
datapoint: INSUFFICIENT_DATA. Every one has a datapoint that breaches the threshold:
ALARM. Otherwise OK (a missing period counts as not breaching). The evaluator runs
every few seconds, so a state changes within seconds of a period's end; each change
is persisted (alarms survive a coordinator restart) and recorded as an event of the
alarm's cluster, "Alarm <name> changed from OK to ALARM: <reason>", which is what
notifications deliver. Metric data is in memory only, so after a coordinator start an
alarm keeps the state it had until its whole evaluation window lies after the start:
data missing because the coordinator was down is not "no data".
"""
from __future__ import annotations

import asyncio
import builtins
import enum
import math
import re
from dataclasses import asdict, dataclass, field, replace
from collections.abc import Callable

import structlog

from coordinator.domain import validation
from coordinator.domain.errors import invalid
from coordinator.state.store import Store
from coordinator.metrics.names import METRICS, STATISTICS
from coordinator.metrics.store import MetricStore

log = structlog.get_logger("alarms")

PREFIX = "alarms/"
EVALUATE_EVERY_S = 2.0
MAX_EVALUATION_SECONDS = 24 * 3600        # CloudWatch: periods x evaluation periods <= 1 day
_NAME = re.compile(r"[\x20-\x7e]{1,255}")

COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": (">", lambda v, t: v > t),
    "GreaterThanOrEqualToThreshold": (">=", lambda v, t: v >= t),
    "LessThanThreshold": ("<", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("<=", lambda v, t: v <= t),
}


class AlarmState(enum.StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass
class Alarm:
    alarm_name: str
    metric_name: str
    cache_cluster_id: str
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison_operator: str
    cache_node_id: str = ""
    alarm_description: str = ""
    state_value: str = AlarmState.INSUFFICIENT_DATA.value
    state_reason: str = "Unchecked: Initial alarm creation"
    state_updated: float = 0.0
    configuration_updated: float = 0.0
    revision: int | None = field(default=None, compare=False)

    def to_record(self) -> dict:
        record = asdict(self)
        record.pop("revision")
        return record

    @classmethod
    def from_record(cls, value: dict, revision: int | None = None) -> Alarm:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in value.items() if k in known}, revision=revision)

    def same_rule(self, other: Alarm) -> bool:
        fields = ("metric_name", "cache_cluster_id", "cache_node_id", "statistic", "period",
                  "evaluation_periods", "threshold", "comparison_operator")
        return all(getattr(self, f) == getattr(other, f) for f in fields)


def validate(alarm: Alarm) -> None:
    """Raise InvalidParameterValue (nothing is written) for a rule that cannot be evaluated."""
    if not _NAME.fullmatch(alarm.alarm_name):
        raise invalid("AlarmName must be 1 to 255 printable ASCII characters.")
    if alarm.metric_name not in METRICS:
        raise invalid(f"MetricName {alarm.metric_name!r} is not a cachefleet metric; "
                      f"valid names: {', '.join(sorted(METRICS))}.")
    if not alarm.cache_cluster_id:
        raise invalid("CacheClusterId is required.")
    validation.cluster_id(alarm.cache_cluster_id)
    if alarm.cache_node_id:
        validation.node_id(alarm.cache_node_id)
    if alarm.statistic not in STATISTICS:
        raise invalid(f"Statistic {alarm.statistic!r} must be one of {', '.join(STATISTICS)}.")
    if alarm.period <= 0 or alarm.period % 60:
        raise invalid(f"Period {alarm.period} must be a positive multiple of 60 seconds.")
    if alarm.evaluation_periods < 1:
        raise invalid(f"EvaluationPeriods {alarm.evaluation_periods} must be at least 1.")
    if alarm.period * alarm.evaluation_periods > MAX_EVALUATION_SECONDS:
        raise invalid("Period x EvaluationPeriods must not exceed 86400 seconds.")
    if alarm.comparison_operator not in COMPARISONS:
        raise invalid(f"ComparisonOperator {alarm.comparison_operator!r} must be one of "
                      f"{', '.join(COMPARISONS)}.")
    if not math.isfinite(alarm.threshold):
        raise invalid("Threshold must be a finite number.")


def evaluate(alarm: Alarm, metrics: MetricStore, now: float) -> tuple[AlarmState, str]:
    """The state the alarm's last complete periods give, and the sentence saying why."""
    end = int(now // alarm.period) * alarm.period
    start = end - alarm.period * alarm.evaluation_periods
    points = metrics.statistics(alarm.cache_cluster_id, alarm.cache_node_id, alarm.metric_name,
                                alarm.period, start, end)
    symbol, breaches = COMPARISONS[alarm.comparison_operator]
    what = f"{alarm.statistic} of {alarm.metric_name}"
    if not points:
        return AlarmState.INSUFFICIENT_DATA, (
            f"no datapoints in the last {alarm.evaluation_periods} period(s) of {alarm.period}s")
    values = [stats.statistic(alarm.statistic) for _, stats in points]
    shown = ", ".join(f"{v:g}" for v in values)
    breaching = sum(1 for v in values if breaches(v, alarm.threshold))
    if breaching == alarm.evaluation_periods:
        return AlarmState.ALARM, (f"Threshold Crossed: {what} [{shown}] {symbol} {alarm.threshold:g} "
                                  f"for {breaching} of {alarm.evaluation_periods} period(s)")
    return AlarmState.OK, (f"{what} [{shown}] not {symbol} {alarm.threshold:g} in all "
                           f"{alarm.evaluation_periods} period(s)")


class AlarmBook:
    """The alarms: read through from the store, evaluated by `run`, changes recorded as events."""

    def __init__(self, store: Store, metrics: MetricStore, events, clock: Callable[[], float],
                 interval: float = EVALUATE_EVERY_S) -> None:
        self._store = store
        self._metrics = metrics
        self._events = events
        self._clock = clock
        self.interval = interval
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.since: float | None = None       # when this coordinator began collecting (run())

    async def list(self) -> list[Alarm]:
        return [Alarm.from_record(r.value, r.revision) for r in await self._store.list(PREFIX)]

    async def get(self, name: str) -> Alarm | None:
        record = await self._store.get(PREFIX + name)
        return None if record is None else Alarm.from_record(record.value, record.revision)

    async def put(self, alarm: Alarm) -> Alarm:
        """Create or replace; a changed rule starts again from INSUFFICIENT_DATA (as CloudWatch)."""
        validate(alarm)
        async with self._lock:
            now = self._clock()
            old = await self.get(alarm.alarm_name)
            alarm.configuration_updated = now
            if old is not None and old.same_rule(alarm):
                alarm.state_value, alarm.state_reason = old.state_value, old.state_reason
                alarm.state_updated = old.state_updated
            else:
                alarm.state_updated = now
            await self._store.put(PREFIX + alarm.alarm_name, alarm.to_record())
        self._wake.set()
        return alarm

    async def delete(self, names: builtins.list[str]) -> None:
        async with self._lock:
            for name in names:
                await self._store.delete(PREFIX + name)

    async def evaluate_all(self) -> builtins.list[str]:
        """Evaluate every alarm once; the sentences of the changes made."""
        changes = []
        async with self._lock:
            now = self._clock()
            for alarm in await self.list():
                window_start = (now // alarm.period - alarm.evaluation_periods) * alarm.period
                if self.since is not None and window_start < self.since:
                    continue                              # partly before we collected: keep the state
                state, reason = evaluate(alarm, self._metrics, now)
                if state.value == alarm.state_value:
                    continue
                sentence = f"Alarm {alarm.alarm_name} changed from {alarm.state_value} to {state.value}: {reason}"
                changed = replace(alarm, state_value=state.value, state_reason=reason, state_updated=now)
                if await self._store.put(PREFIX + alarm.alarm_name, changed.to_record(),
                                         alarm.revision) is None:
                    continue                              # replaced meanwhile: next round
                await self._events.record("cache-cluster", alarm.cache_cluster_id, sentence)
                log.info("alarm state changed", alarm=alarm.alarm_name, cluster_id=alarm.cache_cluster_id,
                         old=alarm.state_value, new=state.value, reason=reason)
                changes.append(sentence)
        return changes

    async def run(self) -> None:
        """Evaluate every interval (and at once after a put) until cancelled."""
        self.since = self._clock()
        while True:
            try:
                await self.evaluate_all()
            except Exception:  # noqa: BLE001 - a failed round must not stop alarms for good
                log.exception("alarm evaluation failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
