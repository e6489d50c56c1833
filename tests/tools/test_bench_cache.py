"""The cache benchmark's verdicts and notes, from figures made by hand."""

from __future__ import annotations

from bench import cache, datasets


def _results(plain: float, cold: float, warm: float, upstream: float) -> cache.CacheResults:
    results = cache.CacheResults(datasets.QUICK)
    for kind, workers in cache.SCENARIOS:
        key = f"{kind}-{workers}"
        for epoch in (1, 2):
            results.add(key, "plain", epoch, plain)
            results.add(key, "upstream", epoch, upstream)
        results.add(key, "cached", 1, cold)
        results.add(key, "cached", 2, warm)
    return results


def test_rows_judge_epoch_one_against_no_cache_and_the_warm_epoch_against_epoch_one() -> None:
    rows = cache.rows(_results(plain=1000, cold=950, warm=6000, upstream=300))
    assert [row[0] for row in rows] == [
        "map, 0 workers",
        "map, 2 workers",
        "iterable, 0 workers",
        "iterable, 2 workers",
    ]
    map_0, map_2 = rows[0], rows[1]
    assert map_0[1:4] == ("1000 (1000-1000)", "950 (950-950)", "6000 (6000-6000)")
    assert map_0[4] == "300 (300-300) [1,000 samples]"
    assert map_0[5] == ">=0.9x: met (0.950x)"
    assert map_0[6] == ">=5x: met (6.316x)"
    assert map_2[6] == ">=5x: met (6.316x); >=3,000/s: met"


def test_a_slow_cold_epoch_or_warm_epoch_is_missed() -> None:
    rows = cache.rows(_results(plain=1000, cold=850, warm=2900, upstream=300))
    assert rows[1][5] == ">=0.9x: missed (0.850x)"
    assert rows[1][6] == ">=5x: missed (3.412x); >=3,000/s: missed"
    assert "Cache targets: 0 met, 10 missed." in cache.notes(
        cache.CacheResults(datasets.QUICK, rates=_results(1000, 850, 2900, 300).rates)
    )


def test_a_failed_run_leaves_its_targets_unjudged_and_is_noted() -> None:
    results = cache.CacheResults(datasets.QUICK)
    results.failures.append("cache map, 0 workers, cached: boom")
    row = cache.rows(results)[0]
    assert row[1:4] == ("failed", "failed", "failed")
    assert row[5] == ">=0.9x: n/a"
    assert "FAILED: cache map, 0 workers, cached: boom" in cache.notes(results)


def test_the_notes_say_where_the_caches_were() -> None:
    results = cache.CacheResults(datasets.QUICK, root="/dev/shm")
    assert any("each cache starting empty, in /dev/shm." in note for note in cache.notes(results))


def test_reps_on_the_command_line_reach_the_datasets_and_cache_parts() -> None:
    from bench.__main__ import _dataset_sizes, _parse

    args = _parse(["--parts", "cache", "--reps", "6"])
    sizes = _dataset_sizes(quick=False, reps=args.reps)
    assert (sizes.reps, sizes.blobs) == (6, datasets.FULL.blobs)
    assert _dataset_sizes(quick=True, reps=None) == datasets.QUICK


def test_the_notes_give_the_file_work_beside_what_the_target_leaves_per_blob() -> None:
    from bench import filework

    results = _results(plain=1000, cold=850, warm=6000, upstream=300)
    for cpu, rate in ((300, 4000), (500, 2000), (400, 3000)):
        results.file_work.add("/disk", filework.FileWork(rate, cpu))
    results.file_work.add("/dev/shm", filework.FileWork(30000, 25))
    notes = cache.notes(results)
    assert (
        "A copy's file work alone (create, write 16 KiB, rename, close; 8 threads; medians "
        "of the repetitions): /disk: 400 µs of CPU per file (300-500), 3,000 files/s "
        "(2,000-4,000); /dev/shm: 25 µs of CPU per file (25-25), 30,000 files/s "
        "(30,000-30,000)." in notes
    )
    # 1/0.9 of a millisecond, less the millisecond itself.
    assert (
        "At map, 0 workers' epoch 1 without a cache (1000 samples/s), 0.9x leaves 111 µs "
        "of wall-clock time per blob for everything the cache adds." in notes
    )


def test_the_file_work_loop_writes_every_file_and_leaves_none(tmp_path) -> None:
    from bench import filework

    work = filework.measure(tmp_path, 16 * 1024, files=64)
    assert work.files_per_second > 0
    assert work.cpu_us_per_file > 0
    assert list(tmp_path.iterdir()) == []


def test_the_file_work_loop_uses_as_many_threads_as_a_dataset_reads_with() -> None:
    from bench import filework

    from azstoragetorch.datasets._read_ahead import MAX_THREADS

    assert filework.THREADS == MAX_THREADS
