"""How fast the scanner reads a CT archive, against the baselines measured in the same run.

    .venv/bin/python bench/scan.py [--files 20000] [--dir PATH] [--keep] [--workers N]

Writes (or, with ``--dir`` holding a matching manifest, reuses) an archive of 512×512 CT slices with
``medbroker.ingest.testdata.ct_archive_write``, reads every file once so the page cache holds them, then
measures, each as files per second:

1. raw read: open and read the first 64 KiB of every file, one after the other: the most a header reader
   can do on this machine;
2. naive: ``pydicom.dcmread`` of each whole file and its pixel data, one after the other: what a script
   written without care does;
3. first scan: ``scan_and_summarise(root, workers=N)`` with no previous records (the walk, the parallel
   header reads and ``summary_build``), what ``medbroker scan`` runs;
4. re-scan: ``scan_and_summarise(root, previous=…, previous_summary=…)`` of the unchanged archive: the walk
   finds every file as it was, so no header is read and the previous summary is kept;
5. for reference, the same re-scan with the summary rebuilt from every record (``summary_build``), what a
   re-scan costs after the dataset's policy or label patterns changed.

1, 3 and 4 are the best of three runs. It prints a table and the ratios against their targets (scanner
/ naive ≥ 5×, scanner / raw ≥ 20 %, re-scan / first scan ≥ 10×) with PASS or FAIL, checks the scanner's
summary against what was generated, and writes ``bench/RESULTS.md``. The exit status is 1 when a check or
a target fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import pydicom  # noqa: E402

from medbroker.ingest.scanner.engine import scan_and_summarise, scan_tree, workers_resolve  # noqa: E402
from medbroker.ingest.scanner.summary import summary_build, summary_fingerprint  # noqa: E402
from medbroker.ingest.testdata import ct_archive_write  # noqa: E402

RAW_BYTES = 64 * 1024
NAIVE_SAMPLE = 5000
SLICES_PER_SERIES = 200
SEED = 0
RUNS = 3
RESULTS = REPOSITORY / "bench" / "RESULTS.md"
HISTORY_MARK = "<!-- history: one row per run, newest last -->"
# Bumped when ct_archive_write changes what it writes, so an archive kept with --dir is not reused.
ARCHIVE_VERSION = 1

TARGETS = {
    "scanner / naive": 5.0,
    "scanner / raw read": 0.20,
    "re-scan / first scan": 10.0,
}


def manifest_wanted(files: int) -> dict[str, Any]:
    return {"version": ARCHIVE_VERSION, "files": files, "slices_per_series": SLICES_PER_SERIES, "seed": SEED}


def archive_prepare(folder: Path, files: int, workers: int) -> tuple[Path, dict[str, Any], bool]:
    """The archive under ``folder`` (written unless a matching one is there), its manifest, and whether reused."""
    root = folder / "archive"
    manifest_path = folder / "manifest.json"
    wanted = manifest_wanted(files)
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if {key: manifest.get(key) for key in wanted} == wanted and root.is_dir():
            return root, manifest, True
        shutil.rmtree(root, ignore_errors=True)
        manifest_path.unlink()
    elif root.exists():
        raise SystemExit(
            f"{root} exists but was not written by this benchmark (no manifest.json): not touching it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] > 2:
            last[0] = now
            print(f"\r  writing {done:,}/{total:,} files", end="", file=sys.stderr, flush=True)

    written = ct_archive_write(
        root, files=files, slices_per_series=SLICES_PER_SERIES, seed=SEED, workers=workers, progress=progress
    )
    elapsed = time.perf_counter() - started
    print(
        f"\r  wrote {files:,} files ({written.bytes_total / 2**30:.1f} GiB) in {elapsed:.1f} s",
        file=sys.stderr,
    )
    manifest = {**wanted, **written.as_json()}
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root, manifest, False


def files_list(root: Path) -> list[str]:
    return sorted(os.path.join(folder, name) for folder, _dirs, names in os.walk(root) for name in names)


def cache_warm(paths: list[str]) -> None:
    for path in paths:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass


def best_of(runs: int, function: Callable[[], Any]) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def raw_read(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += len(handle.read(RAW_BYTES))
    return total


def naive_read(paths: list[str]) -> int:
    total = 0
    for path in paths:
        ds = pydicom.dcmread(path)
        total += len(ds.PixelData)
    return total


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
    }


def summary_check(summary: dict[str, Any], manifest: dict[str, Any], errors: int) -> list[str]:
    """Differences between the scanner's summary and what was generated (empty when all agree)."""
    problems = []
    for key, expected in (
        ("files", manifest["files"]),
        ("instances", manifest["files"]),
        ("studies", manifest["studies"]),
        ("series", manifest["series"]),
        ("patients", manifest["patients"]),
    ):
        if summary[key] != expected:
            problems.append(f"{key}: summary {summary[key]}, generated {expected}")
    if summary["modalities"] != {"CT": manifest["files"]}:
        problems.append(
            f"modalities: summary {summary['modalities']}, generated {{'CT': {manifest['files']}}}"
        )
    if errors:
        problems.append(f"{errors} scan errors")
    return problems


