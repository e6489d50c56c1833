"""Benchmark: how long a training loop is blocked per checkpoint, synchronous vs background.

``python -m tools.bench.background [--tensors 16] [--tensor-mib 64] [--steps 100]``
(through ``python3 tools/dev.py hatch run python -m tools.bench.background``).

The loop does ``--step-ms`` of CPU work (torch matrix products) per step and saves
its state dict every ``--every`` steps, either synchronously
(``torch.save(state, BlobIO(url, "wb"))``, the baseline) or with
``BackgroundSaver.save``. Each arm runs in its own process, arms interleaved, against
one Azurite. Reported per arm: the median time the loop is blocked per save, the
peak resident memory above the state dict itself, and the bytes committed. The
target is a background blocked time of at most 0.25x the synchronous one, with the
same bytes committed.

It also times the background save's snapshot alone, in this process, without
storage: copying the state dict into new memory, as the first save does, against
copying it into the last save's copy, as the saver does from the second save on.

Beside the arms it measures what this machine and Azurite allow, in the same run:
``curl`` uploading the state dict's size in one Put Blob (when curl is installed).
Saves come every ``--every`` x ``--step-ms`` of compute; when the upload takes
longer, each background save must wait for the one before it, at least the upload
time less that compute, whatever the saver does. The bench prints that bound as a
ratio of the synchronous save, the best any background saver could reach here.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
ARMS = ("sync", "background")
TARGET = 0.25


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.background")
    parser.add_argument("--tensors", type=int, default=16)
    parser.add_argument("--tensor-mib", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--reps", type=int, default=2, help="runs of each arm, interleaved")
    parser.add_argument("--worker", choices=ARMS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _current_rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _worker(args: argparse.Namespace) -> dict[str, object]:
    import torch
    from azure.core.credentials import AzureNamedKeyCredential

    from azstoragetorch.io import BackgroundSaver, BlobIO

    torch.set_num_threads(1)
    credential = AzureNamedKeyCredential(args.account, args.key)
    numel = args.tensor_mib * MIB // 4
    state = {f"layer{i}.weight": torch.full((numel,), float(i)) for i in range(args.tensors)}
    a = torch.randn(128, 128)
    baseline_rss = _current_rss_bytes()
    blocked: list[float] = []
    saver = BackgroundSaver(credential=credential) if args.worker == "background" else None
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        end = time.perf_counter() + args.step_ms / 1000
        while time.perf_counter() < end:
            a = (a @ a).clamp_(-1, 1)
        for tensor in state.values():
            tensor[0] += 1  # the model changes between saves
        if step % args.every == 0:
            before = time.perf_counter()
            if saver is None:
                with BlobIO(args.url, "wb", credential=credential) as f:
                    torch.save(state, f)
            else:
                saver.save(state, args.url)
            blocked.append(time.perf_counter() - before)
    final_wait = 0.0
    if saver is not None:
        before = time.perf_counter()
        saver.close()
        final_wait = time.perf_counter() - before
    loop_s = time.perf_counter() - started
    with BlobIO(args.url, "rb", credential=credential) as f:
        committed = f.seek(0, 2)
    return {
        "blocked": blocked,
        "final_wait": final_wait,
        "loop_s": loop_s,
        "extra_peak_mib": (_rss_peak_bytes() - baseline_rss) / MIB,
        "committed": committed,
    }


def _run_arm(arm: str, args: argparse.Namespace, azurite: object, container_url: str) -> dict:  # type: ignore[type-arg]
    command = [
        sys.executable,
        "-m",
        "tools.bench.background",
        f"--worker={arm}",
        f"--tensors={args.tensors}",
        f"--tensor-mib={args.tensor_mib}",
        f"--steps={args.steps}",
        f"--every={args.every}",
        f"--step-ms={args.step_ms}",
        f"--url={container_url}/bench-{arm}.pt",
        f"--account={azurite.account_name}",  # type: ignore[attr-defined]
        f"--key={azurite.account_key}",  # type: ignore[attr-defined]
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the {arm} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _snapshot_seconds(args: argparse.Namespace, rounds: int = 3) -> tuple[float, float]:
    """Median seconds of the snapshot of the bench's state dict: into new memory, and
    into the previous snapshot's tensors (interleaved, ``rounds`` each)."""
    import torch

    from azstoragetorch.io._background import _Buffers, _snapshot

    numel = args.tensor_mib * MIB // 4
    state = {f"layer{i}.weight": torch.full((numel,), float(i)) for i in range(args.tensors)}
    fresh: list[float] = []
    reused: list[float] = []
    kept = _Buffers()
    _snapshot(state, kept)  # the copy a first save leaves behind
    for _ in range(rounds):
        for times, buffers in ((fresh, _Buffers()), (reused, kept)):
            before = time.perf_counter()
            copy = _snapshot(state, buffers)
            times.append(time.perf_counter() - before)
            del copy
    return statistics.median(fresh), statistics.median(reused)


