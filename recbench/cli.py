"""The ``recbench`` command: run | submit | evaluate | leaderboard | study | runs | data | ui |
server.

``recbench run`` hands its arguments to Hydra (overrides, ``-m`` for sweeps) after checking
every value of every sweep dimension, so a typo fails in one line before anything runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys

from recbench.errors import RecbenchError
from recbench.evaluation.registry import (HEADLINE, HEADLINE_BEYOND, HEADLINE_CTR,
                                          HEADLINE_OPTIONAL_CTR)

DEFAULT_EVAL_METRICS = "ndcg@10,recall@10,precision@10,map@10,mrr@10,hit@10,f1@10"


# ------------------------------------------------------------------------------ run
def cmd_run(overrides: list[str]) -> int:
    """``recbench run [--rerun] [-m] [overrides]``: one run, or a sweep under a parent run;
    ``hparams_search=a,b`` runs one search per model, in turn (Hydra cannot sweep over the
    sweeper itself)."""
    from recbench.launch import launch

    searches = [o for o in overrides if o.startswith("hparams_search=") and "," in o]
    if not searches:
        return launch(overrides)
    values = searches[0].split("=", 1)[1].split(",")
    return max(launch([o if o != searches[0] else f"hparams_search={v.strip()}"
                       for o in overrides]) for v in values)


# ------------------------------------------------------------------------ the others
def _existing_store(uri: str | None):
    """Client of the store to read. A sqlite store must exist: reading never creates one
    (MLflow would create an empty store, then answer "unknown experiment")."""
    from recbench.tracking.store import client_for, resolve_store, sqlite_path

    path = sqlite_path(resolve_store(uri, None)[0])
    if path is not None and not path.exists():
        raise RecbenchError(f"no MLflow store at {path.absolute()}: run an experiment first, "
                            f"or pass the store's --tracking-uri.")
    return client_for(uri)


def cmd_evaluate(args) -> int:
    from recbench.evaluation.metrics import parse_metric
    from recbench.evaluation.trec import evaluate_trec, read_qrels, read_run

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    for m in metrics:
        parse_metric(m)
    train = read_qrels(args.train) if args.train else None
    result = evaluate_trec(read_qrels(args.qrels), read_run(args.run), metrics, train)
    print(json.dumps(result))
    return 0


def cmd_leaderboard(args) -> int:
    from recbench.report.leaderboard import leaderboards, print_aggregate, print_boards
    from recbench.report.publish import publish
    from recbench.report.stability import attach_stability, resampling
    from recbench.safe_names import check_name

    experiments = list(dict.fromkeys([*args.experiments, *(args.experiment or [])]))
    if not experiments:
        raise RecbenchError("name the MLflow experiment(s): recbench leaderboard NAME [NAME ...].")
    from recbench.evaluation.registry import parse_column

    metrics = None  # the headline columns of the runs' task
    if args.metrics is not None:
        canonical = [".".join(filter(None, parse_column(m))) for m in args.metrics.split(",")
                     if m.strip()]
        metrics = list(dict.fromkeys(canonical))  # NDCG@10 -> ndcg@10, each once
        if not metrics:
            raise RecbenchError("no metrics given; e.g. --metrics ndcg@10,recall@10.")
    if not 0 < args.alpha < 1:
        raise RecbenchError(f"--alpha must be in (0, 1), got {args.alpha}.")
    resamples, seed = resampling(args.bootstrap, args.bootstrap_seed, args.stability)
    filters = {k: v for k, v in (("dataset", args.dataset), ("split", args.split),
                                 ("model", args.model)) if v}
    for item in args.tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecbenchError(f"--tag takes NAME=VALUE, got '{item}'.")
        filters[key] = value
    name = args.name or "+".join(experiments)  # a folder under --out-dir: a plain name
    check_name(name, "leaderboard name (--name; default: the experiments joined by +)",
               "--name my_leaderboard")
    client = _existing_store(args.tracking_uri)
    # --aggregate ranks over every (dataset, split): one board each, as --group makes them
    boards, metrics = leaderboards(client, experiments, metrics, filters,
                                   group=args.group or args.aggregate, keep_seeds=args.stability)
    summary = None
    if args.aggregate:
        from recbench.report.aggregate import aggregate
        summary = aggregate(boards, metrics[0])
    if args.stability:
        attach_stability(boards, metrics[0], resamples, seed)
    written = publish(name, experiments, boards, metrics, args.alpha, Path(args.out_dir),
                      summary)
    print_boards(boards, metrics, args.alpha, name)  # after publishing: errors come alone
    if summary is not None:
        print_aggregate(summary, name)
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_study_sampled_vs_full(args) -> int:
    """``recbench study sampled-vs-full``: sampled vs full ranking on re-fitted runs. Every
    option (the output folder included) is checked before the first re-fit."""
    from recbench.study.sampled_vs_full import parse_protocols, sampled_vs_full
    from recbench.study.sampled_vs_full_report import study_folder, write_study
    from recbench.verbosity import configure_logging

    protocols = parse_protocols(args.n, args.sampler, args.corrected, args.gamma)
    try:
        seed = int(args.seed)
    except ValueError:
        seed = -1
    if seed < 0:
        raise RecbenchError(f"--seed takes an integer >= 0, got '{args.seed}'.")
    filters = {k: v for k, v in (("dataset", args.dataset), ("split", args.split)) if v}
    for item in args.tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RecbenchError(f"--tag takes NAME=VALUE, got '{item}'.")
        filters[key] = value
    name = args.name or args.experiment
    study_folder(Path(args.out_dir), name)  # hours of re-fits must not end on a bad --name
    client = _existing_store(args.tracking_uri)
    configure_logging(verbose=False)  # one progress line per re-fitted run, nothing else
    result = sampled_vs_full(client, args.experiment, protocols, args.metrics, filters,
                             group=args.group, seed=seed, progress=lambda s: print(s, flush=True))
    for path in write_study(result, Path(args.out_dir), name):
        print(f"wrote {path}")
    return 0


def cmd_study_data_fraction(args) -> int:
    """``recbench study data-fraction``: each leaderboard model re-run on shares of train."""
    from recbench.study import data_fraction as study
    from recbench.verbosity import configure_logging

    fractions, seeds = study.parse_fractions(args.fractions), study.parse_seeds(args.seeds)
    filters = {k: v for k, v in (("dataset", args.dataset), ("split", args.split)) if v}
    client = _existing_store(args.tracking_uri)
    boards = study.check(client, args.experiment, args.metric, filters, Path(args.out_dir))
    configure_logging(verbose=False)  # one progress line per run, nothing else
    try:
        failed = study.launch(client, boards, fractions, seeds, args.tracking_uri,
                              args.experiment + study.SUFFIX)
    except KeyboardInterrupt:
        print("interrupted: the current run is marked KILLED in MLflow; run the same "
              "command again to finish the missing runs.", file=sys.stderr)
        return 130
    for path in study.publish(client, args.experiment, args.metric, Path(args.out_dir)):
        print(f"wrote {path}")
    if failed:
        print(f"{failed} run(s) failed (FAILED in MLflow, each with its traceback); the "
              f"curves show the others.", file=sys.stderr)
    return 1 if failed else 0


#: ``recbench study NAME``: one function per study
STUDIES = {"sampled-vs-full": cmd_study_sampled_vs_full,
           "data-fraction": cmd_study_data_fraction}


def cmd_study(args) -> int:
    return STUDIES[args.study](args)


def cmd_reproductions(args) -> int:
    """``recbench reproductions``: ours vs published numbers and fit times (results/zoo/)."""
    from recbench.report.reproductions import write_reproductions

    client = _existing_store(args.tracking_uri)
    for path in write_reproductions(client, args.experiments, Path(args.published),
                                    Path(args.out_dir)):
        print(f"wrote {path}")
    print((Path(args.out_dir) / "README.md").read_text())
    return 0


def cmd_runs(args) -> int:
    """``recbench runs``: a table of runs (all experiments, or one), optionally by status."""
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table

    client = _existing_store(args.tracking_uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if args.experiment:
        wanted = [i for i, n in experiments.items() if n == args.experiment]
        if not wanted:
            from recbench.errors import unknown_choice
            raise unknown_choice("experiment", args.experiment, experiments.values())
    else:
        wanted = list(experiments)
    status = args.status.upper() if args.status else None
    if status and status not in ("RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"):
        from recbench.errors import unknown_choice
        raise unknown_choice("status", args.status, ("RUNNING", "FINISHED", "FAILED", "KILLED"))
    runs = client.search_runs(wanted, f"attributes.status = '{status}'" if status else "",
                              max_results=args.limit, order_by=["attributes.start_time DESC"])
    table = Table(title=f"recbench runs ({len(runs)} shown)")
    for col in ("experiment", "run", "status", "model", "dataset", "split", "seed",
                "test_ndcg_10", "parent", "started"):
        table.add_column(col, justify="right" if col in ("seed", "test_ndcg_10") else "left")
    for r in runs:
        tags, ndcg = r.data.tags, r.data.metrics.get("test_ndcg_10")
        is_sweep = tags.get("recbench.sweep") == "true"
        table.add_row(experiments.get(r.info.experiment_id, "?"), r.info.run_id[:12],
                      r.info.status, "(sweep)" if is_sweep else tags.get("model", "-"),
                      tags.get("dataset", "-"), tags.get("split", "-"), tags.get("seed", "-"),
                      f"{ndcg:.4f}" if ndcg is not None else "-",
                      tags.get("mlflow.parentRunId", "-")[:12],
                      datetime.fromtimestamp(r.info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S"))
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
    return 0


def cmd_data(args) -> int:
    from rich.console import Console
    from rich.markdown import Markdown

    from recbench.config import build, compose, group_options
    from recbench.data.describe import describe, to_markdown, write_description

    console = Console() if sys.stdout.isatty() else Console(width=200)
    if args.action == "list":
        from omegaconf import OmegaConf
        from recbench.paths import CONFIG_DIR
        from recbench.data.downloads import checksum_note
        rows = ["| dataset | format | root | files | download check | about |",
                "|---|---|---|---|---|---|"]
        for name in group_options("dataset"):
            node = OmegaConf.load(CONFIG_DIR / "dataset" / f"{name}.yaml")
            about = (CONFIG_DIR / "dataset" / f"{name}.yaml").read_text().splitlines()[0]
            files = ", ".join(f"{k}: {v}" for k, v in (node.get("files") or {}).items())
            kind = node.get("format") or ("csv (CTR)" if "label_column" in node else "generated")
            rows.append(f"| {name} | {kind} | {node.get('root', '-')} "
                        f"| {files or '-'} | {checksum_note(node.get('root', '-'))} "
                        f"| {about.lstrip('# ')} |")
        console.print(Markdown("\n".join(rows)))
        return 0
    overrides = args.overrides or ["dataset=ml-100k"]
    cfg = compose(overrides)
    if args.action == "export":
        from recbench.config import validate
        from recbench.splits.export import FORMATS, PARTS, export, parse_choices
        if not args.out:
            raise RecbenchError("recbench data export needs --out DIR (the folder to write).")
        formats = parse_choices(args.format, FORMATS, "--format")
        parts = parse_choices(args.part, PARTS, "--part")
        if not any(o.startswith("model=") for o in overrides):  # a model of either task
            cfg = compose([*overrides, "model=submission"])
        validate(cfg)
        written = export(cfg, Path(args.out), formats, parts)
        for path in written:
            print(f"wrote {path}")
        protocol = json.loads(written[-1].read_text())
        print(f"next: predict for the {' and '.join(protocol['parts'])} part(s) as "
              f"{written[-1]} says, then recbench submit FILE --label NAME "
              + " ".join(overrides))
        return 0
    if args.action == "split":
        from recbench.config import resolved
        from recbench.splits.make import make_split
        plain = resolved(cfg)
        split = make_split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                           build(cfg, "split"))
        report = {"dataset": cfg.dataset.name, "split": cfg.split.name,
                  "fingerprint": split.fingerprint["sha256"], "cache": split.fingerprint["cache"],
                  **split.fingerprint["stats"], "leakage": split.leakage}
        print(json.dumps(report, indent=2))
        return 0
    stats = describe(build(cfg, "dataset")())
    console.print(Markdown(to_markdown(stats)))
    print(f"wrote {write_description(stats, args.out_dir)}")
    return 0


def _quoted(value: str) -> str:
    """A Hydra override value that stays one string (commas, spaces, ``$``, quotes)."""
    import re

    # Hydra's quoted strings: a backslash is literal unless it precedes a quote (or ends
    # the string); \${ is a literal ${
    escaped = re.sub(r"(\\*)('|$)", lambda m: m[1] * 2 + ("\\'" if m[2] else ""), value)
    return "'" + escaped.replace("${", "\\${") + "'"


def cmd_submit(args) -> int:
    """``recbench submit RUN --label NAME [overrides]``: ``recbench run model=submission``."""
    options = {"file": args.file, "label": args.label, "valid_file": args.valid,
               "description": args.description, "url": args.url}
    return cmd_run([*args.overrides, "model=submission",
                    *(f"model.{k}={_quoted(v)}" for k, v in options.items() if v is not None),
                    *(["model.drop_masked=true"] if args.drop_masked else [])])


def cmd_server(args) -> int:
    """``recbench server``: an MLflow tracking server for sweeps from many processes/machines.

    Binds 127.0.0.1 unless told otherwise; backend store sqlite (default) or any SQLAlchemy
    URI, e.g. ``postgresql://user:password@127.0.0.1:5432/mlflow``; artifacts are served by
    the server from ``--artifacts-destination``. Point runs at it with
    ``tracking.uri=http://127.0.0.1:PORT``.
    """
    backend = args.backend_store_uri or f"sqlite:///{Path.cwd() / 'mlflow-server.db'}"
    artifacts = str(Path(args.artifacts_destination).resolve())
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
               "--artifacts-destination", artifacts, "--serve-artifacts",
               "--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    print(f"MLflow server on http://{args.host}:{args.port} (backend {backend}, artifacts "
          f"{artifacts}); runs: tracking.uri=http://{args.host}:{args.port}", flush=True)
    os.execv(sys.executable, command)


def cmd_ui(args) -> int:
    from recbench.tracking.store import resolve_store

    uri, artifact_root = resolve_store(args.tracking_uri, None)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port)]
    if artifact_root:
        command += ["--default-artifact-root", artifact_root]
    print(f"MLflow UI on http://{args.host}:{args.port} over {uri} (Ctrl-C to stop)", flush=True)
    os.execv(sys.executable, command)  # become the server: signals reach it directly


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recbench", description="Benchmark recommender systems: "
                                "full-ranking evaluation, tracked in MLflow.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run one config or a sweep: recbench run [-m] [key=value ...]",
                   add_help=False)
    ev = sub.add_parser("evaluate", help="score a TREC run file against a qrels file")
    ev.add_argument("--qrels", required=True, help="qrels: qid 0 docid rel")
    ev.add_argument("--run", required=True, help="run: qid Q0 docid rank score tag")
    ev.add_argument("--metrics", default=DEFAULT_EVAL_METRICS, help="comma-separated metric@k")
    ev.add_argument("--train", default=None,
                    help="train interactions (qid 0 docid 1): needed by beyond-accuracy "
                         "metrics (coverage@10, arp@10, ild@10, ...)")
    lb = sub.add_parser("leaderboard", help="publish the leaderboard of MLflow experiment(s): "
                                            "tables, significance, plots, HTML")
    lb.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                    help="MLflow experiment name(s); their runs are pooled")
    lb.add_argument("--experiment", action="append", help=argparse.SUPPRESS)  # old spelling
    lb.add_argument("--metrics", default=None,
                    help="columns, comma-separated metric@k or a per-group slice such as "
                         "ndcg@10.gender_gap (the first sorts the table); default: "
                         f"{','.join(HEADLINE)}, then those of "
                         f"{','.join(HEADLINE_BEYOND)} that every run logged; CTR runs: "
                         f"{','.join(HEADLINE_CTR)}, then those of "
                         f"{','.join(HEADLINE_OPTIONAL_CTR)} that every run logged")
    lb.add_argument("--dataset", help="only runs on this data set")
    lb.add_argument("--split", help="only runs under this split protocol")
    lb.add_argument("--model", help="only runs of this model")
    lb.add_argument("--tag", action="append", metavar="NAME=VALUE",
                    help="only runs whose tag or param NAME equals VALUE (repeatable)")
    lb.add_argument("--group", action="store_true",
                    help="one table per (dataset, split) when the runs span several")
    lb.add_argument("--alpha", type=float, default=0.05,
                    help="significance level after Holm-Bonferroni correction")
    lb.add_argument("--stability", action="store_true",
                    help="add P(rank 1) and a 95%% interval of each model's rank on the "
                         "first column: paired bootstrap over test users, one seed of each "
                         "model drawn at random per resample (stability.csv, rank plots)")
    lb.add_argument("--bootstrap", type=int, default=None, metavar="N",
                    help="resamples of --stability (default 1000, at least 100)")
    lb.add_argument("--bootstrap-seed", type=int, default=None, metavar="SEED",
                    help="seed of the --stability resamples (default 0)")
    lb.add_argument("--aggregate", action="store_true",
                    help="also rank the models on every board (each dataset · split one data "
                         "set; implies --group) by mean rank, Borda count and performance "
                         "profiles (aggregate.csv, profile plot)")
    lb.add_argument("--name", help="output folder under --out-dir (default: the experiments)")
    lb.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    lb.add_argument("--out-dir", default="results")
    rep = sub.add_parser("reproductions", help="our runs of published settings next to the "
                                               "published numbers, and fit times")
    rep.add_argument("experiments", nargs="+", metavar="EXPERIMENT",
                     help="MLflow experiment name(s), e.g. repro_gowalla_m1")
    rep.add_argument("--published", default="results/published.yaml",
                     help="published numbers (dataset, model, metrics, source)")
    rep.add_argument("--out-dir", default="results/zoo")
    rep.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    study = sub.add_parser("study", help="how far a leaderboard can be trusted: sampled vs "
                                         "full ranking, data-fraction learning curves")
    studies = study.add_subparsers(dest="study", required=True)
    svf = studies.add_parser("sampled-vs-full", help="do sampled ranking metrics order the "
                                                     "models as full ranking does?")
    svf.add_argument("experiment", metavar="EXPERIMENT", help="MLflow experiment name")
    svf.add_argument("--n", default="100", help="items sampled per user (comma-separated)")
    svf.add_argument("--sampler", default="uniform,popularity",
                     help="uniform and/or popularity (comma-separated)")
    svf.add_argument("--corrected", action="store_true",
                     help="add Krichene & Rendle's corrected sampled metric (uniform sampler)")
    svf.add_argument("--gamma", default="0.01",
                     help="bias-variance weights of the correction, comma-separated (0: "
                          "minimal bias, whose values blow up at small --n)")
    svf.add_argument("--seed", default="0", help="seed of the sampled items (with the split)")
    svf.add_argument("--metrics", default=None,
                     help="accuracy metrics, e.g. ndcg@10,recall@10 (default: ndcg, recall, "
                          "hit, mrr at every K the runs logged)")
    svf.add_argument("--dataset", help="only runs on this data set")
    svf.add_argument("--split", help="only runs under this split protocol")
    svf.add_argument("--tag", action="append", metavar="NAME=VALUE",
                     help="only runs whose tag or param NAME equals VALUE (repeatable), "
                          "e.g. --tag ranking=full")
    svf.add_argument("--group", action="store_true",
                     help="one study per (dataset, split) when the runs span several")
    svf.add_argument("--name", help="output folder under --out-dir (default: the experiment); "
                                    "files go to NAME/sampled_vs_full/")
    svf.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    svf.add_argument("--out-dir", default="results")
    frac = studies.add_parser("data-fraction", help="learning curves: each leaderboard model "
                                                    "re-run on shares of every user's train "
                                                    "part (tracked runs)")
    frac.add_argument("experiment", metavar="EXPERIMENT", help="MLflow experiment name; runs "
                                                               "go to EXPERIMENT_data_fraction")
    frac.add_argument("--fractions", default="0.1,0.25,0.5,0.75,1.0",
                      help="values of split.train_fraction, comma-separated")
    frac.add_argument("--seeds", default="1,2,3", help="run seeds, comma-separated")
    frac.add_argument("--metric", default="ndcg@10", help="the test metric plotted")
    frac.add_argument("--dataset", help="only the boards of this data set")
    frac.add_argument("--split", help="only the boards of this split protocol")
    frac.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    frac.add_argument("--out-dir", default="results")
    runs = sub.add_parser("runs", help="list runs of the MLflow store (filter by experiment, status)")
    runs.add_argument("--experiment", default=None)
    runs.add_argument("--status", default=None, help="RUNNING, FINISHED, FAILED or KILLED")
    runs.add_argument("--limit", type=int, default=100)
    runs.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    data = sub.add_parser("data", help="list data sets; describe one, show its split and "
                                       "leakage, or export the split for a submission "
                                       "(dataset=NAME split=NAME ...)")
    data.add_argument("action", choices=["list", "describe", "split", "export"])
    data.add_argument("overrides", nargs="*", help="config overrides, e.g. dataset=gowalla_m1")
    data.add_argument("--out-dir", default="results")
    data.add_argument("--out", help="export: the folder to write the split and protocol.json to")
    data.add_argument("--format", default="csv,trec,recbole",
                      help="export: comma-separated csv, trec, recbole (CTR: csv)")
    data.add_argument("--part", default="test,valid",
                      help="export: the parts to rank, comma-separated test, valid (valid: "
                           "tune on validation, then submit both)")
    submit = sub.add_parser("submit", help="log a system's rankings (TREC run file) or CTR "
                                           "probabilities as a run: recbench submit RUN "
                                           "--label NAME dataset=... split=...")
    submit.add_argument("file", metavar="RUN", help="the test part's file (model.file)")
    submit.add_argument("overrides", nargs="*", help="run overrides, e.g. dataset=ml-100k "
                                                     "split=leave_one_out name=EXPERIMENT")
    submit.add_argument("--label", required=True, help="the system's name on the leaderboard")
    submit.add_argument("--valid", help="the validation part's file (model.valid_file)")
    submit.add_argument("--description", help="one line about the system")
    submit.add_argument("--url", help="where the system is described")
    submit.add_argument("--drop-masked", action="store_true",
                        help="leave out listed items the ranking masks instead of refusing")
    server = sub.add_parser("server", help="MLflow tracking server for parallel sweeps "
                                           "(binds 127.0.0.1)")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=5005)
    server.add_argument("--backend-store-uri", default=None,
                        help="default sqlite:///./mlflow-server.db; or postgresql://...")
    server.add_argument("--artifacts-destination", default="mlartifacts-server")
    server.add_argument("--workers", type=int, default=2)
    ui = sub.add_parser("ui", help="MLflow UI over the store (binds 127.0.0.1)")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--tracking-uri", default=None, help="default: sqlite:///./mlflow.db")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `recbench` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    from recbench.verbosity import configure_logging
    configure_logging(verbose="verbose=true" in argv)  # runs set it again from their config
    try:
        if argv[:1] == ["run"]:  # everything after `run` belongs to Hydra
            try:
                return cmd_run(argv[1:])
            except KeyboardInterrupt:
                print("interrupted: the current run is marked KILLED in MLflow; run the same "
                      "command again to finish the missing runs.", file=sys.stderr)
                return 130
        p = parser()
        args, extra = p.parse_known_args(argv)
        overrides = [e for e in extra if "=" in e and not e.startswith("-")]
        if args.command == "submit" and overrides == extra:  # overrides after the options
            args.overrides += extra
        elif extra:
            p.error(f"unrecognized arguments: {' '.join(extra)}")
        return {"evaluate": cmd_evaluate, "leaderboard": cmd_leaderboard, "ui": cmd_ui,
                "data": cmd_data, "runs": cmd_runs, "server": cmd_server,
                "reproductions": cmd_reproductions, "study": cmd_study,
                "submit": cmd_submit}[
            args.command](args)
    except RecbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
