"""Size and start-up time of diffgate binaries, side by side.

    python benches/binary.py BINARY [BINARY ...]

For each binary (e.g. target/release/diffgate and target/dist/diffgate, the
release workflow's profile): its size on disk, the median wall time of 21
runs of `--version` (start-up: loading and relocating the binary) and of 7
runs of `run scenarios/rounding_change` (start-up plus a small real run:
the session, two transforms, a comparison and a report). Checks each run's
verdict. Prints one Markdown table.
"""

import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def median_ms(cmd, runs, check=None):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append((time.perf_counter() - t) * 1000)
        if check:
            check(out)
    return statistics.median(times)


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for b in sys.argv[1:]:
            path = pathlib.Path(b).resolve()

            def verdict(out):
                if json.loads(out.stdout)["verdict"] != "review":
                    raise SystemExit(f"{path}: unexpected verdict")

            version = median_ms([str(path), "--version"], 21)
            run = median_ms(
                [str(path), "run", "scenarios/rounding_change", "--format", "json",
                 "--dead-letter", f"{tmp}/dead.ndjson"],
                7,
                verdict,
            )
            rows.append((b, path.stat().st_size / 2**20, version, run))
    print("| binary | size | `--version` | `run scenarios/rounding_change` |")
    print("|---|---:|---:|---:|")
    for b, size, version, run in rows:
        print(f"| {b} | {size:.1f} MiB | {version:.1f} ms | {run:.0f} ms |")


if __name__ == "__main__":
    main()
