"""The benchmark's pure parts: its plan, verdicts, tables, notes and the results file.

No storage and no worker process: these build the figures by hand and check what
``tools/bench`` makes of them, the parts a change to the benchmark most easily breaks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench import datasets, dcp, docs, plan, report, worker_support
from bench.runner import Measurement

REPO = Path(__file__).resolve().parents[2]
MIB = plan.MIB


def _runs(size: int, *seconds: float, **extra: float) -> list[Measurement]:
    return [Measurement(size, s, **extra) for s in seconds]  # type: ignore[arg-type]


def _results(ours_mibps: float, upstream_mibps: float, get_mibps: float) -> report.Results:
    """Every scenario at the given rates, 1 GiB moved per repetition."""
    results = report.Results()
    size = plan.GIB
    for scenario in plan.SCENARIOS:
        for seconds in (1024 / ours_mibps, 1024 / ours_mibps * 1.1):
            results.add(scenario.key, "ours", Measurement(size, seconds, rss_growth=size))
        results.add(scenario.key, "upstream", Measurement(size, 1024 / upstream_mibps))
    for kind in ("GET", "PUT", "memory"):
        results.add("curl", kind, Measurement(size, 1024 / get_mibps))
    return results


# ----------------------------------------------------------------------------- plan


@pytest.mark.parametrize(
    ("size", "text"),
    [(plan.GIB, "1 GiB"), (256 * MIB, "256 MiB"), (50 * plan.KIB, "50 KiB"), (MIB + 1, "1.0 MiB")],
)
def test_sizes_are_shown_in_whole_units_only_where_exact(size: int, text: str) -> None:
    assert plan.format_size(size) == text


def test_counts_are_shown_in_thousands_only_when_round() -> None:
    assert plan.format_count(20_000) == "20k"
    assert plan.format_count(2_500) == "2,500"


def test_scenario_labels_follow_the_mode_and_the_implementation() -> None:
    small = next(s for s in plan.SCENARIOS if s.key == "load_small")
    chunks = next(s for s in plan.SCENARIOS if s.key == "read_chunks")

    assert small.label(plan.FULL, "ours") == "load 20k x 50 KiB"
    assert small.label(plan.FULL, "upstream") == "load 2k x 50 KiB"
    assert chunks.label(plan.QUICK) == "read(1 MiB) loop, 256 MiB"


def test_targets_describe_themselves() -> None:
    assert plan.Target("upstream", 4).describe() == ">=4x upstream"
    assert plan.Target("limit", 0.75).describe() == ">=0.75x curl"
    assert plan.Target("peak", 1.05).describe() == "peak <=1.05x size"


# ----------------------------------------------------------------------------- verdicts


def test_a_summary_is_the_median_and_range_of_the_repetitions() -> None:
    summary = report.Summary.of(_runs(100 * MIB, 1.0, 0.5, 2.0))

    assert summary is not None
    assert (summary.median, summary.low, summary.high) == (100, 50, 200)
    assert summary.text() == "100 (50-200)"
    assert report.Summary.of([]) is None


def test_targets_are_judged_on_medians_against_upstream_and_the_limit() -> None:
    rows = report.build_rows(_results(400, 100, 500), plan.FULL)
    load = next(row for row in rows if row.scenario.key == "load")

    # ours' median is between 400 and 364 MiB/s: 3.81x upstream, 0.76x curl GET.
    assert [v.met for v in load.verdicts] == [False, True]
    assert load.cells(curl_missing=False)[6] == ">=4x upstream: missed; >=0.5x curl GET: met"


def test_a_ratio_that_rounds_to_its_target_is_shown_with_three_decimals() -> None:
    verdict = report.Verdict(plan.Target("upstream", 4), 3.998, False)

    assert verdict.text("GET") == ">=4x upstream: missed (3.998x)"


def test_the_peak_target_compares_peak_growth_with_the_size() -> None:
    rows = report.build_rows(_results(400, 100, 500), plan.FULL)
    read_all = next(row for row in rows if row.scenario.key == "read_all")

    peak = read_all.verdicts[1]
    assert (peak.value, peak.met) == (1.0, True)
    assert read_all.cells(curl_missing=False)[7] == "1024 MiB (1.00x), n/a"


def test_missing_measurements_leave_the_target_unjudged() -> None:
    rows = report.build_rows(report.Results(), plan.QUICK)

    assert all(v.met is None for row in rows for v in row.verdicts)
    assert rows[0].cells(curl_missing=True)[1:4] == ("failed", "failed", "curl missing")


def test_notes_say_when_the_limit_itself_is_below_a_missed_target() -> None:
    results = _results(400, 100, 300)  # curl GET is only 3x upstream
    rows = report.build_rows(results, plan.FULL)

    found = report.notes(rows, plan.FULL, results)

    assert "'load 1 GiB': >=4x upstream is out of reach of a single stream here: " in "\n".join(
        found
    )
    assert found[-1].startswith("Targets: ")
    assert found[0] == (
        "full mode, 5 repetitions per scenario and implementation, each in a fresh process."
    )


def test_a_saturated_request_thread_is_named_as_what_set_the_rate() -> None:
    summary = report.Summary.of(
        _runs(MIB, 1.0, server_cpu=1.0, server_thread_cpu=0.95, client_cpu=0.5)
    )
    assert summary is not None

    assert "the emulator" in (report.bound_note(summary) or "")


def test_an_idle_machine_explains_nothing() -> None:
    summary = report.Summary.of(
        _runs(MIB, 1.0, server_cpu=0.1, server_thread_cpu=0.1, client_cpu=0.1)
    )
    assert summary is not None

    assert report.bound_note(summary) is None


def test_dcp_rows_compare_with_blobio_and_judge_the_partial_load() -> None:
    results = dcp.DcpResults(
        rates={"blob save": _runs(MIB, 1.0), "fs save": _runs(MIB, 0.5)},
        partial=[(100 * MIB, 110 * MIB)],
        single={"save": _runs(MIB, 1.25)},
    )

    save, load, partial = dcp.rows(results, plan.FULL)

    assert save[4:] == ("1.25x", ">=0.8x BlobIO: met")
    assert load[1] == "failed"
    assert load[5].endswith(": n/a")
    assert partial[1] == "fetched 1.100x their bytes (worst)"
    assert partial[5].endswith(": met")


def _dataset_runs(
    results: datasets.Results, key: str, rates: tuple[float, ...], per_epoch: int, built: int
) -> None:
    runs = results.of(key, "ours")
    for rate in rates:
        runs.rates.append(rate)
        runs.listings.append(per_epoch)
        runs.listings_built.append(built)


def test_the_iterable_dataset_is_judged_against_the_map_one_beside_its_listings() -> None:
    results = datasets.Results(datasets.FULL)
    _dataset_runs(results, "iterable-2", (1700.0, 1800.0, 1900.0), per_epoch=2, built=0)
    _dataset_runs(results, "map-2", (2000.0, 2000.0, 2100.0), per_epoch=0, built=2)

    row = datasets.iterable_vs_map(results)

    assert row[0].startswith("iterable, 2 workers vs map, 2 workers")
    assert row[1] == "1800 (1700-1900); 2 per epoch (+0 building)"
    assert row[2] == "map: 2000 (2000-2100); 0 per epoch (+2 building)"
    assert row[3] == "map listing in the epoch: failed; n/a map"
    assert row[4:6] == ("0.90x", ">=0.9x map: met (0.900x)")
    assert datasets.rows(results)[-1] == row
    assert datasets._listing_note(results) == []

    results.of("iterable-2", "ours").rates[:] = [1700.0]
    assert datasets.iterable_vs_map(results)[5] == ">=0.9x map: missed (0.850x)"


def test_a_missed_iterable_ratio_is_set_beside_the_map_dataset_listing_in_its_epoch() -> None:
    results = datasets.Results(datasets.FULL)
    _dataset_runs(results, "iterable-2", (1700.0,), per_epoch=2, built=0)
    _dataset_runs(results, "map-2", (2000.0,), per_epoch=0, built=2)
    _dataset_runs(results, "map-2-listed", (1720.0,), per_epoch=2, built=0)

    limit = datasets.iterable_vs_map(results)[3]
    assert limit == "map listing in the epoch: 1720 (1720-1720); 0.86x map"
    (note,) = datasets._listing_note(results)
    assert "ran at 0.860x" in note
    assert note.endswith("for any dataset that lists each epoch.")
    assert note in datasets.notes(results)

    # The same work done faster by the map-style dataset: the listing is not the reason.
    results.of("map-2-listed", "ours").rates[:] = [1950.0]
    (note,) = datasets._listing_note(results)
    assert note.endswith("The listing alone does not explain the gap.")


def test_listing_requests_are_not_applicable_where_they_were_not_counted() -> None:
    results = datasets.Results(datasets.QUICK)
    results.of("iterable-2", "ours").rates.append(1000.0)

    row = datasets.iterable_vs_map(results)

    assert row[1] == "1000 (1000-1000); n/a"
    assert row[2] == "map: failed; n/a"
    assert row[5] == ">=0.9x map: n/a"


# ----------------------------------------------------------------------------- tables


def test_rst_tables_are_list_tables_with_a_header_row() -> None:
    table = report.table_rst(("a", "b"), [("1", "2")])

    assert table.splitlines() == [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - a",
        "     - b",
        "   * - 1",
        "     - 2",
    ]


def test_text_tables_are_padded_pipe_tables() -> None:
    table = report.table_text(("name", "x"), [("a", "long")])

    assert table.splitlines() == ["| name | x    |", "|------|------|", "| a    | long |"]


def test_free_text_is_made_inert_in_rst() -> None:
    assert docs.escape("a *b* `c` d_e |f|\n  g") == "a \\*b\\* \\`c\\` d\\_e \\|f\\| g"


def test_the_results_file_holds_the_run_and_its_tables_but_no_prose() -> None:
    text = docs.render(
        date="2026-01-02 03:04 UTC",
        summary="It took 1.0 minutes.",
        machine=[("CPU", "test"), ("RAM", "1 GiB")],
        table=report.table_rst(("a",), [("1",)]),
        notes=["first *note*"],
        sections=[("Datasets", report.table_rst(("b",), [("2",)]), ["second"])],
    )

    assert "Measured on 2026-01-02 03:04 UTC. It took 1.0 minutes.\n\n* CPU: test\n" in text
    assert "* first \\*note\\*\n" in text
    assert "\nDatasets\n--------\n\n.. list-table::" in text
    assert "How it is measured" not in text


def test_the_performance_page_includes_the_results_the_bench_writes() -> None:
    page = (REPO / "docs" / "performance.rst").read_text()
    results = REPO / "docs" / "_generated" / "performance-results.rst"
    header = docs.render(date="", summary="", machine=[], table="", notes=[]).split("Measured")[0]

    assert ".. include:: _generated/performance-results.rst" in page
    assert results.read_text().startswith(header + "Measured on ")
    assert "list-table::" not in page


# ----------------------------------------------------------------------------- workers


def test_a_worker_prints_its_result_as_json_on_the_last_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = {"scenario": "x", "sys_path": ["/elsewhere"]}

    code = worker_support.worker_main(
        ["worker", json.dumps(spec)], lambda s: {"got": s["scenario"]}
    )

    assert code == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"got": "x"}
    assert sys.path[0] == "/elsewhere"
