"""Load: ``GET events`` for growing numbers of events, through a real server, against the floor."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from .harness import PYTHON, ROOT, Http, Profile, Site, busy_fraction, summary

WARMUP = 3
MIN_RUNS = 5


def timed_gets(http: Http, runs: int, max_seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.monotonic() + max_seconds
    while len(times) < runs and (len(times) < MIN_RUNS or time.monotonic() < deadline):
        started = time.perf_counter()
        status, _ = http.call("GET", "events")
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"GET events answered {status}")
    return times


def floor(site: Site, runs: int, max_seconds: float, encoder: str = "json") -> dict[str, Any]:
    result = subprocess.run(
        [PYTHON, str(ROOT / "benchmarks" / "floor.py"), "--db", site.floor_target, "--runs", str(runs),
         "--warmup", str(WARMUP), "--max-seconds", str(max_seconds), "--min-runs", str(MIN_RUNS),
         "--encoder", encoder],
        capture_output=True, text=True, timeout=max_seconds * 3 + 120, env=site.env, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"floor failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout)


def has_orjson() -> bool:
    try:
        import orjson  # noqa: F401
    except ImportError:
        return False
    return True


def run_load(database: str, sizes: list[int], server_kind: str, runs: int, max_seconds: float,
             profile_dir: Path | None, profile_size: int | None, log=print) -> list[dict[str, Any]]:
    """One row per size: the server's and the floor's latency, and the server's memory."""
    site = Site(database)
    results = []
    try:
        (token,) = site.seed({"op": "users", "count": 1, "prefix": "reader"})
        for size in sizes:
            seeded = site.seed({"op": "events", "total": size, "calendars": 5})
            log(f"  load {database} {size}: seeded {seeded['events']} events, {seeded['attachments']} files")
            floor_background = busy_fraction(0.5)
            floor_result = floor(site, runs, max_seconds)
            fast_floor = floor(site, runs, max_seconds, "orjson") if has_orjson() else None
            server = site.start_server(server_kind)
            started_kb = server.rss_kb()
            http = Http(server.port, token)
            for _ in range(WARMUP):
                status, body = http.call("GET", "events")
                if status != 200:
                    raise RuntimeError(f"GET events answered {status}: {body[:300]!r}")
            events = json.loads(body)
            if len(events) != size:
                raise RuntimeError(f"GET events sent {len(events)} events, expected {size}")
            background = busy_fraction(0.5)
            times = timed_gets(http, runs, max_seconds)
            peak_kb = server.peak_kb()
            row = {
                "database": database,
                "server": server_kind,
                "events": size,
                "files": sum(len(event["files"]) for event in events),
                "bytes": len(body),
                "latency_ms": summary(times),
                "times_ms": times,
                "rss_start_kb": started_kb,
                "background_cpu": background,
                "peak_rss_kb": peak_kb,
                "floor": {
                    "latency_ms": summary(floor_result["times_ms"]),
                    "times_ms": floor_result["times_ms"],
                    "bytes": floor_result["bytes"],
                    "events": floor_result["events"],
                    "background_cpu": floor_background,
                },
                "orjson_floor": {
                    "latency_ms": summary(fast_floor["times_ms"]),
                    "times_ms": fast_floor["times_ms"],
                    "bytes": fast_floor["bytes"],
                } if fast_floor else None,
            }
            row["ratio_to_floor"] = row["latency_ms"]["median"] / row["floor"]["latency_ms"]["median"]
            row["ratio_to_orjson_floor"] = (row["latency_ms"]["median"] / row["orjson_floor"]["latency_ms"]["median"]
                                            if fast_floor else None)
            results.append(row)
            log(f"  load {database} {size}: median {row['latency_ms']['median']:.1f} ms, "
                f"floor {row['floor']['latency_ms']['median']:.1f} ms, peak {peak_kb / 1024:.0f} MB")
            if profile_dir is not None and size == profile_size:
                path = profile_dir / f"load-{database}-{size}-{server_kind}.txt"
                with Profile(server.pid, path):
                    timed_gets(http, runs, max_seconds)
                log(f"  profile written to {path}")
            http.close()
            site.stop_servers()
    finally:
        site.close()
    return results
