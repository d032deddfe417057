"""Open submissions: export a split, score it outside recbench, submit the rankings (or CTR
probabilities) as a run, see it on the leaderboard; every bad file refused in one line."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from recbench.cli import main
from recbench.config import build, compose, resolved
from tests.conftest import ROOT

SPLIT = ["dataset=ml-100k", "split=leave_one_out"]
CTR = ["task=ctr", "dataset=ml-100k-ctr", "split=random_global"]


def _load_example():
    path = ROOT / "experiments" / "submission_example" / "tiny_ease.py"
    spec = importlib.util.spec_from_file_location("tiny_ease", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The ml-100k leave-one-out split exported, tiny EASE (numpy, no recbench) run on the
    export, and a throw-away MLflow store; the tests run in a scratch folder."""
    root = tmp_path_factory.mktemp("submission")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert main(["data", "export", *SPLIT, "--out", str(root / "export")]) == 0
        mp.setattr(sys, "argv", ["tiny_ease.py", str(root / "export"), str(root / "runs"),
                                 "--l2", "300"])
        _load_example().main()
        uri = f"sqlite:///{root / 'mlflow.db'}"
        track = [f"tracking.uri={uri}", f"tracking.artifact_root={root / 'mlartifacts'}",
                 "tracking.energy=false"]
        cfg = compose(SPLIT)
        plain = resolved(cfg)
        split = build(cfg, "task").split(plain["dataset"], plain["split"],
                                         build(cfg, "dataset"), build(cfg, "split"))
        yield {"root": root, "uri": uri, "track": track, "split": split, "mp": mp,
               "protocol": json.loads((root / "export" / "protocol.json").read_text())}


def _runs(world, experiment: str) -> dict:
    client = MlflowClient(world["uri"])
    found = client.get_experiment_by_name(experiment)
    return {} if found is None else {
        r.data.tags["model"]: r for r in client.search_runs([found.experiment_id])}


def _per_user(world, run) -> pd.DataFrame:
    path = MlflowClient(world["uri"]).download_artifacts(run.info.run_id,
                                                         "per_user_test_metrics.parquet")
    return pd.read_parquet(path)


def _submit(world, run_file, *options, name="subs"):
    return main(["submit", str(run_file), *options, *SPLIT, *world["track"], f"name={name}"])


def _lines(world, part: str) -> list[str]:
    return (world["root"] / "runs" / f"{part}.run").read_text().splitlines()


def _write(world, name: str, lines: list[str]):
    path = world["root"] / name
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------------------ export
def test_export_holds_train_valid_and_masks_never_the_test_items(world):
    split, folder = world["split"], world["root"] / "export"
    data = split.data
    train = pd.read_csv(folder / "csv" / "train.csv", dtype=str)
    assert len(train) == split.train.nnz and list(train.columns) == ["user", "item", "timestamp"]
    test_pairs = {(str(data.user_ids[u]), str(data.item_ids[i]))
                  for u, i in zip(*split.test.nonzero())}
    for name in ("train", "valid", "test_masked", "valid_masked"):
        frame = pd.read_csv(folder / "csv" / f"{name}.csv", dtype=str)
        assert not test_pairs & set(zip(frame["user"], frame["item"])), name
    masked = pd.read_csv(folder / "csv" / "test_masked.csv", dtype=str)
    assert len(masked) == split.train.nnz + split.valid.nnz  # every user is a test user here
    qrels = (folder / "trec" / "train.qrels").read_text().splitlines()
    assert len(qrels) == split.train.nnz and qrels[0].split()[1::2] == ["0", "1"]
    assert (folder / f"recbole/{data.name}.valid.inter").read_text().startswith(
        "user_id:token\titem_id:token\ttimestamp:float\n")
    protocol = world["protocol"]
    assert protocol["split_fingerprint"] == split.fingerprint["sha256"]
    assert protocol["k"] == 20 and protocol["parts"] == ["test", "valid"]
    assert pd.read_csv(folder / "csv" / "items.csv", dtype=str)["item"].tolist() == \
        [str(i) for i in data.item_ids]


def test_export_bad_format_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["data", "export", *SPLIT, "--out", str(tmp_path / "x"),
                 "--format", "csv,parquet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown --format 'parquet'") and "\n" not in err
    assert not (tmp_path / "x").exists()
    assert main(["data", "export", *CTR, "--out", str(tmp_path / "x"), "--format", "trec"]) == 2
    assert "use --format csv" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------------------------- round trip
