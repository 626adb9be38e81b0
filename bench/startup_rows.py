"""Start-up rows: time and CPU to the first 200 on one CPU (judged) and on two (information),
short-cut against the peer and bare FastAPI, runs interleaved.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict

from bench.apps import BARE, PEER, SHORT_CUT, SHORT_CUT_CHILD, SHORT_CUT_NO_METRICS, SHORT_CUT_PROBE
from bench.measure import Start, cpu_breakdown, median_fields
from bench.rows import Row, spread
from bench.runner import Runner


def startup(bench: Runner, section: str, cpus: frozenset[int], apps: list[str]) -> dict[str, list[Start]]:
    results: dict[str, list[Start]] = {app: [] for app in apps}
    for i in range(bench.startup_runs):
        # Rotate the order: no app always runs first, right after the previous one's exit.
        order = apps[i % len(apps) :] + apps[: i % len(apps)]
        for app in order:
            results[app].append(bench.measure_start(app, cpus))
    bench.details[f"startup {section}"] = {app: [asdict(s) for s in starts] for app, starts in results.items()}
    return results


def one_core_startup(bench: Runner) -> None:
    section = "1 CPU"
    apps = [SHORT_CUT, PEER, BARE, SHORT_CUT_PROBE, SHORT_CUT_NO_METRICS] + ([] if bench.smoke else [SHORT_CUT_CHILD])
    results = startup(bench, section, bench.pin.service, apps)
    wall = {app: [s.wall_s for s in results[app]] for app in apps}
    cpu = {app: [s.cpu_ms for s in results[app]] for app in apps}
    off = SHORT_CUT_NO_METRICS
    bench.add_ratio(section, "CPU to ready, metrics on (ms)", cpu[SHORT_CUT], cpu[off], off, "<= 1.10", 1.10)
    bench.add_ratio(section, "time to ready, metrics on (s)", wall[SHORT_CUT], wall[off], off, "info", None)
    bench.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[PEER], PEER, "<= 0.90", 0.90)
    bench.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[BARE], BARE, "<= 1.50", 1.50)
    bench.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[PEER], PEER, "<= 1.0", 1.0)
    bench.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[BARE], BARE, "info", None)
    child_cpu = [s.child_cpu_ms for s in results[SHORT_CUT]]
    bench.rows.append(
        Row(
            section,
            "prefetch child CPU, SECRETS_PREFETCH=auto (ms)",
            max(child_cpu),
            0,
            "-",
            None,
            "== 0 (no child on 1 CPU)",
            max(child_cpu) == 0,
            spread=spread(child_cpu),
        )
    )
    if SHORT_CUT_CHILD in apps:
        forced_wall, forced_cpu = wall[SHORT_CUT_CHILD], cpu[SHORT_CUT_CHILD]
        bench.add_ratio(section, "time to ready, child forced (s)", forced_wall, wall[PEER], PEER, "info", None)
        bench.add_ratio(section, "CPU to ready, child forced (ms)", forced_cpu, cpu[PEER], PEER, "info", None)
    bench.details["startup_breakdown_cpu_ms"] = cpu_breakdown(results[SHORT_CUT_PROBE])
    bench.details["startup_breakdown_wall_ms"] = median_fields([s.breakdown for s in results[SHORT_CUT]])


def two_core_startup(bench: Runner) -> None:
    section = "2 CPUs (info)"
    apps = [SHORT_CUT, BARE] + ([] if bench.smoke else [PEER])
    results = startup(bench, section, bench.pin.every, apps)
    wall = {app: [s.wall_s for s in results[app]] for app in apps}
    cpu = {app: [s.cpu_ms for s in results[app]] for app in apps}
    bench.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[BARE], BARE, "<= 1.30", 1.30)
    if PEER in apps:
        bench.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[PEER], PEER, "info", None)
        bench.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[PEER], PEER, "info", None)
    child_cpu = [s.child_cpu_ms for s in results[SHORT_CUT]]
    bench.rows.append(
        Row(
            section,
            "prefetch child CPU, SECRETS_PREFETCH=auto (ms)",
            statistics.median(child_cpu),
            None,
            "-",
            None,
            "info",
            None,
            spread=spread(child_cpu),
            note="> 0: the child ran (2 CPUs usable)",
        )
    )
