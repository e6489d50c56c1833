"""Turn the measurements into one table, judge the targets, render text and RST."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from .plan import IMPLEMENTATIONS, MIB, SCENARIOS, Scenario, Sizes, Target
from .runner import Measurement

HEADER = (
    "scenario",
    "ours MiB/s median (min-max)",
    "upstream MiB/s median (min-max)",
    "limit MiB/s",
    "ours/upstream",
    "ours/limit",
    "target",
    "peak RSS growth (ours, upstream)",
    "cores busy: Azurite all / its request thread, client (ours; upstream; limit)",
)


@dataclass
class Results:
    """Every measurement and failure of a run, keyed by (scenario, who), or for the
    limits by ("curl", "GET" | "PUT" | "memory")."""

    measurements: dict[tuple[str, str], list[Measurement]] = field(
        default_factory=lambda: defaultdict(list)
    )
    failures: list[str] = field(default_factory=list)
    curl_missing: bool = False
    loads: list[float] = field(default_factory=list)
    """1-minute load averages sampled after each repetition."""

    def add(self, key: str, who: str, measurement: Measurement) -> None:
        """Record one repetition."""
        self.measurements[(key, who)].append(measurement)

    def get(self, key: str, who: str) -> list[Measurement]:
        """The repetitions recorded for (key, who); empty when none succeeded."""
        return self.measurements.get((key, who), [])


@dataclass(frozen=True)
class Summary:
    """Throughput over the repetitions of one (scenario, who)."""

    median: float
    low: float
    high: float
    runs: int
    size: int
    peak_growth: int | None
    """Largest peak RSS growth of any repetition, in bytes."""
    server_busy: float | None = None
    """Median cores Azurite kept busy over the repetitions (None if not measured)."""
    server_thread_busy: float | None = None
    """Median share of the time Azurite's request thread was busy."""
    client_busy: float | None = None
    """Median cores the client kept busy (None for curl)."""

    @classmethod
    def of(cls, runs: list[Measurement]) -> Summary | None:
        """Summarise the repetitions; None when there are none."""
        if not runs:
            return None
        rates = [m.mibps for m in runs]
        growths = [m.rss_growth for m in runs if m.rss_growth is not None]
        return cls(
            median=statistics.median(rates),
            low=min(rates),
            high=max(rates),
            runs=len(runs),
            size=runs[0].size,
            peak_growth=max(growths) if growths else None,
            server_busy=_median([m.server_busy for m in runs]),
            server_thread_busy=_median([m.server_thread_busy for m in runs]),
            client_busy=_median([m.client_busy for m in runs]),
        )

    def text(self) -> str:
        """``233 (229-240)``."""
        return f"{_rate(self.median)} ({_rate(self.low)}-{_rate(self.high)})"


@dataclass(frozen=True)
class Verdict:
    """A target judged against the medians."""

    target: Target
    value: float | None
    met: bool | None

    def text(self, limit_kind: str) -> str:
        """``>=4x upstream: met``, ``... missed`` or ``... n/a``."""
        name = self.target.describe().replace("curl", f"curl {limit_kind}")
        if self.met is None:
            return f"{name}: n/a"
        shown = ""
        if self.target.kind == "peak":
            shown = f" ({self.value:.2f}x)"
        elif self.value is not None and f"{self.value:.2f}" == f"{self.target.factor:.2f}":
            shown = f" ({self.value:.3f}x)"  # the table's two decimals would hide the verdict
        return f"{name}: {'met' if self.met else 'missed'}{shown}"


