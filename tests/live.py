"""Real ASGI server processes for the end-to-end tests: Daphne (with its access log masked, as the README
advises) serving ``tests.asgi`` on free ports.

Each ``LiveSite`` has its own database (a SQLite file, or a PostgreSQL database of its own when
``EVENT_CALENDAR_TEST_DB=postgres``) and, with ``redis=True``, its own Redis key prefix, so that runs never
see each other's data or messages.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_is_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class LiveSite:
    """A database, the users in it, and any number of server processes sharing both."""

    def __init__(self, redis: bool = False, app_settings: dict[str, Any] | None = None) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="event-calendar-e2e-"))
        self.env = {
            **os.environ,
            "EVENT_CALENDAR_E2E_APP_SETTINGS": json.dumps(app_settings or {}),
            "DJANGO_SETTINGS_MODULE": "tests.e2e_settings",
            "PYTHONPATH": str(ROOT),
            "EVENT_CALENDAR_E2E_MEDIA_ROOT": str(self.directory / "media"),
            # The servers' logs are read by tests while the servers run.
            "PYTHONUNBUFFERED": "1",
        }
        self.pg_name = None
        if os.environ.get("EVENT_CALENDAR_TEST_DB") == "postgres":
            self.pg_name = f"event_calendar_e2e_{uuid.uuid4().hex[:12]}"
            self.env["EVENT_CALENDAR_E2E_PG_NAME"] = self.pg_name
            self._postgres(f'CREATE DATABASE "{self.pg_name}"')
        else:
            self.env["EVENT_CALENDAR_E2E_SQLITE"] = str(self.directory / "db.sqlite3")
        if redis:
            self.env["EVENT_CALENDAR_E2E_REDIS_PREFIX"] = f"event-calendar-e2e-{uuid.uuid4().hex[:12]}"
        self.servers: dict[str, subprocess.Popen] = {}
        self.django("migrate", "--noinput", "-v", "0")

    def _postgres(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", user=os.environ.get("PGUSER", "postgres"), dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement)

    def django(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "django", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"django {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def run_python(self, code: str) -> Any:
        """Run ``code`` with Django set up against this site's database; it prints one JSON value."""
        return json.loads(self.django("shell", "--no-imports", "-c", code))

    def tokens(self, *usernames: str) -> dict[str, str]:
        code = (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from event_calendar.tokens import issue_token\n"
            f"names = {list(usernames)!r}\n"
            "users = {n: get_user_model().objects.get_or_create(username=n)[0] for n in names}\n"
            "print(json.dumps({n: issue_token(u) for n, u in users.items()}))\n"
        )
        return self.run_python(code)

    def device_tokens(self, *usernames: str) -> list[str]:
        """A token naming a new device for each user, in order; a user may repeat (two tabs of one user)."""
        code = (
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from event_calendar.tokens import issue_token\n"
            f"names = {list(usernames)!r}\n"
            "users = [get_user_model().objects.get_or_create(username=n)[0] for n in names]\n"
            "print(json.dumps([issue_token(user) for user in users]))\n"
        )
        return self.run_python(code)

    def start_server(self, port: int | None = None, server: str = "daphne") -> str:
        """Start one more server process (on ``port``, or a free one); returns its base URL, e.g.
        ``http://127.0.0.1:PORT``."""
        port = port or free_port()
        log = self.directory / f"server-{port}.log"
        command = {
            "daphne": ["event_calendar.daphne", "-b", "127.0.0.1", "-p", str(port), "tests.asgi:application"],
            "uvicorn": ["uvicorn", "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
                        "tests.asgi:application"],
            # WSGI workers for the REST routes, as the README's deployment with gunicorn runs them.
            "gunicorn": ["gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2", "--access-logfile", "-",
                         "tests.wsgi:application"],
        }[server]
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            env=self.env,
            cwd=ROOT,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        self.servers[base] = process
        wait_until_serving(process, f"{base}/calendar/api/nothing", log)
        return base

    def server_log(self, base: str) -> str:
        return (self.directory / f"server-{base.rsplit(':', 1)[1]}.log").read_text()

    def restart_server(self, base: str) -> None:
        """Stop the server process at ``base`` and start a new one on the same port (same database)."""
        self.stop_server(base)
        self.start_server(int(base.rsplit(":", 1)[1]))

    def stop_server(self, base: str) -> None:
        process = self.servers.pop(base)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

    def close(self) -> None:
        for base in list(self.servers):
            self.stop_server(base)
        if self.pg_name:
            self._postgres(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


class ExampleProject:
    """The example project as its README starts it (``manage.py rundemo``: migrations, demo data, Daphne's
    development server), on a SQLite file of its own. Nothing of ``example_project`` is imported here."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="event-calendar-example-"))
        # Only the settings named here: none of the demo's own environment variables from outside.
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "REDIS_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="example_project.settings",
            DJANGO_SQLITE_PATH=str(self.directory / "db.sqlite3"),
            PYTHONPATH=str(ROOT),
        )
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = self.directory / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{port}"],
            env=env,
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(self.process, f"{self.base}/calendar/api/nothing", self.log, timeout=60)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_until_serving(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    """Wait until ``url`` answers (any HTTP status), or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def request(base: str, token: str | None, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One REST call as the widget makes it; returns the status and the parsed JSON body."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Remote-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}/calendar/api/{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
