"""The ``factory`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from factory.spec import SpecError, load_spec

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from factory.headless import run_demo

    run_demo(days=args.days, train_days=args.train_days)
    return 0


def _check_spec(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(Path(args.file))
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: use case '{spec.name}' is valid ({len(spec.labeling.classes)} classes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="factory", description="AI Factory command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run every layer headless on the demo data and print a summary")
    demo.add_argument("--days", type=int, default=8, help="demo days to run (default 8)")
    demo.add_argument("--train-days", type=int, default=5, help="days before the first retrain (default 5)")
    demo.set_defaults(handler=_demo)
    spec = commands.add_parser("check-spec", help="validate a use-case YAML file")
    spec.add_argument("file")
    spec.set_defaults(handler=_check_spec)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
