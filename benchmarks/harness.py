"""What every benchmark needs: a database of its own, real server processes on it, a persistent HTTP
client, the server's memory from ``/proc``, statistics, and optional profiles with py-spy.

Everything talks to 127.0.0.1 only. Each ``Site`` creates its own database (a SQLite file in a temporary
folder, or a PostgreSQL database) and, with ``redis=True``, its own Redis key prefix; ``close()`` stops the
servers, drops the database and deletes the keys.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
API = "/calendar/api"
SERVER_START_TIMEOUT = 60
SUBPROCESS_TIMEOUT = 600


# ---------------------------------------------------------------------------------------------------
# Statistics


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolated between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "median": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "min": min(values) if values else None,
        "max": max(values) if values else None,
    }


# ---------------------------------------------------------------------------------------------------
# The machine


def _cpu_times() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


class MachineCPU:
    """How busy all CPUs were between ``start()`` and ``fraction()`` (0 to 1, all cores together)."""

    def start(self) -> None:
        self.before = _cpu_times()

    def fraction(self) -> float:
        busy_after, total_after = _cpu_times()
        return (busy_after - self.before[0]) / max(total_after - self.before[1], 1)


def busy_fraction(seconds: float = 1.0) -> float:
    """How busy all CPUs are over ``seconds`` (0 to 1). Taken while our own processes are idle, it is what
    others on the machine use, which the figures then share the CPUs with."""
    busy_before, total_before = _cpu_times()
    time.sleep(seconds)
    busy_after, total_after = _cpu_times()
    return (busy_after - busy_before) / max(total_after - total_before, 1)


def wait_until_quiet(limit: float, max_wait: float, log=print) -> float:
    """Wait (at most ``max_wait`` seconds) until the CPUs are busier than ``limit`` no more; returns the
    last measured busy fraction."""
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > limit and time.monotonic() < deadline:
        log(f"  the machine is {busy:.0%} busy with other work; waiting for it to calm down")
        busy = busy_fraction(5.0)
    return busy


# ---------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def proc_status_kb(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def postgres(statement: str) -> None:
    import psycopg

    with psycopg.connect(host=HOST, user=os.environ.get("PGUSER", "postgres"), dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(statement)


class Server:
    """One ASGI server process serving ``tests.asgi:application`` as a deployment would start it, or
    gunicorn's WSGI workers serving ``tests.wsgi:application`` (the REST routes only)."""

    def __init__(self, kind: str, env: dict[str, str], directory: Path, workers: int = 1) -> None:
        self.kind = kind
        self.port = free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.log = directory / f"{kind}-{self.port}.log"
        if kind == "daphne":
            # Daphne's command line with its access log masked, as the README deploys it.
            command = [PYTHON, "-m", "event_calendar.daphne", "-b", HOST, "-p", str(self.port),
                       "tests.asgi:application"]
        elif kind == "uvicorn":
            command = [PYTHON, "-m", "uvicorn", "tests.asgi:application", "--host", HOST, "--port", str(self.port),
                       "--lifespan", "off"]
        elif kind == "gunicorn":
            command = [PYTHON, "-m", "gunicorn", "-b", f"{HOST}:{self.port}", "-w", str(workers),
                       "tests.wsgi:application"]
        else:
            raise ValueError(f"unknown server {kind!r}")
        self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=self.log.open("ab"),
                                        stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited:\n{self.log.read_text()[-4000:]}")
            try:
                connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
                connection.request("GET", f"{API}/nothing")
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start:\n{self.log.read_text()[-4000:]}")

    def pids(self) -> list[int]:
        """The server process and its children (gunicorn's workers)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        """User and system CPU time the server's processes have used so far."""
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        return sum(proc_status_kb(pid, "VmRSS") for pid in self.pids())

    def peak_kb(self) -> int:
        return sum(proc_status_kb(pid, "VmHWM") for pid in self.pids())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