@dataclass(frozen=True)
class Row:
    """One scenario, summarised."""

    scenario: Scenario
    label: str
    ours: Summary | None
    upstream: Summary | None
    upstream_label: str
    limit: Summary | None
    verdicts: tuple[Verdict, ...]

    def cells(self, curl_missing: bool) -> tuple[str, ...]:
        """The row's table cells, in ``HEADER`` order."""
        kind = self.scenario.limit
        upstream = _summary_text(self.upstream)
        if self.upstream is not None and self.upstream_label != self.label:
            upstream += f" [{self.upstream_label.removeprefix('load ')}]"
        if kind == "memory":
            limit = f"torch.load from memory {_summary_text(self.limit)}"
        else:
            limit = "curl missing" if curl_missing else f"{kind} {_summary_text(self.limit)}"
        return (
            self.label,
            _summary_text(self.ours),
            upstream,
            limit,
            _ratio_text(self.ours, self.upstream),
            _ratio_text(self.ours, self.limit),
            "; ".join(v.text(kind) for v in self.verdicts),
            f"{self._peak(self.ours)}, {self._peak(self.upstream)}",
            "; ".join(_busy(s) for s in (self.ours, self.upstream, self.limit)),
        )

    def _peak(self, summary: Summary | None) -> str:
        if summary is None or summary.peak_growth is None:
            return "n/a"
        text = f"{summary.peak_growth / MIB:.0f} MiB"
        if self.scenario.keeps_data:
            text += f" ({summary.peak_growth / summary.size:.2f}x)"
        return text


def build_rows(results: Results, sizes: Sizes) -> list[Row]:
    """One row per scenario, with the curl limit that bounds it."""
    limits = {kind: Summary.of(results.get("curl", kind)) for kind in ("GET", "PUT", "memory")}
    rows = []
    for scenario in SCENARIOS:
        found = {who: Summary.of(results.get(scenario.key, who)) for who in IMPLEMENTATIONS}
        limit = limits[scenario.limit]
        rows.append(
            Row(
                scenario=scenario,
                label=scenario.label(sizes, "ours"),
                ours=found["ours"],
                upstream=found["upstream"],
                upstream_label=scenario.label(sizes, "upstream"),
                limit=limit,
                verdicts=tuple(
                    _judge(t, found["ours"], found["upstream"], limit) for t in scenario.targets
                ),
            )
        )
    return rows


def _judge(
    target: Target, ours: Summary | None, upstream: Summary | None, limit: Summary | None
) -> Verdict:
    if ours is None:
        return Verdict(target, None, None)
    if target.kind == "peak":
        if ours.peak_growth is None:
            return Verdict(target, None, None)
        value = ours.peak_growth / ours.size
        return Verdict(target, value, value <= target.factor)
    reference = upstream if target.kind == "upstream" else limit
    if reference is None:
        return Verdict(target, None, None)
    value = ours.median / reference.median
    return Verdict(target, value, value >= target.factor)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _busy(summary: Summary | None) -> str:
    """``1.02 / 0.61, 0.85``: Azurite's cores / its request thread, then the client's."""
    if summary is None:
        return "n/a"
    text = "n/a" if summary.server_busy is None else f"{summary.server_busy:.2f}"
    if summary.server_thread_busy is not None:
        text += f" / {summary.server_thread_busy:.2f}"
    if summary.client_busy is not None:
        text += f", {summary.client_busy:.2f}"
    return text


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _summary_text(summary: Summary | None) -> str:
    return summary.text() if summary is not None else "failed"


def _ratio_text(ours: Summary | None, reference: Summary | None) -> str:
    if ours is None or reference is None:
        return "n/a"
    return f"{ours.median / reference.median:.2f}x"


def render_text(rows: list[Row], curl_missing: bool) -> str:
    """A Markdown pipe table, padded so it also reads well in a terminal."""
    return table_text(HEADER, [row.cells(curl_missing) for row in rows])


def render_rst(rows: list[Row], curl_missing: bool) -> str:
    """The table as an RST ``list-table``."""
    return table_rst(HEADER, [row.cells(curl_missing) for row in rows])


