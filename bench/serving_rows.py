"""Serving rows on one CPU: /health throughput against bare FastAPI, memory over many requests,
and the p99 while a 1 s refresh runs.
"""

from __future__ import annotations

from bench.apps import BARE, RAW, SHORT_CUT, SHORT_CUT_NO_METRICS, SHORT_CUT_PROBES_LOGGED
from bench.measure import rss_mb, wrk, wrk_requests
from bench.rows import Row
from bench.runner import Runner


def throughput(bench: Runner) -> None:
    section = "1 CPU"
    duration = 1 if bench.smoke else 5
    results: dict[str, list[float]] = {
        app: []
        for app in [SHORT_CUT, BARE, SHORT_CUT_NO_METRICS, SHORT_CUT_PROBES_LOGGED] + ([] if bench.smoke else [RAW])
    }
    non2xx = 0
    apps = list(results)
    for i in range(bench.runs):
        for app in apps[i % len(apps) :] + apps[: i % len(apps)]:
            with bench.running(app) as (_, url):
                if not bench.smoke:
                    wrk(f"{url}/health", connections=32, duration=1)  # warm-up
                stats = wrk(f"{url}/health", connections=32, duration=duration)
                results[app].append(stats["rps"])
                if app == SHORT_CUT:
                    non2xx += int(stats["non2xx"] + stats["errors"])
    bench.details["health_rps"] = results
    bench.add_ratio(
        section,
        "/health throughput (req/s)",
        results[SHORT_CUT],
        results[BARE],
        BARE,
        ">= 1.0, 0 non-2xx",
        None,
        ok=lambda r: r >= 1.0 and non2xx == 0,
        note=f"non-2xx: {non2xx}",
    )
    logged = results[SHORT_CUT_PROBES_LOGGED]
    bench.add_ratio(
        section, "/health throughput, every probe logged (req/s)", logged, results[BARE], BARE, "info", None
    )
    if RAW in results:
        bench.add_ratio(section, "/health throughput (req/s)", results[SHORT_CUT], results[RAW], RAW, "info", None)
    off = SHORT_CUT_NO_METRICS
    bench.add_ratio(
        section, "/health throughput, metrics on (req/s)", results[SHORT_CUT], results[off], off, ">= 0.90", None,
        ok=lambda r: r >= 0.90,
    )  # fmt: skip


def memory(bench: Runner) -> None:
    section = "1 CPU"
    requests = 2_000 if bench.smoke else 100_000
    samples: dict[str, tuple[float, float]] = {}
    for app in (SHORT_CUT, BARE):
        with bench.running(app) as (process, url):
            pid = process.pid  # taskset and entrypoint.sh exec: the pid is the server's
            if not bench.smoke:
                wrk(f"{url}/health", connections=8, duration=1)  # warm up allocators and caches
            before = rss_mb(pid)
            wrk_requests(f"{url}/health", connections=32, requests=requests)
            after = rss_mb(pid)
            samples[app] = (before, after)
    (ours_before, ours_after), (ref_before, ref_after) = samples[SHORT_CUT], samples[BARE]
    bench.details["rss_mb"] = samples
    bench.rows.append(
        Row(
            section,
            "RSS after start (MB)",
            ours_before,
            ref_before,
            BARE,
            round(ours_before / ref_before, 3),
            "< 80 MB",
            ours_before < 80,
        )
    )
    growth, ref_growth = ours_after - ours_before, ref_after - ref_before
    bench.rows.append(
        Row(
            section,
            f"RSS growth over {requests:,} requests (MB)",
            round(growth, 1),
            round(ref_growth, 1),
            BARE,
            None,
            "<= reference + 2 MB, < 80 MB",
            growth <= max(0.0, ref_growth) + 2.0 and ours_after < 80,
            note=f"after: {ours_after} MB",
        )
    )


def refresh_under_load(bench: Runner) -> None:
    section = "1 CPU"
    duration = 1 if bench.smoke else 5
    p99: dict[str, list[float]] = {"refresh": [], "none": []}
    non2xx = 0
    for i in range(bench.runs):
        for kind in ["none", "refresh"] if i % 2 == 0 else ["refresh", "none"]:
            env = {"SECRETS_REFRESH_INTERVAL": "1" if kind == "refresh" else "0"}
            with bench.running(SHORT_CUT, env=env) as (_, url):
                # Warm-up first: the one-time client build after start is not the steady state.
                if not bench.smoke:
                    wrk(f"{url}/health", connections=32, duration=2)
                stats = wrk(f"{url}/health", connections=32, duration=duration)
                p99[kind].append(stats["p99_ms"])
                non2xx += int(stats["non2xx"] + stats["errors"])
    bench.details["refresh_p99_ms"] = p99
    bench.add_ratio(
        section,
        "/health p99 with 1 s refresh (ms)",
        p99["refresh"],
        p99["none"],
        "short-cut, no refresh",
        "<= 1.2, 0 non-2xx",
        None,
        ok=lambda r: r <= 1.2 and non2xx == 0,
        note=f"non-2xx: {non2xx}",
    )
