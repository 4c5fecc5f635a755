"""The benchmark suite: the server measured as a deployment runs it (real ASGI server processes, a
production-like settings module, SQLite files and PostgreSQL databases of its own, Redis for several
processes), with a table printed and the figures written to JSON.

    .venv/bin/python benchmarks/run.py [--quick] [--only load,writes,fanout] [--server daphne|uvicorn]
                                       [--json benchmarks/results.json] [--profile DIR]

Sections: load (``GET events`` against a bare-script floor), writes (creates, updates and deletes from
concurrent clients on PostgreSQL), fan-out (one write to many sockets, on one process and on two sharing
Redis), and growth (the cost per event and per socket). Needs PostgreSQL and Redis on 127.0.0.1, as the
test suite does. Everything is bounded: each loop in count and time, and the whole run by --max-minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fanout import run_fanout  # noqa: E402
from benchmarks.harness import HOST, wait_until_quiet  # noqa: E402
from benchmarks.load import run_load  # noqa: E402
from benchmarks.writes import process_label, run_writes  # noqa: E402

FULL = {
    "load_sizes": [1_000, 10_000, 50_000],
    "load_runs": 30,
    "load_max_seconds": 60.0,
    "write_clients": [1, 8, 32],
    "write_seconds": 15.0,
    "write_processes": [1, 2],
    "fanout_sizes": [100, 1_000],
    "fanout_writes": 12,
    "fanout_spacing": 1.0,
}
QUICK = {
    "load_sizes": [500, 2_000],
    "load_runs": 10,
    "load_max_seconds": 10.0,
    "write_clients": [1, 4],
    "write_seconds": 3.0,
    "write_processes": [1, 2],
    "fanout_sizes": [20, 60],
    "fanout_writes": 3,
    "fanout_spacing": 0.3,
}
FANOUT_CONFIGS = [
    {"name": "1 process", "servers": 1, "redis": False, "database": "postgres"},
    {"name": "1 process + Redis", "servers": 1, "redis": True, "database": "postgres"},
    {"name": "2 processes + Redis", "servers": 2, "redis": True, "database": "postgres"},
]
# The targets (and aims) on this 2-core machine.
GET_10K_MEDIAN_MS, GET_10K_MEDIAN_AIM_MS, GET_10K_FLOOR_RATIO = 150, 100, 3.0
WRITES_8_OPS, WRITES_8_OPS_AIM = 320, 400
FANOUT_1K_P99_MS, FANOUT_1K_P99_AIM_MS, FANOUT_2P_P99_MS, SOCKET_KB_AIM = 250, 130, 500, 56


class Watchdog(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


def reachable(port: int) -> bool:
    import socket

    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def raise_file_limit() -> None:
    """A thousand sockets need two thousand descriptors here (client and server side)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def meta(args: argparse.Namespace, sizes: dict[str, Any]) -> dict[str, Any]:
    def version(module: str) -> str | None:
        try:
            return __import__(module).__version__
        except Exception:
            return None

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "event_calendar"], cwd=ROOT, capture_output=True,
                                text=True, check=False).stdout.strip())
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": args.server,
        "wsgi_workers": args.wsgi_workers,
        "quick": args.quick,
        "sizes": sizes,
        "python": platform.python_version(),
        "django": version("django"),
        "daphne": version("daphne"),
        "uvicorn": version("uvicorn"),
        "gunicorn": version("gunicorn"),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "commit": commit,
        "event_calendar_modified": dirty,
        "redis": version("redis"),
        "channels_redis": version("channels_redis"),
        "redis_socket_timeout": args.redis_socket_timeout,
    }


# ---------------------------------------------------------------------------------------------------
# Growth and checks


def per(large: float | None, small: float | None, delta_count: int, scale: float = 1.0) -> float | None:
    """(large - small) per unit of ``delta_count``; None when a figure is missing (nothing measured)."""
    if large is None or small is None or not delta_count:
        return None
    return (large - small) / delta_count * scale


def writes_growth(writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "label": process_label(large),
            "from_clients": small["clients"],
            "to_clients": large["clients"],
            "ops_per_s": [small["ops_per_s"], large["ops_per_s"]],
            "median_ms": [small["latency_ms"]["median"], large["latency_ms"]["median"]],
            "p95_ms": [small["latency_ms"]["p95"], large["latency_ms"]["p95"]],
            "median_ms_per_added_client": per(large["latency_ms"]["median"], small["latency_ms"]["median"],
                                              large["clients"] - small["clients"]),
        }
        for small, large in pairwise(writes)
    ]