def table_text(header: tuple[str, ...], cells: list[tuple[str, ...]]) -> str:
    """Any table as a padded Markdown pipe table."""
    table = [header, *cells]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in table
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def table_rst(header: tuple[str, ...], cells: list[tuple[str, ...]]) -> str:
    """Any table as an RST ``list-table``."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for line in [header, *cells]:
        for index, cell in enumerate(line):
            lines.append(f"   {'* -' if index == 0 else '  -'} {cell}")
    return "\n".join(lines)


def notes(rows: list[Row], sizes: Sizes, results: Results, busy: str | None = None) -> list[str]:
    """Sentences that belong under the table; ``busy`` warns of other load on the machine."""
    found: list[str] = [
        f"{sizes.mode} mode, {sizes.reps} repetition{'s' if sizes.reps != 1 else ''} "
        "per scenario and implementation, "
        "each in a fresh process.",
    ]
    for row in rows:
        if row.upstream_label != row.label:
            found.append(
                f"Upstream's '{row.label}' row used a smaller checkpoint "
                f"({row.upstream_label.removeprefix('load ')}); the ratio compares throughputs."
            )
    if busy:
        found.append(busy)
    for row in rows:
        for verdict in row.verdicts:
            bound = _limit_bound(row, verdict)
            if bound is not None and row.scenario.limit == "memory":
                found.append(
                    f"'{row.label}': {verdict.target.describe()} is out of reach here: "
                    f"torch.load of ours' checkpoint from memory is itself only "
                    f"{bound:.2f}x upstream on this machine."
                )
            elif bound is not None:
                found.append(
                    f"'{row.label}': {verdict.target.describe()} is out of reach of a single "
                    f"stream here: curl {row.scenario.limit} itself is only {bound:.2f}x upstream "
                    "on this machine."
                )
    for row in rows:
        rate_missed = any(v.met is False and v.target.kind != "peak" for v in row.verdicts)
        if rate_missed and row.ours is not None:
            why = bound_note(row.ours)
            if why:
                found.append(f"'{row.label}': {why}")
    met = sum(1 for row in rows for v in row.verdicts if v.met)
    missed = sum(1 for row in rows for v in row.verdicts if v.met is False)
    unknown = sum(1 for row in rows for v in row.verdicts if v.met is None)
    found.append(f"Targets: {met} met, {missed} missed, {unknown} not judged.")
    if results.curl_missing:
        found.append(
            "curl is not installed: no GET or PUT limit was measured, and its targets are n/a."
        )
    for failure in results.failures:
        last = failure.strip().splitlines()[-1]
        found.append(f"FAILED: {failure.splitlines()[0]} ... {last}"[:300])
    return found


# The share of the time from which a thread, or a machine's cores, has no capacity
# left worth counting on.
SATURATED = 0.9


def bound_note(summary: Summary) -> str | None:
    """Why a missed target's rate was what it was, when the CPU figures tell.

    Azurite answers every request on one JavaScript thread: if that thread was
    saturated, the emulator set the rate. Otherwise, if client and emulator together
    kept the machine's cores saturated, the machine's CPU did.
    """
    thread = summary.server_thread_busy
    if thread is not None and thread >= SATURATED:
        return (
            f"during ours Azurite's request thread was busy {thread:.2f} of the time; the "
            "emulator, which answers every request on that one thread, set this rate."
        )
    cores = os.cpu_count() or 1
    if summary.server_busy is None or summary.client_busy is None:
        return None
    used = summary.server_busy + summary.client_busy
    if used < SATURATED * cores:
        return None
    return (
        f"during ours the client ({summary.client_busy:.2f} cores) and Azurite "
        f"({summary.server_busy:.2f}) kept {used:.2f} of the machine's {cores} cores busy; "
        "its CPU, shared by client and emulator, set this rate."
    )


def _limit_bound(row: Row, verdict: Verdict) -> float | None:
    """The curl limit over upstream, when it is below a missed upstream target's factor."""
    if verdict.target.kind != "upstream" or verdict.met is not False:
        return None
    if row.limit is None or row.upstream is None:
        return None
    bound = row.limit.median / row.upstream.median
    return bound if bound < verdict.target.factor else None
