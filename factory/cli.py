"""The ``factory`` command line: the demo, new use cases from a data file, headless runs, predictions, spec checks,
label aggregation, dataset versions and registered models outside Dagster."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from factory.spec import SpecError, check_specs, load_spec

__all__ = ["main"]


_MAX_LISTED = 50
"""Annotators (and spammer names) printed by `labels aggregate`; the rest are counted, not listed."""


def _demo(args: argparse.Namespace) -> int:
    from factory.headless import run_demo

    run_demo(days=args.days, train_days=args.train_days)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    """`factory simulate NAME --days N --drift-day D [--seed S] [--rows-per-day R] [--home DIR]`: a line per
    day, the JSON summary last; status 2 on bad options."""
    from factory.simulate import simulate, summary_json

    try:
        summary = simulate(
            args.use_case,
            days=args.days,
            drift_day=args.drift_day,
            seed=args.seed,
            rows_per_day=args.rows_per_day,
            bootstrap_days=args.bootstrap_days,
            home=Path(args.home) if args.home else None,
        )
    except ValueError as exc:
        print(f"factory simulate: {exc}", file=sys.stderr)
        return 2
    print(summary_json(summary))
    return 0


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None


def _run(args: argparse.Namespace) -> int:
    """`factory run NAME [--from D --to D] [--retrain]`, or one job with ``--job [--day D]``; status 1 when a run
    fails (a blocking gate: its name and reason), 2 on bad options."""
    import dagster as dg

    from factory.headless import run_job, run_use_case

    try:
        if args.job is not None:
            if args.first or args.last or args.retrain:
                raise ValueError("--job runs one job: --from, --to and --retrain do not apply")
            result = run_job(args.use_case, args.job, args.day)
            print(f"run {result.run_id}: {'success' if result.success else 'failure'}")
            return 0 if result.success else 1
        if args.day is not None:
            raise ValueError("--day goes with --job; to run a range of days use --from and --to")
        if (args.first is None) != (args.last is None):
            raise ValueError("--from and --to go together")
        outcome = run_use_case(
            args.use_case,
            first=_day(args.first, "--from"),
            last=_day(args.last, "--to"),
            retrain=args.retrain,
        )
    except ValueError as exc:
        print(f"factory run: error: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        print("factory run: interrupted; the run is marked failed", file=sys.stderr)
        return 130
    if outcome.stopped is not None:
        print(f"factory run: {outcome.stopped}", file=sys.stderr)
        return 1
    return 0


def _new_usecase(args: argparse.Namespace) -> int:
    """`factory new-usecase NAME --data FILE --label COL ...`; status 2 when the file or an option is unusable."""
    from factory.new_usecase import NewUseCaseError, new_usecase
    from factory.paths import usecases_dir

    text = [c.strip() for c in args.text.split(",") if c.strip()] if args.text is not None else None
    try:
        made = new_usecase(
            args.name,
            Path(args.data),
            label=args.label,
            directory=Path(args.dir) if args.dir else usecases_dir(),
            text=text,
            id_column=args.id,
            timestamp=args.timestamp,
            group=args.group,
            force=args.force,
        )
    except NewUseCaseError as exc:
        print(f"factory new-usecase: error: {exc}", file=sys.stderr)
        return 2
    spec = made.spec
    roles = {p.role: p.name for p in made.profiles}
    print(f"{made.path}: use case '{spec.name}' from {made.facts.rows:,} rows of {args.data}")
    print(
        f"  classes: {len(spec.labeling.classes)} from column '{args.label}' ({made.facts.unlabeled:,} rows unlabeled)"
    )
    print(f"  text: {', '.join(spec.text_columns) or 'none'}; features: {', '.join(spec.feature_columns) or 'none'}")
    keys = [f"{role} {roles[role]}" for role in ("id", "timestamp") if role in roles]
    derived = [text for role, text in (("id", "content hash"), ("timestamp", "arrival day")) if role not in roles]
    print(f"  keys: {', '.join(keys) or 'none found'}" + (f" (derived: {', '.join(derived)})" if derived else ""))
    print(f"next: factory run {spec.name} --retrain")
    return 0


def _check_spec(args: argparse.Namespace) -> int:
    """Check one use-case file, or every ``*.yaml`` of a directory (each file reported, valid or not), and the
    red-team file of each valid one (``redteam/<name>.yaml`` beside it); status 2 when any is invalid."""
    from factory.core.redteam import RedTeamFileError
    from factory.resources.redteam import load_redteam_file

    target = Path(args.file)
    try:
        if target.is_dir():
            loaded = check_specs(target)
            valid, invalid = loaded.specs, loaded.invalid
        else:
            valid, invalid = [load_spec(target)], {}
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 2
    folder = target if target.is_dir() else target.parent
    bad_redteam = 0
    for spec in valid:
        where = target / f"{spec.name}.yaml" if target.is_dir() else target
        print(f"{where}: use case '{spec.name}' is valid ({len(spec.labeling.classes)} classes)")
        try:
            load_redteam_file(spec, folder)
        except RedTeamFileError as exc:
            print(exc, file=sys.stderr)
            bad_redteam += 1
    for message in invalid.values():
        print(message, file=sys.stderr)
    if target.is_dir():
        print(f"{target}: {len(valid)} valid, {len(invalid)} invalid (disabled until fixed)")
    return 2 if invalid or bad_redteam else 0


_SHOWN_CLASSES = 50
"""Classes listed by name in ``labels aggregate``'s output; past that the count says how many more."""