def growth(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"load": [], "writes": [], "fanout": []}
    for database in sorted({row["database"] for row in results.get("load", [])}):
        rows = [row for row in results["load"] if row["database"] == database]
        for small, large in pairwise(rows):
            count = large["events"] - small["events"]
            out["load"].append({
                "database": database,
                "from": small["events"],
                "to": large["events"],
                "ms_per_1000_events": per(large["latency_ms"]["median"], small["latency_ms"]["median"], count, 1000),
                "floor_ms_per_1000_events": per(large["floor"]["latency_ms"]["median"],
                                                small["floor"]["latency_ms"]["median"], count, 1000),
                "peak_kb_per_event": per(large["peak_rss_kb"], small["peak_rss_kb"], count),
                "bytes_per_event": per(large["bytes"], small["bytes"], count),
                "ratio_to_floor": [small["ratio_to_floor"], large["ratio_to_floor"]],
            })
    labels = {process_label(row): None for row in results.get("writes", [])}
    for label in labels:
        out["writes"] += writes_growth([row for row in results["writes"] if process_label(row) == label])
    for name in [config["name"] for config in FANOUT_CONFIGS]:
        rows = [row for row in results.get("fanout", []) if row["config"] == name]
        for small, large in pairwise(rows):
            count = large["sockets"] - small["sockets"]
            out["fanout"].append({
                "config": name,
                "from": small["sockets"],
                "to": large["sockets"],
                "from_request_p99_us_per_socket": per(large["from_request_ms"]["p99"], small["from_request_ms"]["p99"],
                                                      count, 1000),
                "p99_us_per_socket": per(large["latency_ms"]["p99"], small["latency_ms"]["p99"], count, 1000),
                "last_socket_us_per_socket": per(large["last_socket_ms"]["median"],
                                                 small["last_socket_ms"]["median"], count, 1000),
                "kb_per_idle_socket": [small["kb_per_idle_socket"], large["kb_per_idle_socket"]],
            })
    return out


def check(name: str, value: float | None, unit: str, target: str, ok: bool | None, aim: str = "",
          aim_ok: bool | None = None) -> dict[str, Any]:
    return {"check": name, "value": value, "unit": unit, "target": target, "pass": ok, "aim": aim, "aim_met": aim_ok}


def below(value: float | None, limit: float) -> bool:
    """A latency target: missed when nothing was measured (every frame lost)."""
    return value is not None and value < limit


def checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in results.get("load", []):
        if row["events"] != 10_000:
            continue
        median = row["latency_ms"]["median"]
        out.append(check(f"GET events 10,000 ({row['database']}) median", median, "ms", f"< {GET_10K_MEDIAN_MS} ms",
                         median < GET_10K_MEDIAN_MS, f"< {GET_10K_MEDIAN_AIM_MS} ms", median < GET_10K_MEDIAN_AIM_MS))
        out.append(check(f"GET events 10,000 ({row['database']}) / floor", row["ratio_to_floor"], "x",
                         f"<= {GET_10K_FLOOR_RATIO:g}x", row["ratio_to_floor"] <= GET_10K_FLOOR_RATIO))
    for row in results.get("writes", []):
        if row["clients"] != 8:
            continue
        out.append(check(f"writes, 8 clients, {process_label(row)} (postgres)", row["ops_per_s"], "ops/s",
                         f">= {WRITES_8_OPS} ops/s",
                         row["ops_per_s"] >= WRITES_8_OPS, f">= {WRITES_8_OPS_AIM} ops/s",
                         row["ops_per_s"] >= WRITES_8_OPS_AIM))
    for row in results.get("writes", []):
        out.append(check(f"writes, {row['clients']} clients, {process_label(row)}: errors", row["errors"], "", "0",
                         row["errors"] == 0))
        out.append(check(f"writes, {row['clients']} clients, {process_label(row)}: lost writes", row["lost_writes"],
                         "", "0",
                         row["lost_writes"] == 0))
    for row in results.get("fanout", []):
        if row["sockets"] == 1_000 and row["config"] == "1 process":
            p99 = row["latency_ms"]["p99"]
            out.append(check("fan-out 1,000 sockets, 1 process: p99", p99, "ms", f"< {FANOUT_1K_P99_MS} ms",
                             below(p99, FANOUT_1K_P99_MS), f"< {FANOUT_1K_P99_AIM_MS} ms",
                             below(p99, FANOUT_1K_P99_AIM_MS)))
            strict = row["from_request_ms"]["p99"]
            out.append(check("fan-out 1,000 sockets, 1 process: p99 from the write's request", strict, "ms",
                             f"< {FANOUT_1K_P99_MS} ms (stricter reading)", below(strict, FANOUT_1K_P99_MS),
                             f"< {FANOUT_1K_P99_AIM_MS} ms", below(strict, FANOUT_1K_P99_AIM_MS)))
            out.append(check("fan-out 1,000 sockets, 1 process: the writer's reply (median)",
                             row["write_reply_ms"]["median"], "ms", "", None))
            kb = row["kb_per_idle_socket"]
            out.append(check("fan-out 1,000 sockets, 1 process: memory per idle socket", kb, "KB", "", None,
                             f"<= {SOCKET_KB_AIM} KB", kb <= SOCKET_KB_AIM))
        if row["sockets"] == 1_000 and row["config"] == "2 processes + Redis":
            p99 = row["latency_ms"]["p99"]
            out.append(check("fan-out 1,000 sockets, 2 processes + Redis: p99", p99, "ms", f"< {FANOUT_2P_P99_MS} ms",
                             below(p99, FANOUT_2P_P99_MS)))
            strict = row["from_request_ms"]["p99"]
            out.append(check("fan-out 1,000 sockets, 2 processes + Redis: p99 from the write's request", strict,
                             "ms", f"< {FANOUT_2P_P99_MS} ms (stricter reading)", below(strict, FANOUT_2P_P99_MS)))
        out.append(check(f"fan-out {row['sockets']:,} sockets, {row['config']}: frames lost",
                         row["frames_lost"] + (row["sockets"] - row["connected"]) * row["writes"], "", "0",
                         row["frames_lost"] == 0 and row["connected"] == row["sockets"]))
    return out


# ---------------------------------------------------------------------------------------------------
# The table


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


