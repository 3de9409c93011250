"""``python -m factory.stack`` (`make stack`): start the service topology without Docker, print where each service
answers and the environment a client needs, and stop everything on Ctrl-C or SIGTERM (or when a service dies)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from factory.stack import Ports, Stack, StackError
from factory.stack.postgres import PostgresError

_PG = ("HOST", "PORT", "USER", "PASSWORD", "DB")
_CLIENT_ENV = ("FACTORY_HOME", "DAGSTER_HOME", "MLFLOW_TRACKING_URI", *(f"DAGSTER_PG_{k}" for k in _PG))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m factory.stack", description=__doc__)
    parser.add_argument("--state", required=True, help="the state directory (PostgreSQL, MLflow artifacts, ...)")
    parser.add_argument("--postgres-port", type=int, default=0, help="default: a free port")
    parser.add_argument("--mlflow-port", type=int, default=5000, help="0: a free port (default: 5000)")
    parser.add_argument("--code-server-port", type=int, default=4000, help="0: a free port (default: 4000)")
    parser.add_argument("--webserver-port", type=int, default=3000, help="0: a free port (default: 3000)")
    return parser.parse_args(argv)


def _stop_on(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    ports = Ports(args.postgres_port, args.mlflow_port, args.code_server_port, args.webserver_port)
    stack = Stack(Path(args.state).resolve(), ports=ports)
    signal.signal(signal.SIGTERM, _stop_on)
    try:
        print(f"starting the stack in {stack.state} (logs in {stack.state / 'logs'}) ...", flush=True)
        stack.start()
        for name, url in stack.urls.items():
            print(f"  {name:<12} {url}")
        print("a client of this stack (factory run, mlflow, dagster) needs:")
        for name in _CLIENT_ENV:
            print(f"  export {name}={stack.env[name]}")
        print("Ctrl-C stops every service.", flush=True)
        while not (failed := stack.failed()):
            time.sleep(1)
        print(f"stopping: {', '.join(failed)} exited (see {stack.state / 'logs'})", file=sys.stderr)
        return 1
    except (StackError, PostgresError) as error:
        print(f"the stack did not start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C or SIGTERM must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
