"""The service topology on one machine, without Docker: `make stack` (``python -m factory.stack``) and the stack test.

What docker-compose runs as containers runs here as processes, all bound to 127.0.0.1:

- PostgreSQL from the distribution's packages (`factory.stack.postgres`), holding two databases: ``dagster``
  (Dagster's run, event-log and schedule storage) and ``mlflow`` (MLflow's backend store);
- an MLflow tracking server on it, keeping artifacts under the state directory and serving them;
- a Dagster code server (gRPC) for ``factory.definitions``, whose run workers log models to the MLflow server;
- the Dagster webserver and the daemon (schedules, sensors, the run queue, run monitoring), on the instance of
  ``deploy/dagster.yaml`` (Postgres storage, the ``warehouse`` pool).

Everything lives in one state directory: ``postgres/``, ``mlartifacts/``, ``dagster/`` (``DAGSTER_HOME``),
``home/`` (``FACTORY_HOME``: the warehouse and the version store), ``logs/<service>.log`` and the
``workspace.yaml`` the webserver and the daemon read. Each service runs in a process group of its own;
`Stack.stop` ends the groups (SIGTERM, SIGKILL after a grace period: run workers die with the code server),
then stops PostgreSQL. The environment of the factory processes (`Stack.env`) names Postgres through
``DAGSTER_PG_HOST``, ``DAGSTER_PG_PORT``, ``DAGSTER_PG_USER``, ``DAGSTER_PG_PASSWORD``, ``DAGSTER_PG_DB`` and
MLflow through ``MLFLOW_TRACKING_URI``, as docker-compose does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from factory.stack.postgres import PostgresServer, free_port, start_postgres

__all__ = ["INSTANCE_CONFIG", "LOCATION", "Ports", "Stack", "StackError"]

INSTANCE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
"""The service deployment's Dagster instance settings (in a checkout of the repository)."""
LOCATION = "factory"
"""The code location name of the factory's code server."""
HOST = "127.0.0.1"
_DAEMON_QUERY = "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"


class StackError(RuntimeError):
    """A service did not start (the message carries the end of its log)."""


@dataclass(frozen=True)
class Ports:
    """Where each service listens on 127.0.0.1; 0 picks a free port."""

    postgres: int = 0
    mlflow: int = 0
    code_server: int = 0
    webserver: int = 0

    def chosen(self) -> Ports:
        return Ports(*(port or free_port() for port in (self.postgres, self.mlflow, self.code_server, self.webserver)))


@dataclass
class _Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _executable(name: str) -> str:
    """A console script of this environment (``dagster``, ``mlflow``, ...), beside the running Python."""
    return str(Path(sys.executable).with_name(name))


