"""What is measured: the sizes of each mode, the scenarios and their targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

Implementation = Literal["ours", "upstream"]
IMPLEMENTATIONS: tuple[Implementation, ...] = ("ours", "upstream")
LimitKind = Literal["GET", "PUT", "memory"]
TargetKind = Literal["upstream", "limit", "peak"]


@dataclass(frozen=True)
class Sizes:
    """The data sizes and repetition count of one mode."""

    mode: str
    big: int
    """Bytes of the random blob, of the checkpoint to load and of the one to save."""
    small_count_ours: int
    """Tensors in the many-small-tensors checkpoint that ours loads."""
    small_count_upstream: int
    """The same for upstream, whose per-tensor cost makes the full count too slow."""
    reps: int
    save_tensors: int = 16
    small_tensor_bytes: int = 50 * KIB
    chunk: int = MIB

    @property
    def save_tensor_bytes(self) -> int:
        """Bytes of each tensor of the large checkpoint."""
        return self.big // self.save_tensors

    def small_count(self, implementation: Implementation) -> int:
        """Tensors in the many-small-tensors checkpoint for this implementation."""
        return self.small_count_ours if implementation == "ours" else self.small_count_upstream


QUICK = Sizes(mode="quick", big=256 * MIB, small_count_ours=5_000, small_count_upstream=500, reps=2)
FULL = Sizes(mode="full", big=GIB, small_count_ours=20_000, small_count_upstream=2_000, reps=5)


@dataclass(frozen=True)
class Target:
    """One goal from the issue: a throughput ratio, or a bound on peak memory."""

    kind: TargetKind
    factor: float

    def describe(self) -> str:
        """Short text such as ``>=4x upstream``."""
        if self.kind == "upstream":
            return f">={self.factor:g}x upstream"
        if self.kind == "limit":
            return f">={self.factor:g}x curl"
        return f"peak <={self.factor:g}x size"


@dataclass(frozen=True)
class Scenario:
    """One row of the table."""

    key: str
    worker: str
    """The function of ``worker.py`` that runs it."""
    limit: LimitKind
    """What bounds it: a curl transfer, or (``memory``) torch.load of the same
    checkpoint from memory, which shows what torch.load itself allows."""
    targets: tuple[Target, ...]
    keeps_data: bool = False
    """Whether the data read stays in memory, so peak growth / size is worth showing."""

    def label(self, sizes: Sizes, implementation: Implementation = "ours") -> str:
        """Human name of the scenario at these sizes, e.g. ``load 1 GiB``."""
        big = format_size(sizes.big)
        count = sizes.small_count(implementation)
        small = f"{format_count(count)} x {format_size(sizes.small_tensor_bytes)}"
        return {
            "save": f"save {big}",
            "load": f"load {big}",
            "load_small": f"load {small}",
            "read_all": f"read() {big}",
            "read_chunks": f"read({format_size(sizes.chunk)}) loop, {big}",
        }[self.key]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("save", "save", "PUT", (Target("upstream", 3.5), Target("limit", 0.75))),
    Scenario("load", "load", "GET", (Target("upstream", 4), Target("limit", 0.5)), keeps_data=True),
    Scenario("load_small", "load", "memory", (Target("upstream", 40),), keeps_data=True),
    Scenario(
        "read_all",
        "read_all",
        "GET",
        (Target("upstream", 4), Target("peak", 1.05)),
        keeps_data=True,
    ),
    Scenario("read_chunks", "read_chunks", "GET", (Target("upstream", 6),)),
)


def format_size(size: int) -> str:
    """``1073741824`` -> ``1 GiB``; whole units only where exact."""
    for unit, factor in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size / MIB:.1f} MiB"


def format_count(count: int) -> str:
    """``20000`` -> ``20k``, ``2500`` -> ``2,500``."""
    return f"{count // 1000}k" if count % 1000 == 0 else f"{count:,}"
