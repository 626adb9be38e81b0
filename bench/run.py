"""`make bench`: short-cut against reference apps, measured in the same run, interleaved.

The shape that counts is the one we deploy to: the task's `cpu: 512` is half a
vCPU, so every judged start-up and throughput figure is taken with the measured
process pinned to ONE CPU (`taskset -c`), short-cut and the references alike,
their runs interleaved, the median of at least 7 taken. The benchmark itself
(the /health poller, wrk, moto_server) runs pinned to the other CPU(s), so it
does not eat the measured process's time. Two-core figures are an extra section,
information only except one target. A last section runs the image with
`podman run --cpus 0.5` (a real CFS quota) against the bare app and the peer in
the same image; it is skipped, saying why, when podman is missing.

References, all FastAPI on uvicorn with the same flags:
- bare FastAPI (`bench.reference_app`): one /health route, nothing else;
- the peer (`bench.peer_app`): pydantic-settings' own AWSSecretsManagerSettingsSource
  loading the same secret from the same moto_server;
- a raw ASGI app (`bench.raw_app`): the throughput ceiling, information only.

Every row is a ratio against a reference measured alongside it, never an absolute
time: this machine is shared and noisy, so each row also shows the spread (min-max
of the runs). CPU to ready is the process's utime+stime (children included, reaped
or alive) read from /proc when /health first answers 200. AWS calls are counted on
the emulator's side, by a counting proxy in front of moto_server. `--smoke` runs
each measurement once, briefly, and judges nothing (the tests use it so the
benchmark cannot rot). Exit status 1 when a judged target is missed.

The modules, one job each: bench.apps (what is measured and how each app starts),
bench.runner (one run's state; start, wait, stop), bench.measure (CPU, memory, readiness,
wrk), bench.startup_rows, bench.serving_rows, bench.aws_rows, bench.podman_rows,
bench.convergence, bench.mask_cost and bench.failover_rows (the rows of each section), bench.rows (a row and its
ratio) and bench.report (the table and the JSON file). This file parses the arguments,
starts the emulator and runs the sections selected.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import aws_rows, failover_rows, podman_rows, serving_rows, startup_rows  # noqa: E402
from bench.apps import IMAGE, Pinning  # noqa: E402
from bench.report import report  # noqa: E402
from bench.rows import Row  # noqa: E402
from bench.runner import Runner  # noqa: E402
from tests.support.canary import canary_secret_string  # noqa: E402
from tests.support.processes import start_moto  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="interleaved runs per measurement (at least 7)")
    # A start takes about a second: more of them cost little, and this machine's speed swings
    # by up to 1.5x for seconds at a time, which 7 samples per app do not average out.
    parser.add_argument("--startup-runs", type=int, default=15, help="interleaved runs per start-up measurement")
    parser.add_argument("--smoke", action="store_true", help="one short run of each, no targets judged")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--cpu", type=int, default=None, help="the CPU the measured process runs on (default: last)")
    parser.add_argument("--no-podman", action="store_true", help="skip the podman --cpus 0.5 section")
    parser.add_argument("--no-build", action="store_true", help=f"use the existing {IMAGE} image")
    parser.add_argument(
        "--only", choices=("startup", "serving", "aws", "podman", "convergence", "mask", "failover"), action="append"
    )
    args = parser.parse_args()
    runs = 1 if args.smoke else max(7, args.runs)
    only = set(args.only or ("startup", "serving", "aws", "podman", "convergence", "mask", "failover"))
    pinning = Pinning.detect(args.cpu)
    # The poller, wrk and moto_server (started below, inheriting this) stay off the measured CPU.
    os.sched_setaffinity(0, pinning.driver)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"work-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    startup_runs = 1 if args.smoke else max(runs, args.startup_runs)
    bench = Runner(work, runs=runs, smoke=args.smoke, pinning=pinning, startup_runs=startup_runs)
    moto, moto_url = start_moto(work)
    skipped: str | None = "not selected (--only)" if "podman" not in only else None
    try:
        sm = boto3.client(
            "secretsmanager", region_name="us-east-1", endpoint_url=moto_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        bench.moto_url, bench.secret = moto_url, "short-cut/prod/app"
        second = "short-cut/prod/extra"
        sm.create_secret(Name=bench.secret, SecretString=canary_secret_string())
        sm.create_secret(Name=second, SecretString=json.dumps({"FEATURE_FLAG": "1"}))
        if "mask" in only:
            from bench import mask_cost

            mask_cost.add_rows(bench.add_ratio, runs=runs, smoke=args.smoke, details=bench.details)
        if "startup" in only:
            startup_rows.one_core_startup(bench)
            startup_rows.two_core_startup(bench)
        if "serving" in only:
            serving_rows.throughput(bench)
            serving_rows.memory(bench)
            serving_rows.refresh_under_load(bench)
        if "aws" in only:
            aws_rows.aws_calls(bench, second)
        if "failover" in only:
            failover_rows.failover(bench)
        if "convergence" in only:
            from bench import convergence

            bench.rows.extend(Row(**row) for row in convergence.rows(work, smoke=args.smoke))
        if "podman" in only:
            skipped = "--no-podman" if args.no_podman else podman_rows.half_vcpu(bench, build=not args.no_build)
    finally:
        moto.stop()
    report(
        bench.rows,
        bench.details,
        pinning=pinning,
        skipped=skipped,
        runs=runs,
        startup_runs=startup_runs,
        smoke=args.smoke,
        out=out,
    )
    shutil.rmtree(work, ignore_errors=True)
    if args.smoke:
        return 0
    return 0 if all(r.passed is not False for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