class Site:
    """A database of its own, seeded through the ORM in subprocesses, and the servers started on it."""

    def __init__(self, database: str, redis: bool = False) -> None:
        self.database = database
        self.directory = Path(tempfile.mkdtemp(prefix="event-calendar-bench-"))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "PYTHONPATH": str(ROOT),
            "BENCH_MEDIA_ROOT": str(self.directory / "media"),
        }
        self.pg_name = None
        self.redis_prefix = None
        self.servers: list[Server] = []
        if database == "postgres":
            self.pg_name = f"event_calendar_bench_{uuid.uuid4().hex[:12]}"
            postgres(f'CREATE DATABASE "{self.pg_name}"')
            self.env["BENCH_DB"] = f"postgres:{self.pg_name}"
            self.db_path = None
        elif database == "sqlite":
            self.db_path = self.directory / "db.sqlite3"
            self.env["BENCH_DB"] = f"sqlite:{self.db_path}"
        else:
            raise ValueError(f"unknown database {database!r}")
        if redis:
            self.redis_prefix = f"event-calendar-bench-{uuid.uuid4().hex[:12]}"
            self.env["BENCH_REDIS_PREFIX"] = self.redis_prefix
        try:
            self.django("migrate", "--noinput", "-v", "0")
        except BaseException:
            self.close()
            raise

    @property
    def floor_target(self) -> str:
        return f"postgres:{self.pg_name}" if self.pg_name else f"sqlite:{self.db_path}"

    def django(self, *args: str) -> str:
        return self._run([PYTHON, "-m", "django", *args])

    def _run(self, command: list[str]) -> str:
        result = subprocess.run(command, env=self.env, cwd=ROOT, capture_output=True, text=True,
                                timeout=SUBPROCESS_TIMEOUT, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        return result.stdout

    def seed(self, command: dict[str, Any]) -> Any:
        return json.loads(self._run([PYTHON, "-m", "benchmarks.seed", json.dumps(command)]))

    def start_server(self, kind: str, workers: int = 1) -> Server:
        server = Server(kind, self.env, self.directory, workers)
        self.servers.append(server)
        return server

    def stop_servers(self) -> None:
        while self.servers:
            self.servers.pop().stop()

    def close(self) -> None:
        self.stop_servers()
        if self.pg_name:
            postgres(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = None
        if self.redis_prefix:
            delete_redis_keys(self.redis_prefix)
            self.redis_prefix = None
        shutil.rmtree(self.directory, ignore_errors=True)


def delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis(host=HOST, port=6379)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for first in range(0, len(keys), 1000):
            client.delete(*keys[first:first + 1000])
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------
# HTTP


class Http:
    """One persistent HTTP/1.1 connection to a server, as a browser keeps one per host."""

    def __init__(self, port: int, token: str, timeout: float = 60) -> None:
        self.port = port
        self.token = token
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """One request; returns the status and the body. Reconnects once if the kept connection was closed."""
        headers = {"Remote-Token": self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, f"{API}/{path}", body=data, headers=headers)
            except (ConnectionResetError, BrokenPipeError):
                # The server closed the kept-alive connection while it was idle (uvicorn does after 5 s):
                # nothing was handled, so the request is sent again on a new connection.
                self.close()
                if attempt == 2:
                    raise
                continue
            try:
                response = self.connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError):
                # Closed before answering: only a GET is repeated (a write may have been handled).
                self.close()
                if attempt == 2 or method != "GET":
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, payload
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


# ---------------------------------------------------------------------------------------------------
# Profiles


class Profile:
    """``py-spy record`` attached to a server process while a ``with`` block runs, writing collapsed stacks
    (``--format raw``, one line per stack and count): ``path`` samples every thread that is not idle
    (waits on the database included), and ``path`` with ``-gil`` added only the thread holding the GIL
    (where the process's Python CPU time goes)."""

    def __init__(self, pid: int, path: Path, rate: int = 200) -> None:
        self.pid = pid
        self.path = path
        self.rate = rate
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Profile:
        spy = shutil.which("py-spy", path=str(Path(PYTHON).parent)) or shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy (or the 'bench' extra)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        gil_path = self.path.with_name(self.path.stem + "-gil" + self.path.suffix)
        for output, extra in ((self.path, []), (gil_path, ["--gil"])):
            self.processes.append(subprocess.Popen(
                [spy, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw", "--threads",
                 "--nonblocking", *extra, "--output", str(output)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ))
        time.sleep(1.0)  # attached before the work starts
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