class _BadInput(Exception):
    """Input the command cannot use; the message says what to fix."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise _BadInput(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise _BadInput(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def _classes(args: argparse.Namespace, annotations: bytes, gold: bytes | None) -> tuple[tuple[str, ...], str]:
    """The label set and a sentence saying where it came from."""
    from factory.core.labeling import classes_in_csv

    if args.classes is not None:
        classes = tuple(dict.fromkeys(c.strip() for c in args.classes.split(",") if c.strip()))
        origin = "given with --classes"
    elif args.spec is not None:
        try:
            classes = load_spec(Path(args.spec)).labeling.classes
        except SpecError as exc:
            raise _BadInput(str(exc)) from None
        origin = f"from the spec {args.spec}"
    else:
        try:
            found = set(classes_in_csv(annotations)) | (set(classes_in_csv(gold)) if gold is not None else set())
        except ValueError as exc:
            raise _BadInput(f"cannot infer the classes: {exc}") from None
        classes = tuple(sorted(found))
        origin = "inferred from the labels in the annotations" + (" and the gold file" if gold is not None else "")
    if len(classes) < 2:
        raise _BadInput(f"need at least two classes, got {list(classes)} ({origin})")
    return classes, origin


def _labels_aggregate(args: argparse.Namespace) -> int:
    import polars as pl

    from factory.core.labeling import (
        aggregate,
        annotator_scores,
        crowd_agreement,
        kappa_pairs,
        read_annotations_csv,
        read_gold_csv,
    )
    from factory.core.safe_text import csv_safe

    try:
        raw = _read(args.annotations, "annotations")
        gold_raw = _read(args.gold, "gold") if args.gold else None
        classes, origin = _classes(args, raw, gold_raw)
        try:
            imported = read_annotations_csv(raw, classes)
        except ValueError as exc:
            raise _BadInput(f"{args.annotations}: {exc}") from None
        try:
            gold = read_gold_csv(gold_raw, classes) if gold_raw is not None else None
        except ValueError as exc:
            raise _BadInput(f"{args.gold}: {exc}") from None
        annotations = imported.annotations
        rejects = imported.rejects
        if annotations.is_empty():
            reasons = ", ".join(f"{r} {n}" for r, n in rejects.group_by("reason").len().sort("reason").iter_rows())
            raise _BadInput(f"{args.annotations}: no usable annotation ({reasons or 'the file holds no rows'})")
        try:
            aggregation = aggregate(annotations, classes, method=args.method, gold=gold)
        except ValueError as exc:  # a limit checked before allocating (the memory budget), or bad gold
            raise _BadInput(str(exc)) from None
    except _BadInput as exc:
        print(f"factory labels aggregate: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_safe(aggregation.labels.select("item_id", "label", "confidence")).write_csv(out)
    if args.rejects:
        csv_safe(rejects).write_csv(Path(args.rejects))
    consensus = aggregation.labels.select("item_id", "label")
    compared = kappa_pairs(annotations, classes)
    scores = annotator_scores(annotations, consensus, classes, gold, pairs=compared.pairs)
    spammers = scores.filter(pl.col("spammer")).get_column("annotator").to_list()
    agreement = crowd_agreement(annotations, classes, spammers)
    method = {"ds": "Dawid-Skene", "mv": "majority vote"}[args.method]
    shown = ", ".join(classes[:_SHOWN_CLASSES]) + (
        f", ... ({len(classes) - _SHOWN_CLASSES} more)" if len(classes) > _SHOWN_CLASSES else ""
    )
    print(f"classes: {len(classes)} {origin}: {shown}")
    print(f"annotations: {annotations.height} read from {args.annotations}, {rejects.height} rejected", end="")
    if rejects.height:
        counts = rejects.group_by("reason").len().sort("reason").iter_rows()
        print(f" ({', '.join(f'{r} {n}' for r, n in counts)})", end="")
    print()
    from_gold = int((aggregation.labels["source"] == "gold").sum())
    print(f"labels: {aggregation.labels.height} items by {method} ({from_gold} fixed to gold) written to {out}")
    print(
        f"Krippendorff's alpha {_fmt(agreement.everyone.krippendorff_alpha)}"
        + (f" ({_fmt(agreement.trusted.krippendorff_alpha)} without spammers)" if spammers else "")
        + f", Fleiss' kappa {_fmt(agreement.everyone.fleiss_kappa)}"
        + f", mean pairwise agreement {_fmt(agreement.everyone.mean_pairwise_agreement)}"
    )
    print(f"{'annotator':<20} {'annotations':>11} {'gold acc':>9} {'consensus acc':>13} {'kappa':>7}  spammer")
    listed_scores = scores.sort(
        ["spammer", "annotations", "annotator"], descending=[True, True, False], nulls_last=True
    )
    for row in listed_scores.head(_MAX_LISTED).iter_rows(named=True):
        print(
            f"{row['annotator']:<20} {row['annotations']:>11} {_fmt(row['gold_accuracy']):>9} "
            f"{_fmt(row['consensus_accuracy']):>13} {_fmt(row['consensus_kappa']):>7}  "
            f"{'yes' if row['spammer'] else 'no'}"
        )
    if scores.height > _MAX_LISTED:
        print(f"... {scores.height - _MAX_LISTED} more annotators (spammers and the busiest are listed first)")
    listed = ", ".join(str(name) for name in spammers[:_MAX_LISTED]) or "none"
    more = f" and {len(spammers) - _MAX_LISTED} more" if len(spammers) > _MAX_LISTED else ""
    print(f"spammers flagged: {listed}{more}")
    if compared.note:
        print(compared.note)
    return 0


def _dataset(args: argparse.Namespace) -> int:
    """`factory dataset list|show|checkout|rollback`: published versions, read straight from the store."""
    from factory import datasets
    from factory.defs.resources import build_resources
    from factory.resources.versioning import VersionStoreError

    try:
        store = build_resources()["versions"].open()
        if args.dataset_command == "list":
            lines = [
                (
                    v.number,
                    f"{v.tag}  {v.commit.id[:12]}  rows {v.commit.metadata.get('rows', '?')}  {v.commit.message}",
                )
                for v in datasets.list_versions(store, args.use_case)
            ]
            lines += [
                (d.number, f"{d.tag}  DAMAGED  {d.reason}") for d in datasets.damaged_versions(store, args.use_case)
            ]
            for _, line in sorted(lines):
                print(line)
        elif args.dataset_command == "show":
            print(datasets.show(store, args.use_case, args.version))
        elif args.dataset_command == "checkout":
            for path in datasets.checkout(store, args.use_case, args.version, Path(args.out)):
                print(path)
        else:
            restored = datasets.rollback(store, args.use_case, args.version, args.reason)
            print(f"main now holds {restored.commit.metadata['rollback_to']}'s content, published as {restored.tag}")
    except (VersionStoreError, ValueError) as error:
        print(f"factory dataset: {error}", file=sys.stderr)
        return 2
    return 0


def _model(args: argparse.Namespace) -> int:
    """`factory model list|show|rollback`: registered versions and the champion alias, read from MLflow."""
    from mlflow.exceptions import MlflowException

    from factory import models
    from factory.defs.resources import build_resources

    try:
        tracking = build_resources()["tracking"]
        if args.model_command == "list":
            print("\n".join(models.list_lines(tracking, args.use_case)))
        elif args.model_command == "show":
            print(models.show(tracking, args.use_case, args.version))
        else:
            print(models.rollback(tracking, args.use_case, args.to, args.reason))
    except (models.ModelError, MlflowException, ValueError) as error:
        print(f"factory model: {error}", file=sys.stderr)
        return 2
    return 0


def _predict(args: argparse.Namespace) -> int:
    """`factory predict NAME --input FILE --out FILE [--model champion|vN]`; status 2 on unusable input."""
    from mlflow.exceptions import MlflowException

    from factory.defs.resources import build_resources
    from factory.paths import usecases_dir
    from factory.predicting import PredictError, predict_file

    try:
        specs = {spec.name: spec for spec in check_specs(usecases_dir()).specs}
        if args.use_case not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise PredictError(f"no valid use case named {args.use_case!r} in {usecases_dir()} (valid: {known})")
        tracking = build_resources()["tracking"]
        done = predict_file(specs[args.use_case], tracking, Path(args.input), Path(args.out), args.model)
    except (PredictError, SpecError, MlflowException) as exc:
        print(f"factory predict: error: {exc}", file=sys.stderr)
        return 2
    print(f"{done.rows} predictions by {args.use_case} v{done.model_version} written to {done.out}")
    return 0


def _health(args: argparse.Namespace) -> int:
    """`factory health NAME [--day D]`: the stored health table; status 1 when the verdict is red, 2 when nothing
    is stored for the use case (or that day)."""
    from factory.defs.resources import build_resources
    from factory.health_report import health_report

    try:
        day = _day(args.day, "--day")
        report = health_report(build_resources()["warehouse"], args.use_case, day.isoformat() if day else None)
    except ValueError as error:
        print(f"factory health: {error}", file=sys.stderr)
        return 2
    print("\n".join(report.lines))
    return 1 if report.verdict == "red" else 0


def _fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"  # value != value: NaN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="factory", description="AI Factory command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run every layer headless on the demo data and print a summary")
    demo.add_argument("--days", type=int, default=8, help="demo days to run (default 8)")
    demo.add_argument("--train-days", type=int, default=5, help="days before the first retrain (default 5)")
    demo.set_defaults(handler=_demo)
    sim = commands.add_parser(
        "simulate",
        help="run the continuous-learning loop over simulated days on a demo source and measure it",
        description=(
            "Stream DAYS demo days with a drift from DRIFT_DAY, evaluating the nightly schedule, the labeling "
            "sensor and the drift sensor as Dagster would, in a fresh temporary FACTORY_HOME (or --home). Prints "
            "per day the champion, its macro F1 on the demo's hidden truth, the drift score and the retrain "
            "decision, then a JSON summary line (detection delay, false fires, retrains, recovery, oracle)."
        ),
    )
    sim.add_argument("use_case", metavar="NAME", help="a use case with a demo source")
    sim.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    sim.add_argument("--drift-day", type=int, default=15, help="1-based day the drift starts (default 15)")
    sim.add_argument("--seed", type=int, default=None, help="seed of the demo stream (default: the spec's)")
    sim.add_argument(
        "--rows-per-day",
        type=int,
        default=None,
        help="cap on the demo rows per day (default: the demo source's simulation_rows_per_day, else 500; the "
        "spec's rows_per_day when smaller)",
    )
    sim.add_argument(
        "--bootstrap-days", type=int, default=5, help="days before the first (bootstrap) retrain (default 5)"
    )
    sim.add_argument("--home", default=None, help="keep the state in this folder instead of a temporary one")
    sim.set_defaults(handler=_simulate)
    new = commands.add_parser(
        "new-usecase",
        help="write a use case from a labeled CSV, JSONL or Parquet file, registered in place as its source",
        description=(
            "Infer column types, text, categorical and numeric columns and the class list from FILE, and write "
            "DIR/NAME.yaml reading FILE where it is. The id and timestamp are inferred when not given (an 'id' or "
            "'*_id' column with distinct values; the first timestamp column); the group is only taken when given."
        ),
    )
    new.add_argument("name", help="the use case's name: lower-case letters, digits and underscores")
    new.add_argument("--data", required=True, metavar="FILE", help=".csv, .jsonl or .parquet")
    new.add_argument("--label", required=True, metavar="COL", help="the column holding each row's class")
    new.add_argument("--text", metavar="COL,...", help="the free-text columns (default: inferred)")
    new.add_argument("--id", metavar="COL", help="the id column (default: inferred, else a content hash)")
    new.add_argument("--timestamp", metavar="COL", help="the timestamp column (default: inferred, else arrival)")
    new.add_argument("--group", metavar="COL", help="the group key of the splits (default: the id)")
    new.add_argument("--dir", metavar="DIR", help="where to write NAME.yaml (default: the use-case directory)")
    new.add_argument("--force", action="store_true", help="replace an existing NAME.yaml")
    new.set_defaults(handler=_new_usecase)
    run = commands.add_parser(
        "run",
        help="run a use case headless: its daily layers for every day with data, then --retrain",
        description=(
            "Run the daily job for every day a source has data for (or the days from --from to --to), then with "
            "--retrain the retrain job (stage, gate, publish, train, promote). Prints a line per layer after "
            "each run and a summary; exits 1 naming the blocking gate that stopped a run. --job runs one job "
            "as its schedule would (dead runs' pool slots freed first). Runs go to the Dagster instance at "
            "DAGSTER_HOME when it is set."
        ),
    )
    run.add_argument("use_case")
    run.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first day to run (with --to)")
    run.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last day to run (with --from)")
    run.add_argument("--retrain", action="store_true", help="then stage, gate, publish, train and promote")
    run.add_argument("--job", choices=("daily", "labeling", "retrain"), help="run this one job only")
    run.add_argument("--day", metavar="YYYY-MM-DD", help="the day (partition) of a --job daily or labeling run")
    run.set_defaults(handler=_run)
    predicting = commands.add_parser(
        "predict",
        help="label every row of a CSV, JSONL or Parquet file with a registered model of a use case",
        description=(
            "Write one row per input row, in order: the use case's id column when the input has it (else row, "
            "numbered from 1), label and confidence. The input needs the use case's text and feature columns; "
            "other columns are ignored. The output format follows --out's extension (.csv, .jsonl, .parquet); "
            "CSV text cells that start like a formula get a leading '."
        ),
    )
    predicting.add_argument("use_case")
    predicting.add_argument("--input", required=True, metavar="FILE", help=".csv, .jsonl or .parquet")
    predicting.add_argument("--out", required=True, metavar="FILE", help=".csv, .jsonl or .parquet")
    predicting.add_argument("--model", default="champion", metavar="champion|vN", help="default: champion")
    predicting.set_defaults(handler=_predict)
    health = commands.add_parser(
        "health",
        help="the factory health of a use case: overall verdict, layers, KPIs needing attention, the whole table",
        description=(
            "Print the health table the factory_health asset stored for a use case (the newest day, or --day): "
            "the overall verdict first (the worst layer), each layer's verdict, the KPIs that are red or yellow "
            "with their bounds and what is behind them, then every KPI with today's value, its trend over the "
            "window (health.window_days), its bounds and verdict. Exit status: 0 when the overall verdict is "
            "green or yellow, 1 when it is red, 2 when no health is stored for the use case or that day."
        ),
    )
    health.add_argument("use_case")
    health.add_argument("--day", metavar="YYYY-MM-DD", help="the day to show (default: the newest stored)")
    health.set_defaults(handler=_health)
    spec = commands.add_parser("check-spec", help="validate a use-case YAML file, or every one in a directory")
    spec.add_argument("file", metavar="FILE_OR_DIR")
    spec.set_defaults(handler=_check_spec)
    labels = commands.add_parser("labels", help="label tools that work on files, outside Dagster")
    label_commands = labels.add_subparsers(dest="labels_command", required=True)
    aggregate = label_commands.add_parser(
        "aggregate",
        help="aggregate an annotation CSV into one label per item and print the annotators' quality figures",
        description=(
            "Read a CSV of item_id, annotator, label, created_at; write item_id, label, confidence. The classes "
            "come from --classes, or --spec, or else the labels found in the files (the output says which). "
            "A text cell starting with =, +, -, @, a tab or a carriage return is written with a leading ' so no "
            "spreadsheet runs it as a formula."
        ),
    )
    aggregate.add_argument(
        "--annotations", required=True, metavar="FILE.csv", help="item_id,annotator,label,created_at"
    )
    aggregate.add_argument("--gold", metavar="FILE.csv", help="gold labels: item_id,label (fixed in the output)")
    aggregate.add_argument(
        "--method", choices=("ds", "mv"), default="ds", help="Dawid-Skene (default) or majority vote"
    )
    aggregate.add_argument("--out", required=True, metavar="FILE.csv", help="where to write item_id,label,confidence")
    taxonomy = aggregate.add_mutually_exclusive_group()
    taxonomy.add_argument("--classes", metavar="a,b,c", help="the label set, comma separated")
    taxonomy.add_argument("--spec", metavar="USECASE.yaml", help="take the label set from a use-case spec")
    aggregate.add_argument("--rejects", metavar="FILE.csv", help="also write the rejected rows with their reasons")
    aggregate.set_defaults(handler=_labels_aggregate)
    dataset = commands.add_parser("dataset", help="published dataset versions: list, show, checkout, rollback")
    dataset_commands = dataset.add_subparsers(dest="dataset_command", required=True)
    listing = dataset_commands.add_parser("list", help="every published version of a use case")
    listing.add_argument("use_case")
    for name, text in (
        ("show", "a version's lineage, row counts, splits and label mix"),
        ("checkout", "write a version's Parquet, data card and commit record into a folder"),
        ("rollback", "commit a version's content on main again and publish it as the next version"),
    ):
        command = dataset_commands.add_parser(name, help=text)
        command.add_argument("use_case")
        command.add_argument("version", help="v3, 3, <use_case>/v3 or latest")
        if name == "checkout":
            command.add_argument("--out", default=".", metavar="DIR", help="folder to write into (default .)")
        if name == "rollback":
            command.add_argument("--reason", required=True, help="why, recorded in the commit")
    for command in (listing, *dataset_commands.choices.values()):
        command.set_defaults(handler=_dataset)
    model = commands.add_parser("model", help="registered model versions: list, show, rollback the champion")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    model_list = model_commands.add_parser("list", help="every registered version, its test metrics and the champion")
    model_show = model_commands.add_parser("show", help="a version's lineage tags, metrics and model card")
    model_show.add_argument("--version", default="champion", help="v3, 3 or champion (default)")
    model_rollback = model_commands.add_parser(
        "rollback", help="move the champion alias to an earlier version; predictions follow the alias"
    )
    model_rollback.add_argument(
        "--to", metavar="vN", help="the version (default: the previous champion, else the one below the current)"
    )
    model_rollback.add_argument("--reason", required=True, help="why, recorded on the version")
    for command in (model_list, model_show, model_rollback):
        command.add_argument("use_case")
        command.set_defaults(handler=_model)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