NUMBER = re.compile(r"^(-|[-+]?[\d,.]+(%| ms| KB| MB| ops/s| x)?)$")


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    cells = [[fmt(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(header)]
    numeric = [all(NUMBER.match(row[i]) for row in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.rjust(w) if n else h.ljust(w) for h, w, n in zip(header, widths, numeric,
                                                                                  strict=True)),
             "  ".join("-" * w for w in widths)]
    for row in cells:
        lines.append("  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric,
                                                                                   strict=True)).rstrip())
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    parts = []
    server = results["meta"]["server"]
    if results.get("load"):
        parts.append(table(
            f"LOAD: GET events through {server}, one process (ms, measured by the client; floor: a bare script "
            "with json.dumps, orjson floor: the same with orjson)",
            ["database", "events", "files", "body MB", "median", "p95", "floor med", "floor p95", "x floor",
             "orjson floor", "x orjson floor", "peak RSS MB", "runs", "busy"],
            [[r["database"], r["events"], r["files"], r["bytes"] / 1e6, r["latency_ms"]["median"],
              r["latency_ms"]["p95"], r["floor"]["latency_ms"]["median"], r["floor"]["latency_ms"]["p95"],
              f"{r['ratio_to_floor']:.2f}",
              r["orjson_floor"]["latency_ms"]["median"] if r.get("orjson_floor") else None,
              f"{r['ratio_to_orjson_floor']:.2f}" if r.get("ratio_to_orjson_floor") else None,
              r["peak_rss_kb"] / 1024, r["latency_ms"]["n"],
              f"{r['background_cpu']:.0%}"] for r in results["load"]],
        ))
    if results.get("writes"):
        parts.append(table(
            f"WRITES: create/update/delete on PostgreSQL through {server} (ms)",
            ["processes", "clients", "ops/s", "median", "p95", "create med", "update med", "delete med", "errors", "lost",
             "checked", "seconds", "server CPU ms/op", "server cores", "machine CPU", "busy"],
            [[process_label(r), r["clients"], r["ops_per_s"], r["latency_ms"]["median"], r["latency_ms"]["p95"],
              r["by_kind"]["create"]["latency_ms"]["median"], r["by_kind"]["update"]["latency_ms"]["median"],
              r["by_kind"]["delete"]["latency_ms"]["median"], r["errors"], r["lost_writes"], r["checked_events"],
              r["duration_s"], r.get("server_cpu_ms_per_op"), r.get("server_cpu_cores"),
              f"{r['machine_cpu']:.0%}" if "machine_cpu" in r else None, f"{r['background_cpu']:.0%}"]
             for r in results["writes"]],
        ))
    if results.get("fanout"):
        parts.append(table(
            f"FAN-OUT: one writer, N sockets, through {server} (ms from the write's reply to the frame)",
            ["config", "sockets", "connected", "median", "p95", "p99", "last (med)", "last (max)",
             "p99 from request", "write reply", "lost", "closed", "KB/idle socket", "busy"],
            [[r["config"], r["sockets"], r["connected"], r["latency_ms"]["median"], r["latency_ms"]["p95"],
              r["latency_ms"]["p99"], r["last_socket_ms"]["median"], r["last_socket_ms"]["max"],
              r["from_request_ms"]["p99"], r["write_reply_ms"]["median"], r["frames_lost"],
              sum(r.get("sockets_closed_by_server", {}).values()),
              r["kb_per_idle_socket"], f"{r['background_cpu']:.0%}"] for r in results["fanout"]],
        ))
    grown = results.get("growth", {})
    rows = []
    for g in grown.get("load", []):
        rows.append([f"GET events {g['database']}", f"{g['from']:,} -> {g['to']:,} events",
                     f"{fmt(g['ms_per_1000_events'], 2)} ms / 1,000 events (floor {fmt(g['floor_ms_per_1000_events'], 2)})",
                     f"{fmt(g['peak_kb_per_event'], 2)} KB peak RSS / event",
                     f"x floor {g['ratio_to_floor'][0]:.2f} -> {g['ratio_to_floor'][1]:.2f}"])
    for g in grown.get("writes", []):
        rows.append([f"writes postgres, {g['label']}",
                     f"{g['from_clients']} -> {g['to_clients']} clients",
                     f"{g['ops_per_s'][0]:.0f} -> {g['ops_per_s'][1]:.0f} ops/s",
                     f"median {g['median_ms'][0]:.1f} -> {g['median_ms'][1]:.1f} ms",
                     f"p95 {g['p95_ms'][0]:.1f} -> {g['p95_ms'][1]:.1f} ms"])
    for g in grown.get("fanout", []):
        rows.append([f"fan-out {g['config']}", f"{g['from']:,} -> {g['to']:,} sockets",
                     f"p99 {fmt(g['p99_us_per_socket'], 0)} us / socket (from request "
                     f"{fmt(g['from_request_p99_us_per_socket'], 0)})",
                     f"last socket {fmt(g['last_socket_us_per_socket'], 0)} us / socket",
                     f"{g['kb_per_idle_socket'][0]:.1f} -> {g['kb_per_idle_socket'][1]:.1f} KB / idle socket"])
    if rows:
        parts.append(table("GROWTH: from the smallest to the largest size", ["what", "range", "time", "memory",
                                                                             "other"], rows))
    if results.get("checks"):
        parts.append(table(
            "TARGETS",
            ["check", "value", "target", "result", "aim", "aim met"],
            [[c["check"], f"{fmt(c['value'], 2)} {c['unit']}".strip(), c["target"] or "-",
              {True: "PASS", False: "FAIL", None: "-"}[c["pass"]], c["aim"] or "-",
              {True: "yes", False: "no", None: "-"}[c["aim_met"]]] for c in results["checks"]],
        ))
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", default="load,writes,fanout", help="sections to run, comma-separated")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results.json"), help="where to write figures")
    parser.add_argument("--databases", default="sqlite,postgres", help="databases of the load section")
    parser.add_argument("--fanout-configs", default=",".join(c["name"] for c in FANOUT_CONFIGS),
                        help="fan-out configurations, comma-separated")
    parser.add_argument("--socket-processes", type=int, default=2, help="client processes holding the sockets")
    parser.add_argument("--wsgi-workers", type=int, default=5,
                        help="also run the writes on gunicorn with this many WSGI workers (0: don't)")
    parser.add_argument("--profile", metavar="DIR", help="also profile the server with py-spy (after timing): "
                        "GET events 10,000, writes from 8 clients, fan-out to 1,000 sockets")
    parser.add_argument("--redis-socket-timeout", type=float,
                        help="give the Redis channel layer this socket timeout (seconds) instead of the README's 30")
    parser.add_argument("--quiet-limit", type=float, default=0.25,
                        help="before starting, wait while other work keeps the CPUs busier than this (0-1)")
    parser.add_argument("--quiet-wait", type=float, default=300, help="wait at most this long for that, seconds")
    parser.add_argument("--max-minutes", type=float, default=45, help="stop the whole run after this long")
    args = parser.parse_args()
    sections = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = sections - {"load", "writes", "fanout"}
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    profile_dir = Path(args.profile).resolve() if args.profile else None

    if ({"writes", "fanout"} & sections or "postgres" in args.databases) and not reachable(5432):
        parser.error("PostgreSQL is not reachable at 127.0.0.1:5432")
    if "fanout" in sections and not reachable(6379):
        parser.error("Redis is not reachable at 127.0.0.1:6379")
    raise_file_limit()
    if args.redis_socket_timeout:
        os.environ["BENCH_REDIS_SOCKET_TIMEOUT"] = str(args.redis_socket_timeout)

    def expire(signum, frame):
        raise Watchdog(f"the run took longer than --max-minutes {args.max_minutes:g}")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(int(args.max_minutes * 60))

    started = time.monotonic()
    busy = wait_until_quiet(args.quiet_limit, args.quiet_wait, log)
    results: dict[str, Any] = {"meta": {**meta(args, sizes), "background_cpu_at_start": busy}}
    if busy > args.quiet_limit:
        log(f"warning: other work keeps the CPUs {busy:.0%} busy; the figures will show it")
    failed = None
    try:
        if "load" in sections:
            results["load"] = []
            for database in [d.strip() for d in args.databases.split(",") if d.strip()]:
                log(f"load: {database}")
                results["load"] += run_load(database, sizes["load_sizes"], args.server, sizes["load_runs"],
                                            sizes["load_max_seconds"], profile_dir,
                                            10_000 if not args.quick else sizes["load_sizes"][-1], log)
        if "writes" in sections:
            results["writes"] = []
            for processes in sizes["write_processes"]:
                log(f"writes: postgres, {processes} server process(es)")
                results["writes"] += run_writes("postgres", sizes["write_clients"], args.server,
                                                sizes["write_seconds"], profile_dir if processes == 1 else None,
                                                8 if not args.quick else sizes["write_clients"][-1], processes, log)
            if args.wsgi_workers:
                log(f"writes: postgres, gunicorn with {args.wsgi_workers} WSGI workers")
                results["writes"] += run_writes("postgres", sizes["write_clients"], "gunicorn",
                                                sizes["write_seconds"], profile_dir,
                                                8 if not args.quick else sizes["write_clients"][-1],
                                                args.wsgi_workers, log)
        if "fanout" in sections:
            results["fanout"] = []
            wanted = {name.strip() for name in args.fanout_configs.split(",")}
            for config in [c for c in FANOUT_CONFIGS if c["name"] in wanted]:
                log(f"fan-out: {config['name']}")
                results["fanout"] += run_fanout(config, sizes["fanout_sizes"], args.server, sizes["fanout_writes"],
                                                sizes["fanout_spacing"], args.socket_processes,
                                                profile_dir if config["name"] != "1 process + Redis" else None,
                                                sizes["fanout_sizes"][-1], log)
    except (Watchdog, KeyboardInterrupt, Exception) as exc:
        failed = f"{type(exc).__name__}: {exc}"
        log(f"stopped: {failed}\n{traceback.format_exc()}")
    finally:
        signal.alarm(0)
    for key, derive in (("growth", growth), ("checks", checks)):
        try:
            results[key] = derive(results)
        except Exception as exc:  # the figures are written whatever goes wrong in summarising them
            results[key] = {} if key == "growth" else []
            failed = failed or f"{key}: {type(exc).__name__}: {exc}"
            log(f"could not work out {key}: {exc!r}")
    results["wall_s"] = time.monotonic() - started
    results["error"] = failed
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print()
    print(report(results))
    print()
    print("busy: how busy the CPUs were with other work just before each measurement (our processes idle)")
    print(f"Wall time {results['wall_s']:.0f} s; figures written to {path}")
    if failed:
        return 2
    return 0 if all(c["pass"] is not False for c in results["checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