@dataclass
class Stack:
    """The services in ``state``; `start` them (or use the stack as a context manager), `stop` them."""

    state: Path
    ports: Ports = field(default_factory=Ports)
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    """Variables for the factory processes on top of the stack's own (``FACTORY_USECASES``, a test cron, ...)."""
    durable: bool = True
    """False for throwaway stacks (tests): PostgreSQL without fsync."""
    startup_seconds: float = 300
    postgres: PostgresServer | None = None
    services: list[_Service] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    """The environment of the code server, webserver and daemon (and of a client of the stack)."""

    @property
    def urls(self) -> dict[str, str]:
        """Where to reach each service, by name."""
        ports = self.ports
        assert self.postgres is not None, "start the stack first"
        return {
            "dagster": f"http://{HOST}:{ports.webserver}",
            "mlflow": f"http://{HOST}:{ports.mlflow}",
            "code server": f"grpc://{HOST}:{ports.code_server}",
            "postgres": f"postgresql://postgres@{HOST}:{ports.postgres}/dagster",
        }

    @property
    def dagster_home(self) -> Path:
        return self.state / "dagster"

    @property
    def factory_home(self) -> Path:
        """``FACTORY_HOME`` of the stack's processes. Not ``factory/``: the services run in the state directory,
        and a ``factory`` folder there would shadow the package (Python would import it as a namespace)."""
        return self.state / "home"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Stack:
        """Start every service and wait until each answers (the daemon: until its daemons report healthy).
        On a failure, stops what started and raises StackError (or the PostgresError)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "logs").mkdir(exist_ok=True)
        self.postgres = start_postgres(self.state / "postgres", port=self.ports.postgres or None, durable=self.durable)
        self.ports = Ports(self.postgres.port, self.ports.mlflow, self.ports.code_server, self.ports.webserver).chosen()
        for database in ("dagster", "mlflow"):
            self.postgres.create_database(database)
        self.dagster_home.mkdir(exist_ok=True)
        shutil.copyfile(INSTANCE_CONFIG, self.dagster_home / "dagster.yaml")
        workspace = self.state / "workspace.yaml"
        grpc = {"host": HOST, "port": self.ports.code_server, "location_name": LOCATION}
        workspace.write_text(json.dumps({"load_from": [{"grpc_server": grpc}]}, indent=2) + "\n", encoding="utf-8")
        self.env = self._environment()

        artifacts = self.state / "mlartifacts"
        artifacts.mkdir(exist_ok=True)
        mlflow = self._spawn(
            "mlflow",
            [
                _executable("mlflow"),
                "server",
                "--backend-store-uri",
                self.postgres.url("mlflow"),
                "--artifacts-destination",
                artifacts.as_uri(),
                "--host",
                HOST,
                "--port",
                str(self.ports.mlflow),
                "--workers",
                "1",
            ],
        )
        code_server = self._spawn(
            "code-server",
            [
                _executable("dagster"),
                "api",
                "grpc",
                "--module-name",
                "factory.definitions",
                "--host",
                HOST,
                "--port",
                str(self.ports.code_server),
                "--location-name",
                LOCATION,
            ],
        )
        self._wait(code_server, lambda: _listening(self.ports.code_server), "loads the factory's definitions")
        webserver = self._spawn(
            "webserver",
            [
                _executable("dagster-webserver"),
                "-w",
                str(workspace),
                "-h",
                HOST,
                "-p",
                str(self.ports.webserver),
            ],
        )
        daemon = self._spawn("daemon", [_executable("dagster-daemon"), "run", "-w", str(workspace)])
        self._wait(mlflow, lambda: _answers(f"{self.urls['mlflow']}/health"), "answers on /health")
        self._wait(webserver, lambda: _answers(f"{self.urls['dagster']}/server_info"), "answers on /server_info")
        self._wait(daemon, self._daemons_healthy, "reports its daemons healthy")

    def _environment(self) -> dict[str, str]:
        assert self.postgres is not None
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PG_", "PG"))}
        return {
            **inherited,
            "FACTORY_HOME": str(self.factory_home),
            "DAGSTER_HOME": str(self.dagster_home),
            "DAGSTER_PG_HOST": HOST,
            "DAGSTER_PG_PORT": str(self.postgres.port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": "dagster",
            "MLFLOW_TRACKING_URI": f"http://{HOST}:{self.ports.mlflow}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GX_ANALYTICS_ENABLED": "False",
            "DAGSTER_DISABLE_TELEMETRY": "true",
            **self.env_overrides,
        }

    def _spawn(self, name: str, command: list[str]) -> _Service:
        log = self.state / "logs" / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen(  # noqa: S603  # our own argv, no shell
                command,
                cwd=self.state,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: stopped with its children
                # Dagster handles SIGTERM as SIGINT; a stack started from a background job inherits SIGINT ignored,
                # and its services would then ignore SIGTERM too (factory_tests/dagster_dev.py has the evidence).
                preexec_fn=_default_sigint,
            )
        service = _Service(name, process, log)
        self.services.append(service)
        return service

    def _wait(self, service: _Service, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.startup_seconds
        while not ready():
            if service.process.poll() is not None:
                raise StackError(f"{service.name} exited ({service.process.returncode}):\n{service.tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"{service.name} never {what} in {self.startup_seconds:.0f} s:\n{service.tail()}")
            time.sleep(0.5)

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The webserver's answer to a GraphQL query (its ``data``); raises StackError on errors."""
        request = urllib.request.Request(  # noqa: S310  # http on 127.0.0.1, built here
            f"{self.urls['dagster']}/graphql",
            data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # as above
            answer: dict[str, Any] = json.loads(response.read())
        if answer.get("errors"):
            raise StackError(f"GraphQL errors: {answer['errors']}")
        data: dict[str, Any] = answer["data"]
        return data

    def _daemons_healthy(self) -> bool:
        try:
            statuses = self.graphql(_DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (OSError, StackError):
            return False
        return all(status["healthy"] for status in statuses if status["required"])

    def failed(self) -> list[str]:
        """The services that exited, with their status."""
        return [f"{s.name} ({s.process.returncode})" for s in self.services if s.process.poll() is not None]

    def stop(self, grace_seconds: float = 30) -> None:
        """End every service's process group (SIGTERM, then SIGKILL for what outlives ``grace_seconds``), newest
        first, then stop PostgreSQL. Safe to call twice."""
        for service in reversed(self.services):
            _signal_group(service.process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for service in reversed(self.services):
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(service.process, signal.SIGKILL)  # its children too, even once it has exited
            service.process.wait()
        self.services.clear()
        if self.postgres is not None:
            self.postgres.stop(immediate=not self.durable)
            self.postgres = None


def _default_sigint() -> None:
    """In a service's child process before it runs: SIGINT at its default disposition."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone already
        os.killpg(process.pid, sig)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310  # http on 127.0.0.1, built here
            return int(response.status) == 200
    except (OSError, urllib.error.URLError):
        return False