def test_round_trip_equals_ease_and_the_leaderboard_marks_the_submission(world, capsys):
    runs = world["root"] / "runs"
    assert _submit(world, runs / "test.run", "--valid", str(runs / "valid.run"), "--label",
                   "tiny-ease", "--description", "EASE <numpy>", "--url",
                   "https://example.org/?a=1&b=<2>", name="roundtrip") == 0
    assert main(["run", "model=ease", "model.l2=300", *SPLIT, *world["track"],
                 "name=roundtrip"]) == 0
    found = _runs(world, "roundtrip")
    ease, sub = found["ease"], found["tiny-ease"]
    assert sub.info.status == "FINISHED"
    keys = [k for k in ease.data.metrics if k.startswith(("test_", "valid_"))]
    assert len(keys) == 42
    for key in keys:
        assert abs(ease.data.metrics[key] - sub.data.metrics[key]) <= 1e-9, key
    pd.testing.assert_frame_equal(_per_user(world, ease), _per_user(world, sub))
    tags = sub.data.tags
    assert tags["submission"] == "true" and tags["model"] == "tiny-ease"
    from recbench.data.atomic import sha256_file
    assert tags["submission.sha256"] == sha256_file(runs / "test.run")
    assert tags["submission.valid_sha256"] == sha256_file(runs / "valid.run")
    assert tags["submission.url"] == "https://example.org/?a=1&b=<2>"
    assert sub.data.params["model.sha256"] == tags["submission.sha256"]
    assert sub.data.metrics["submission_test_n_short_lists"] == 0
    capsys.readouterr()
    out = world["root"] / "results"
    assert main(["leaderboard", "roundtrip", "--tracking-uri", world["uri"],
                 "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tiny-ease (submission)" in printed and "submitted" in printed
    board = pd.read_csv(out / "roundtrip" / "leaderboard.csv")
    assert board.set_index("model")["submission"].to_dict() == {"ease": False,
                                                               "tiny-ease": True}
    page = (out / "roundtrip" / "index.html").read_text()
    assert "b=&lt;2&gt;" in page and "<2>" not in page and "&lt;numpy&gt;" in page


def test_best_by_validation_applies_to_submissions(world):
    """Two submissions under one label: the one better on validation is reported, even
    though the other is better on test (a perfect test list)."""
    split, data = world["split"], world["split"].data
    header = world["protocol"]["header"]
    best = [header] + [f"{data.user_ids[u]} Q0 {data.item_ids[i]} 1 1 oracle"
                       for u, i in zip(*split.test.nonzero())]
    worse_valid = [header] + [line for line in _lines(world, "valid")[1:]
                              if int(line.split()[3]) > 10]  # top-10 cut away: worse
    assert _submit(world, world["root"] / "runs" / "test.run", "--valid",
                   str(world["root"] / "runs" / "valid.run"), "--label", "sys",
                   name="select") == 0
    assert _submit(world, _write(world, "oracle.run", best), "--valid",
                   str(_write(world, "worse_valid.run", worse_valid)), "--label", "sys",
                   name="select") == 0
    client = MlflowClient(world["uri"])
    runs = client.search_runs([client.get_experiment_by_name("select").experiment_id])
    by_valid = sorted(runs, key=lambda r: r.data.metrics["valid_ndcg_10"])
    assert by_valid[0].data.metrics["test_ndcg_10"] == 1.0  # the oracle: worse on valid
    from recbench.report.leaderboard import leaderboards
    boards, _ = leaderboards(client, ["select"], ["ndcg@10"])
    row = boards[0].table.iloc[0]
    assert row["chosen_on"] == "validation" and row["configs_tried"] == 2
    assert row["ndcg@10"] == pytest.approx(by_valid[1].data.metrics["test_ndcg_10"], abs=1e-12)


# ------------------------------------------------------- lists scored as trec_eval does
def test_short_lists_and_dropped_items_score_as_trec_eval(world, capsys):
    """Masked items dropped (model.drop_masked), short lists and a missing user: the run's
    metrics equal `recbench evaluate` (trec_eval's rules) on the file without them."""
    from recbench.evaluation.trec import evaluate_trec, read_qrels, read_run

    split, data = world["split"], world["split"].data
    rng = np.random.default_rng(0)
    lines, kept = [world["protocol"]["header"]], []
    train = split.train.tolil().rows
    by_user = {}
    for line in _lines(world, "test")[1:]:
        by_user.setdefault(line.split()[0], []).append(line)
    users = list(by_user)
    index = {str(u): i for i, u in enumerate(data.user_ids)}
    for n, user in enumerate(users[1:]):  # users[0]: no list at all (scores 0)
        rows = by_user[user][: int(rng.integers(3, 21))]  # many lists shorter than 20
        if n % 4 == 0:  # a train item inserted at the top: masked, dropped
            item = data.item_ids[train[index[user]][0]]
            rows = [f"{user} Q0 {item} 0 99 x", *rows]
        lines += rows
        kept += [r for r in rows if " 99 x" not in r]
    path = _write(world, "short.run", lines)
    qrels = world["root"] / "test.qrels"
    qrels.write_text("".join(f"{data.user_ids[u]} 0 {data.item_ids[i]} 1\n"
                             for u, i in zip(*split.test.nonzero())))
    clean = _write(world, "clean.run", kept)
    metrics = [f"{m}@{k}" for m in ("precision", "recall", "ndcg", "map", "mrr", "hit", "f1")
               for k in (5, 10, 20)]
    expected = evaluate_trec(read_qrels(qrels), read_run(clean), metrics)

    assert _submit(world, path, "--label", "short", name="short") == 2  # masked: refused
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {path}: ") and "model.drop_masked=true" in err[-1]
    assert _runs(world, "short") == {}
    assert _submit(world, path, "--label", "short", "--drop-masked", name="short") == 0
    note = capsys.readouterr().err
    assert "lists shorter than K=20" in note
    run = _runs(world, "short")["short"]
    for m in metrics:
        assert run.data.metrics[f"test_{m.replace('@', '_')}"] == pytest.approx(
            expected[m], abs=1e-12), m
    assert run.data.metrics["submission_test_n_dropped_masked"] == len(range(0, len(users) - 1, 4))
    assert run.data.metrics["submission_test_n_missing_users"] == 1
    short = sum(1 for u in users[1:] if len([r for r in kept if r.split()[0] == u]) < 20)
    assert run.data.metrics["submission_test_n_short_lists"] == short + 1  # + the missing user
    assert "valid_ndcg_10" not in run.data.metrics  # no valid file: no valid metrics


# ------------------------------------------------------------------------ refusals
def _refused(world, capsys, path, *options, expect: str):
    assert _submit(world, path, "--label", "bad", *options, name="refused") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert expect in err, err
    assert _runs(world, "refused") == {}  # nothing logged
    return err


def _one_line(call, expect: str) -> str:
    """The RecbenchError ``call()`` raises: one line holding ``expect``."""
    from recbench.errors import RecbenchError

    with pytest.raises(RecbenchError) as err:
        call()
    text = str(err.value)
    assert "\n" not in text and expect in text, text
    return text


def test_every_bad_top_n_file_is_refused_in_one_line(world, capsys):
    from recbench.models.submission import read_ranking

    header, good = world["protocol"]["header"], _lines(world, "test")
    user, _, item = good[1].split()[:3]
    # through the command: exit 2, one line, nothing logged
    _refused(world, capsys, _write(world, "fp.run", [f"# recbench protocol {'0' * 64}",
                                                     *good[1:]]),
             expect="made for split 000000000000, but this run's split is "
                    + world["protocol"]["split_fingerprint"][:12])
    _refused(world, capsys, world["root"] / "missing.run",
             expect="Submission file must be unset (null) or the path of an existing file")
    assert main(["run", "model=submission", f"model.file={world['root'] / 'runs' / 'test.run'}",
                 *SPLIT, *world["track"], "name=refused"]) == 2
    assert "needs model.label=NAME" in capsys.readouterr().err
    assert _runs(world, "refused") == {}

    def check(name: str, lines: list[str], expect: str) -> str:  # what the command checks
        path = _write(world, name, lines)
        return _one_line(lambda: read_ranking(str(path), world["split"], "test", False), expect)

    err = check("users.run", [header, *good[1:], "nobody Q0 1 1 1 x", "ghost Q0 1 1 1 x",
                              "ghost Q0 2 2 0 x"],
                "2 users (3 lines) not in dataset 'ml-100k'")
    assert "e.g. 'ghost', 'nobody'" in err
    check("items.run", [header, *good[1:], f"{user} Q0 x9 99 99 x"],
          "1 item (1 line) not in dataset 'ml-100k', e.g. 'x9'")
    check("dup.run", [header, *good[1:], f"{user} Q0 {item} 99 0.5 x"],
          f"doc '{item}' appears twice for query '{user}'")
    check("cols.run", [header, "1 Q0 2 1 1"], "expected 6 columns in a run line")
    valid_item = world["split"].data.item_ids[world["split"].valid[0].indices[0]]
    first_user = world["split"].data.user_ids[0]
    check("valid_item.run", [header, f"{first_user} Q0 {valid_item} 1 1 x"],
          "1 listed item masked for its user (train or validation items")


# ------------------------------------------------------------------------------- CTR
@pytest.fixture(scope="module")
def ctr(world):
    root = world["root"]
    assert main(["data", "export", *CTR, "--out", str(root / "ctr"), "--format", "csv"]) == 0
    protocol = json.loads((root / "ctr" / "protocol.json").read_text())
    train = pd.read_csv(root / "ctr" / "csv" / "train.csv")
    rate = train.groupby("item_id")["label"].mean()  # a tiny external model: item CTR
    files = {}
    for part in ("valid", "test"):
        rows = pd.read_csv(root / "ctr" / "csv" / f"{part}.csv")
        assert ("label" in rows) == (part == "valid")
        p = rows["item_id"].map(rate).fillna(train["label"].mean()).clip(0.01, 0.99)
        files[part] = root / f"ctr_{part}.csv"
        files[part].write_text(protocol["header"] + "\n" + pd.DataFrame(
            {"row_id": rows["row_id"], "probability": p}).to_csv(index=False))
    return {"protocol": protocol, "files": files}


def _ctr_submit(world, path, *options, name="ctr"):
    return main(["submit", str(path), "--label", "item-ctr", *options, *CTR, *world["track"],
                 f"name={name}"])


def test_ctr_submission_scores_its_probabilities(world, ctr):
    from recbench.evaluation.ctr import auc, logloss
    from recbench.splits.base import TEST

    assert _ctr_submit(world, ctr["files"]["test"], "--valid", str(ctr["files"]["valid"])) == 0
    run = _runs(world, "ctr")["item-ctr"]
    cfg = compose(CTR)
    plain = resolved(cfg)
    split = build(cfg, "task").split(plain["dataset"], plain["split"], build(cfg, "dataset"),
                                     build(cfg, "split"))
    part = split.parts[TEST]
    submitted = pd.read_csv(ctr["files"]["test"], skiprows=1).set_index("row_id")
    p = submitted["probability"].reindex(part.ids).to_numpy()
    assert run.data.metrics["test_auc"] == pytest.approx(auc(part.labels, p), abs=1e-12)
    assert run.data.metrics["test_logloss"] == pytest.approx(logloss(part.labels, p), abs=1e-12)
    assert "valid_auc" in run.data.metrics and run.data.tags["submission"] == "true"


def test_every_bad_ctr_file_is_refused_in_one_line(world, ctr, capsys):
    from recbench.models.submission import read_probabilities

    header = ctr["protocol"]["header"]
    good = ctr["files"]["test"].read_text().splitlines()
    path = _write(world, "ctr_missing.csv", [header, *good[1:-3]])
    assert _ctr_submit(world, path, name="ctr_refused") == 2  # through the command
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "3 test rows missing" in err, err
    assert _runs(world, "ctr_refused") == {}
    ids = pd.read_csv(ctr["files"]["test"], skiprows=1)["row_id"].to_numpy()
    fingerprint = ctr["protocol"]["split_fingerprint"]
    cases = {
        "extra": ([*good, "999999,0.5"], "1 row not of the test part (e.g. '999999')"),
        "range": ([*good[:-1], good[-1].split(",")[0] + ",1.5"],
                  "1 probability not a number in [0, 1], e.g. '1.5'"),
        "nan": ([*good[:-1], good[-1].split(",")[0] + ",high"],
                "1 probability not a number in [0, 1], e.g. 'high'"),
        "dup": ([*good, good[-1]], "1 row more than once"),
        "columns": ([header, "row,p", "1,0.5"], "expected exactly ['row_id', 'probability']"),
        "fingerprint": ([f"# recbench protocol {'1' * 64}", *good[1:]],
                        "made for split 111111111111"),
    }
    for name, (lines, expect) in cases.items():
        path = _write(world, f"ctr_{name}.csv", lines)
        _one_line(lambda: read_probabilities(str(path), ids, fingerprint, "test"), expect)


# ------------------------------------------------------------- regressions (review)
def test_export_that_cannot_write_is_one_line_and_leaves_no_files(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["data", "export", *SPLIT, "--out", str(tmp_path / "afile" / "sub"),
                 "--format", "csv"]) == 2  # was a NotADirectoryError stack trace
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write ") and "\n" not in err, err
    (tmp_path / "out" / "protocol.json").mkdir(parents=True)  # written last: all else first
    assert main(["data", "export", *SPLIT, "--out", str(tmp_path / "out"),
                 "--format", "csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "protocol.json (Is a directory)" in err and "\n" not in err, err
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_a_byte_order_mark_before_the_header_is_read(world):
    """Windows tools write a UTF-8 BOM: the header was not seen (the TREC run was refused
    for its column count, the CTR file for its columns)."""
    from recbench.models.submission import read_probabilities, read_ranking

    text = (world["root"] / "runs" / "test.run").read_text()
    path = world["root"] / "bom.run"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    plain = read_ranking(str(world["root"] / "runs" / "test.run"), world["split"], "test", False)
    ranked = read_ranking(str(path), world["split"], "test", False)
    assert (ranked.scores != plain.scores).nnz == 0 and ranked.scores.nnz == plain.scores.nnz
    fingerprint = world["protocol"]["split_fingerprint"]
    path.write_bytes(b"\xef\xbb\xbf" + f"# recbench protocol {fingerprint}\nrow_id,probability\n"
                     f"3,0.5\n7,0.25\n".encode())
    assert read_probabilities(str(path), np.array([3, 7]), fingerprint, "test").to_dict() == \
        {3: 0.5, 7: 0.25}
    path.write_bytes(b"\xef\xbb\xbf" + f"# recbench protocol {'2' * 64}\n".encode() + text.encode())
    _one_line(lambda: read_ranking(str(path), world["split"], "test", False),
              "made for split 222222222222")


def test_a_ctr_row_id_too_long_for_an_integer_is_refused_as_such(world):
    """A 23-digit row id overflowed int64 and was reported as rows 'more than once'."""
    from recbench.models.submission import read_probabilities

    fingerprint = world["protocol"]["split_fingerprint"]
    path = _write(world, "ctr_huge.csv", [f"# recbench protocol {fingerprint}",
                                          "row_id,probability", "3,0.5",
                                          "99999999999999999999999,0.5",
                                          "99999999999999999999998,0.5"])
    _one_line(lambda: read_probabilities(str(path), np.array([3]), fingerprint, "test"),
              "2 row ids not integer, e.g. '99999999999999999999999'")
    path = _write(world, "ctr_float.csv", [f"# recbench protocol {fingerprint}",
                                           "row_id,probability", "3.0,0.5", "1e1,0.5"])
    _one_line(lambda: read_probabilities(str(path), np.array([3, 10]), fingerprint, "test"),
              "1 row id not integer, e.g. '1e1'")


def test_a_label_naming_a_recbench_model_is_refused(world, capsys):
    """A submission labelled 'ease' would share one leaderboard row with model=ease."""
    for label in ("ease", "EASE", "mostpop"):
        err = _refused(world, capsys, world["root"] / "runs" / "test.run", "--label", label,
                       expect=f"model.label={label} names a recbench model")
        assert f"model.label={label}-external" in err


def test_a_file_without_the_protocol_header_is_scored_with_a_note(world, capsys):
    path = _write(world, "noheader.run", _lines(world, "test")[1:])
    assert _submit(world, path, "--label", "noheader", name="noheader") == 0
    err = capsys.readouterr().err
    assert f"submission test: {path} has no first line '# recbench protocol" in err
    assert _runs(world, "noheader")["noheader"].info.status == "FINISHED"


def test_every_file_of_a_sweep_is_checked_before_any_run(world, capsys):
    """model.file=good,bad: only the first value was checked; the bad one failed after its
    run was created (a FAILED run logged)."""
    bad = _write(world, "sweep_fp.run", [f"# recbench protocol {'0' * 64}",
                                         *_lines(world, "test")[1:]])
    good = world["root"] / "runs" / "test.run"
    assert main(["run", "-m", "model=submission", f"model.file={good},{bad}",
                 "model.label=sweep", *SPLIT, *world["track"], "name=sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {bad}: made for split 000000000000"), err
    assert _runs(world, "sweep") == {}
