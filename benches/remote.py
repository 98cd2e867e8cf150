"""Local files against the same files in an S3 server on loopback.

    python benches/remote.py DATA_DIR [DIFFGATE] [REPEATS]

DATA_DIR holds v1.parquet and v2.parquet keyed on `id` (the shared bench's
gen.py writes them). Starts tests/py/s3_server.py (moto behind its proxy),
uploads both files, then times `diffgate diff` on the local files and on the
s3:// URLs (best of REPEATS wall times, straight to moto), checks the two
reports agree, and counts through the proxy the requests and bytes one
remote run takes. Prints one table. Needs moto[server] and boto3.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    data = pathlib.Path(sys.argv[1]).resolve()
    binary = sys.argv[2] if len(sys.argv) > 2 else str(ROOT / "target/release/diffgate")
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/py/s3_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )

    def cmd(line):
        server.stdin.write(line + "\n")
        server.stdin.flush()
        out = server.stdout.readline().strip()
        if not out.startswith("ok"):
            sys.exit(f"{line}: {out}")
        return out[2:].strip()

    moto, proxy = server.stdout.readline().split()[1:]
    cmd("bucket bench")
    for f in ("v1.parquet", "v2.parquet"):
        cmd(f"put bench {f} {data / f}")

    def env(port):
        return dict(
            os.environ,
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ALLOW_HTTP="true",
            AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )

    def run(v1, v2, port):
        args = [binary, "diff", v1, v2, "--key", "id", "--format", "json"]
        t = time.perf_counter()
        out = subprocess.run(args, env=env(port), capture_output=True, text=True)
        wall = time.perf_counter() - t
        if out.returncode not in (0, 1):
            sys.exit(out.stderr)
        report = json.loads(out.stdout)
        return wall, report["rows"]

    local = (str(data / "v1.parquet"), str(data / "v2.parquet"))
    remote = ("s3://bench/v1.parquet", "s3://bench/v2.parquet")
    times = {"local": [], "s3": []}
    rows = {}
    for _ in range(repeats):
        for name, (v1, v2) in (("local", local), ("s3", remote)):
            wall, r = run(v1, v2, moto)
            times[name].append(wall)
            rows[name] = r
    if rows["local"] != rows["s3"]:
        sys.exit(f"counts differ: {rows}")
    cmd("faults none")
    run(*remote, proxy)
    requests, gets, sent = cmd("stats").split()
    size = sum((data / f).stat().st_size for f in ("v1.parquet", "v2.parquet"))
    server.stdin.close()
    server.terminate()
    best = {k: min(v) for k, v in times.items()}
    print(f"| input | wall (best of {repeats}) | requests | bytes fetched |")
    print("|---|---:|---:|---:|")
    print(f"| local files | {best['local']:.2f} s | - | - |")
    print(
        f"| s3:// (moto on loopback) | {best['s3']:.2f} s | {requests} ({gets} GET) | "
        f"{int(sent) / 2**20:.1f} MiB = {int(sent) / size:.2f} x the two files |"
    )
    print(f"counts equal: {rows['s3']['changed']} changed, {rows['s3']['only_v1']} only in v1, "
          f"{rows['s3']['only_v2']} only in v2 of {rows['s3']['v1']} rows")


if __name__ == "__main__":
    main()