def _curl_put_seconds(curl: str, url: str, size: int, workdir: Path) -> float:
    """Seconds curl takes to upload ``size`` random bytes to ``url`` in one Put Blob."""
    from .runner import curl_put

    source = workdir / "background-floor.bin"
    with open(source, "wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
    try:
        return curl_put(curl, url, source, timeout=900.0).seconds
    finally:
        source.unlink()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker:
        print(json.dumps(_worker(args)))
        return 0
    sys.path.insert(0, str(REPO / "tools"))
    import azurite as rig
    from azure.storage.blob import (
        BlobServiceClient,
        ContainerSasPermissions,
        generate_container_sas,
    )

    total_mib = args.tensors * args.tensor_mib
    print(
        f"State dict {args.tensors} x {args.tensor_mib} MiB = {total_mib} MiB; "
        f"{args.steps} steps of {args.step_ms:.0f} ms CPU, a save every {args.every} steps; "
        f"{args.reps} runs per arm, interleaved.",
        flush=True,
    )
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}  # type: ignore[type-arg]
    curl = shutil.which("curl")
    floors: list[float] = []
    workdir = REPO / ".benchmarks"
    workdir.mkdir(exist_ok=True)
    with rig.start() as azurite:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        container = service.create_container("bench-background")
        container_url = f"{azurite.blob_endpoint}/bench-background"
        sas = generate_container_sas(
            azurite.account_name,
            "bench-background",
            account_key=azurite.account_key,
            permission=ContainerSasPermissions(write=True, create=True),
            expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=2),
        )
        for _ in range(args.reps):
            for arm in ARMS:
                results[arm].append(_run_arm(arm, args, azurite, container_url))
            if curl is not None:
                floor_url = f"{container_url}/bench-curl.bin?{sas}"
                floors.append(_curl_put_seconds(curl, floor_url, total_mib * MIB, workdir))
        del container
    medians = {}
    print(
        f"\n{'arm':<11} {'blocked/save (median)':>22} {'first save':>11} {'final wait':>11} "
        f"{'loop':>8} {'peak extra RSS':>15} {'committed':>12}"
    )
    for arm in ARMS:
        runs = results[arm]
        blocked = [b for run in runs for b in run["blocked"]]
        medians[arm] = statistics.median(blocked)
        print(
            f"{arm:<11} {medians[arm] * 1000:>19.0f} ms "
            f"{statistics.median(r['blocked'][0] for r in runs) * 1000:>8.0f} ms "
            f"{statistics.median(r['final_wait'] for r in runs) * 1000:>8.0f} ms "
            f"{statistics.median(r['loop_s'] for r in runs):>6.1f} s "
            f"{max(r['extra_peak_mib'] for r in runs):>11.0f} MiB "
            f"{runs[-1]['committed'] / MIB:>8.0f} MiB"
        )
    ratio = medians["background"] / medians["sync"]
    same = results["sync"][-1]["committed"] == results["background"][-1]["committed"]
    print(
        f"\nBackground blocked time = {ratio:.3f}x the synchronous save "
        f"(target <= {TARGET}x): {'met' if ratio <= TARGET else 'NOT met'}; "
        f"same bytes committed: {same}."
    )
    print(
        "A background save waits for the previous one when uploads take longer than "
        "the steps between saves ('first save' is the snapshot alone)."
    )
    fresh, reused = _snapshot_seconds(args)
    print(
        f"Snapshot alone, {total_mib} MiB: {fresh:.2f} s into new memory (a first save), "
        f"{reused:.2f} s into the last save's copy ({reused / fresh:.2f}x)."
    )
    if floors:
        curl_s = statistics.median(floors)
        upload = min(curl_s, medians["sync"])  # the fastest the bytes went up here
        compute = args.every * args.step_ms / 1000
        bound = max(0.0, upload - compute) / medians["sync"]
        print(
            f"This machine's upload floor: curl PUT of {total_mib} MiB to Azurite in "
            f"{curl_s:.2f} s (median of {len(floors)}; {total_mib / curl_s:.0f} MiB/s); the "
            f"faster of it and the synchronous save, {upload:.2f} s, against {compute:.2f} s "
            f"of compute between saves, means each background save waits about "
            f"{max(0.0, upload - compute):.2f} s for the one before it: about {bound:.2f}x "
            "the synchronous save is the best any background saver can reach here."
        )
    else:
        print("curl is not installed: the upload floor was not measured.")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
