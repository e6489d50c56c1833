"""Which spans a load fetches together."""

from hypothesis import given
from hypothesis import strategies as st

from azstoragetorch.io.dcp._ranges import MergeLimits, merge_spans

KIB = 1024
MIB = 1024 * KIB
# The defaults the reader uses, which docs/distributed-checkpoints.rst quotes.
LIMITS = MergeLimits()


def ranges(fetches):
    return [(f.blob, f.start, f.end) for f in fetches]


def test_adjacent_spans_of_one_blob_are_one_fetch_in_offset_order():
    spans = [("a", 200, 300, "y"), ("a", 0, 200, "x"), ("b", 0, 10, "z")]
    fetches = merge_spans(spans, LIMITS)
    assert ranges(fetches) == [("a", 0, 300), ("b", 0, 10)]
    assert [item for _, _, item in fetches[0].members] == ["x", "y"]


def test_a_small_gap_is_bridged_when_it_wastes_little():
    spans = [("a", 0, 4 * MIB, 1), ("a", 4 * MIB + 100 * KIB, 8 * MIB, 2)]
    assert ranges(merge_spans(spans, LIMITS)) == [("a", 0, 8 * MIB)]


def test_a_gap_between_small_spans_is_not_bridged_when_it_would_dominate():
    spans = [("a", 0, 10 * KIB, 1), ("a", 110 * KIB, 120 * KIB, 2)]
    assert ranges(merge_spans(spans, LIMITS)) == [("a", 0, 10 * KIB), ("a", 110 * KIB, 120 * KIB)]


def test_a_large_gap_is_never_bridged():
    spans = [("a", 0, 32 * MIB, 1), ("a", 33 * MIB, 60 * MIB, 2)]
    assert len(merge_spans(spans, LIMITS)) == 2


def test_ranges_stop_growing_at_the_size_limit_but_a_large_span_stays_whole():
    spans = [("a", i * 20 * MIB, (i + 1) * 20 * MIB, i) for i in range(4)]
    spans.append(("a", 80 * MIB, 300 * MIB, "big"))
    assert ranges(merge_spans(spans, LIMITS)) == [
        ("a", 0, 60 * MIB),
        ("a", 60 * MIB, 80 * MIB),
        ("a", 80 * MIB, 300 * MIB),
    ]


def test_overlapping_spans_share_one_fetch_and_empty_spans_need_none():
    spans = [("a", 0, 100, 1), ("a", 50, 150, 2), ("a", 500, 500, 3)]
    fetches = merge_spans(spans, LIMITS)
    assert ranges(fetches) == [("a", 0, 150)]
    assert fetches[0].needed == 150


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 40 * MIB), st.integers(1, 8 * MIB)),
        max_size=60,
    )
)
def test_every_span_is_served_and_waste_stays_within_the_share(raw):
    spans = [(f"b{blob}", start, start + size, i) for i, (blob, start, size) in enumerate(raw)]
    fetches = merge_spans(spans, LIMITS)
    served = sorted(item for fetch in fetches for _, _, item in fetch.members)
    assert served == list(range(len(spans)))
    for fetch in fetches:
        for start, end, _ in fetch.members:
            assert fetch.start <= start < end <= fetch.end
        union = set()
        for start, end, _ in fetch.members:
            union.add((start, end))
        covered = _covered(union)
        assert covered == fetch.needed
        overlapping = any(
            a[1] > b[0] for a, b in zip(sorted(union), sorted(union)[1:], strict=False)
        )
        if not overlapping:
            assert fetch.size - covered <= LIMITS.max_waste * covered


def _covered(spans):
    total, reach = 0, -1
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total