def results_write(text_rows: list[str], history_row: str) -> None:
    history: list[str] = []
    others: list[str] = []
    if RESULTS.exists():
        lines = RESULTS.read_text(encoding="utf-8").splitlines()
        # Other benchmarks keep their sections after this one, between their own begin/end markers.
        starts = [index for index, line in enumerate(lines) if line.startswith("<!-- ") and ": begin" in line]
        if starts:
            others = ["", *lines[starts[0] :]]
            lines = lines[: starts[0]]
        if HISTORY_MARK in lines:
            history = [
                line
                for line in lines[lines.index(HISTORY_MARK) + 1 :]
                if line.startswith("| ") and not line.startswith("| date |")
            ]
    history.append(history_row)
    header = [
        "| date | files | workers | CPUs | raw read | naive | first scan | re-scan | scanner/naive "
        "| scanner/raw | re-scan/first |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    RESULTS.write_text(
        "\n".join([*text_rows, "", "## History", "", HISTORY_MARK, *header, *history, *others, ""]),
        encoding="utf-8",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000, help="CT slices in the archive (default 20000)")
    parser.add_argument(
        "--dir", type=Path, help="where to keep the archive; reused when its manifest matches"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary archive (without --dir)")
    parser.add_argument("--workers", type=int, default=0, help="scanner worker processes (default: all CPUs)")
    options = parser.parse_args(argv)
    workers = workers_resolve(options.workers)
    command = " ".join([".venv/bin/python", "bench/scan.py", *(argv if argv is not None else sys.argv[1:])])

    temporary = None
    if options.dir is None:
        temporary = Path(tempfile.mkdtemp(prefix="medbroker-bench-"))
        folder = temporary
    else:
        folder = options.dir.resolve()
    try:
        print(f"archive: {folder / 'archive'}", file=sys.stderr)
        root, manifest, reused = archive_prepare(folder, options.files, max(2, workers))
        paths = files_list(root)
        if len(paths) != options.files:
            raise SystemExit(f"{root} holds {len(paths)} files, expected {options.files}")
        print("  reading every file once (page cache)…", file=sys.stderr)
        cache_warm(paths)

        print("  raw read…", file=sys.stderr)
        raw_seconds, _ = best_of(RUNS, lambda: raw_read(paths))
        sample = paths if len(paths) <= NAIVE_SAMPLE else paths[:: len(paths) // NAIVE_SAMPLE][:NAIVE_SAMPLE]
        print(f"  naive pydicom on {len(sample):,} files…", file=sys.stderr)
        naive_seconds, _ = best_of(1, lambda: naive_read(sample))

        def first_scan() -> tuple[Any, dict[str, Any]]:
            scan = scan_and_summarise(root, workers=workers)
            return scan.outcome, scan.summary

        print(f"  first scan, {workers} workers…", file=sys.stderr)
        first_seconds, (outcome, summary) = best_of(RUNS, first_scan)

        def rescan() -> tuple[Any, dict[str, Any]]:
            scan = scan_and_summarise(
                root,
                workers=workers,
                previous=outcome.records,
                previous_summary=summary,
                previous_fingerprint=summary_fingerprint(None),
            )
            return scan.outcome, scan.summary

        print("  re-scan…", file=sys.stderr)
        rescan_seconds, (again, again_summary) = best_of(RUNS, rescan)

        def rescan_rebuilt() -> dict[str, Any]:
            walked = scan_tree(root, workers=workers, previous=outcome.records)
            return summary_build(walked.records.values(), errors=walked.errors, files=walked.files)

        print("  re-scan with the summary rebuilt…", file=sys.stderr)
        rebuilt_seconds, rebuilt_summary = best_of(RUNS, rescan_rebuilt)
    finally:
        if temporary is not None and not options.keep:
            shutil.rmtree(temporary, ignore_errors=True)
        elif temporary is not None:
            print(f"kept {temporary}", file=sys.stderr)

    files = len(paths)
    rates = {
        "raw read (64 KiB each)": files / raw_seconds,
        "naive pydicom (whole file)": len(sample) / naive_seconds,
        f"first scan ({workers} workers)": files / first_seconds,
        "re-scan (unchanged)": files / rescan_seconds,
        "re-scan, summary rebuilt (reference)": files / rebuilt_seconds,
    }
    raw_rate, naive_rate, first_rate, rescan_rate, _rebuilt_rate = rates.values()
    ratios = {
        "scanner / naive": first_rate / naive_rate,
        "scanner / raw read": first_rate / raw_rate,
        "re-scan / first scan": rescan_rate / first_rate,
    }
    problems = summary_check(summary, manifest, len(outcome.errors))
    if again.unchanged != files or again.new or again.changed or again.removed:
        problems.append(f"re-scan saw changes: {again.unchanged} unchanged of {files}")
    if again_summary != summary:
        problems.append("re-scan summary differs from the first scan's")
    if rebuilt_summary != summary:
        problems.append("rebuilt re-scan summary differs from the first scan's")

    about = machine()
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    naive_note = (
        f"naive measured on {len(sample):,} of {files:,} files (every {len(paths) // NAIVE_SAMPLE}th)"
        if len(sample) < files
        else f"naive measured on all {files:,} files"
    )
    lines = [
        f"{files:,} CT slices of 512×512 ({manifest['series']} series, {manifest['studies']} studies), "
        f"{'reused' if reused else 'generated'}; {naive_note}; best of {RUNS} for raw read and the scans.",
        "",
        "| measure | seconds | files/s |",
        "|---|---:|---:|",
    ]
    seconds = [raw_seconds, naive_seconds, first_seconds, rescan_seconds, rebuilt_seconds]
    for (name, rate), elapsed in zip(rates.items(), seconds, strict=True):
        lines.append(f"| {name} | {elapsed:.3f} | {rate:,.0f} |")
    lines += ["", "| ratio | value | target | |", "|---|---:|---:|---|"]
    failed = False
    for name, value in ratios.items():
        target = TARGETS[name]
        ok = value >= target
        failed |= not ok
        shown = f"{value:.0%}" if name == "scanner / raw read" else f"{value:.1f}×"
        wanted = f"≥ {target:.0%}" if name == "scanner / raw read" else f"≥ {target:.0f}×"
        lines.append(f"| {name} | {shown} | {wanted} | {'PASS' if ok else 'FAIL'} |")
    check = "summary check: OK (instances, studies, series, patients as generated)"
    if problems:
        check = "summary check: FAIL: " + "; ".join(problems)
    lines += ["", check]
    print("\n".join(lines))

    results = [
        "# Scanner benchmark",
        "",
        "Written by `bench/scan.py` (see its docstring for what is measured); the latest run first.",
        "",
        f"- date: {today}",
        f"- command: `{command}`",
        f"- machine: {about['nproc']} CPUs, {about['cpu']}; Python {about['python']}; pydicom {about['pydicom']}",
        "",
        *lines,
    ]
    history = (
        f"| {today} | {files} | {workers} | {about['nproc']} | {raw_rate:,.0f} | {naive_rate:,.0f} "
        f"| {first_rate:,.0f} | {rescan_rate:,.0f} | {ratios['scanner / naive']:.1f}× "
        f"| {ratios['scanner / raw read']:.0%} | {ratios['re-scan / first scan']:.1f}× |"
    )
    results_write(results, history)
    print(f"\nwritten to {RESULTS.relative_to(REPOSITORY)}", file=sys.stderr)
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
