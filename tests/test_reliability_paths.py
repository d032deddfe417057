"""Names that become paths never lead out of their folder; leaderboard output errors are
one line; Markdown outputs escape whatever a run was labelled.

The store is built through MlflowClient directly, as an older or hostile client could:
its tags are not checked by recbench's config validation, so the report code must make
them safe when it reads them.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from recbench.cli import main
from recbench.config import group_options
from recbench.data.describe import describe, write_description
from recbench.errors import RecbenchError
from recbench.paths import CONFIG_DIR
from recbench.report.publish import publish
from recbench.report.tables import markdown
from recbench.safe_names import check_name, file_component, inside, is_safe_name
from recbench.tracking.store import get_or_create_experiment
from tests.conftest import make_interactions

MARKUP = "<img src=x onerror=alert(1)>|`x`[l](http://e)&amp;"  # a label that is markup


def _log_run(client: MlflowClient, experiment_id: str, folder: Path, dataset="ml-100k",
             model="mostpop") -> None:
    """A FINISHED run with the tags, params and metrics `recbench run` logs, and its
    per-user test metrics."""
    run_id = client.create_run(experiment_id, tags={
        "dataset": dataset, "split": "random_ratio", "model": model, "seed": "1",
        "config_hash": "c1", "seedless_config_hash": "c"}).info.run_id
    client.log_param(run_id, "metrics.valid_metric", "ndcg@10")
    for key, value in (("valid_ndcg_10", 0.3), ("test_ndcg_10", 0.2), ("fit_time_s", 1.0),
                       ("eval_time_s", 0.1)):
        client.log_metric(run_id, key, value)
    per_user = folder / "per_user_test_metrics.parquet"
    per_user.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user": [0, 1], "ndcg@10": [0.1, 0.3]}).to_parquet(per_user)
    client.log_artifact(run_id, str(per_user))
    client.set_terminated(run_id, "FINISHED")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Experiments ``plain``, ``..`` (a name that is a parent folder), ``paths`` (data set
    and model tags that are relative paths) and ``markup`` (a model label that is HTML)."""
    root = tmp_path_factory.mktemp("hostile")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    runs = {"plain": {}, "..": {}, "paths": {"dataset": "../../../PWN", "model": "../../esc"},
            "markup": {"model": MARKUP}}
    for i, (name, tags) in enumerate(runs.items()):
        experiment = client.create_experiment(name, artifact_location=(root / f"art{i}").as_uri())
        _log_run(client, experiment, root / f"src{i}", **tags)
    return {"root": root, "uri": uri, "client": client}


def _leaderboard(hostile, experiment: str, out_dir: Path, *args: str) -> int:
    return main(["leaderboard", experiment, "--tracking-uri", hostile["uri"], "--out-dir",
                 str(out_dir), "--metrics", "ndcg@10", *args])


def _one_line_error(capsys, needle: str) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err, err
    assert captured.out == ""  # nothing printed, nothing written
    return err


# ----------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("value", ["..", ".", "", "a/b", "/tmp/x", "..\\x", ".hidden", "-x",
                                   "a b", "x" * 101, None, 3])
def test_unsafe_names_are_refused_and_made_safe(value):
    assert not is_safe_name(value)
    with pytest.raises(RecbenchError, match="must be a non-empty word"):
        check_name(value, "name", "name=x")
    safe = file_component(value)
    assert is_safe_name(safe) and Path(safe).name == safe
    assert file_component(value) != file_component(f"{value}!")  # distinct stay distinct


@pytest.mark.parametrize("value", ["ml-100k", "recbole-BPR", "gowalla_m1", "lb+other",
                                   "ml-1m.v2"])
def test_safe_names_are_kept(value):
    assert check_name(value, "name", "name=x") == value == file_component(value)


def test_every_shipped_config_name_is_safe():
    """The rule must not refuse a data set, split or model that ships with recbench."""
    for group in ("dataset", "split", "model"):
        for option in group_options(group):
            node = OmegaConf.load(CONFIG_DIR / group / f"{option}.yaml")
            for key in ("name", "label"):
                if node.get(key):
                    assert is_safe_name(node[key]), (group, option, key, node[key])


# ------------------------------------------------------------------ logged: config checks
@pytest.mark.parametrize("override, key", [
    ("name=..", "name"),
    ("dataset.name=../../../../tmp/PWN", "dataset.name"),
    ("split.name=a/b", "split.name"),
    ("+model.label=../../x", "model.label"),
    ("model.name=.hidden", "model.name"),
])
def test_run_refuses_names_that_leave_their_folder(store, capsys, override, key):
    assert main(["run", "model=mostpop", override, *store["overrides"]]) == 2
    err = _one_line_error(capsys, f"{key} must be a non-empty word")
    assert "Traceback" not in err
    cwd = Path.cwd()
    assert not (cwd / "mlflow.db").exists() and not (cwd / "mlartifacts").exists()


def test_store_refuses_an_experiment_folder_outside_the_artifact_root(hostile):
    client, root = hostile["client"], hostile["root"] / "artifacts"
    with pytest.raises(RecbenchError, match="experiment name must be a non-empty word"):
        get_or_create_experiment(client, "../escaped", str(root))
    assert client.get_experiment_by_name("../escaped") is None
    assert get_or_create_experiment(client, "plain", str(root))  # existing: found as before


# -------------------------------------------------------------- read: stored tags made safe
def test_hostile_tags_cannot_write_outside_the_leaderboard(hostile, tmp_path, monkeypatch):
    """Data set ``../../../PWN`` and model ``../../esc`` logged by a client that skips
    recbench's checks: the plots and the per-user downloads stay in their folders."""
    temp = tmp_path / "t" / "u"
    temp.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where downloads would escape to
    out = tmp_path / "r" / "out"
    assert _leaderboard(hostile, "paths", out) == 0
    plots = out / "paths" / "plots"
    written = sorted(p.name for p in plots.iterdir())
    assert written and all(name.endswith(("_bars.png", "_bars.svg", "_pareto.png",
                                          "_pareto.svg")) for name in written)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents]
    assert outside == []  # no PWN_*.png above out/, no esc-0/ above the temp folder
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["u"]
    table = pd.read_csv(out / "paths" / "leaderboard.csv")
    assert list(table["model"]) == ["../../esc"]  # shown as logged, only not a path


def test_data_description_file_stays_in_its_folder(tmp_path):
    data = make_interactions([0, 1], [0, 1], name="../../escaped")
    path = write_description(describe(data), tmp_path / "results")
    assert path.parent == tmp_path / "results" / "datasets" and path.is_file()
    assert not list(tmp_path.glob("escaped*"))


# ------------------------------------------------------- leaderboard names and out-dirs
def test_leaderboard_named_dotdot_removes_nothing_outside_out_dir(hostile, tmp_path, capsys):
    """``recbench leaderboard ..`` once removed ``<out-dir>/../plots`` and overwrote
    ``<out-dir>/../index.html``."""
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "keep.png").write_text("mine")
    (tmp_path / "index.html").write_text("mine")
    assert _leaderboard(hostile, "..", tmp_path / "sub") == 2
    _one_line_error(capsys, "--name")
    assert (tmp_path / "plots" / "keep.png").read_text() == "mine"
    assert (tmp_path / "index.html").read_text() == "mine"
    assert not (tmp_path / "sub").exists()


@pytest.mark.parametrize("name", ["ABSOLUTE", "../x", "a/b", "."])
def test_leaderboard_name_must_stay_in_out_dir(hostile, tmp_path, capsys, name):
    name = str(tmp_path / "abs") if name == "ABSOLUTE" else name
    assert _leaderboard(hostile, "plain", tmp_path / "out", "--name", name) == 2
    _one_line_error(capsys, "leaderboard name (--name")
    assert list(tmp_path.iterdir()) == []


def test_publish_checks_containment_before_removing_anything(tmp_path):
    """Called as a library (no CLI check of the name): ``..`` and a symbolic link out of
    the results folder are refused before anything is removed."""
    outside = tmp_path / "outside"
    (outside / "plots").mkdir(parents=True)
    (outside / "plots" / "keep.png").write_text("mine")
    results = outside / "results"
    results.mkdir()
    (results / "link").symlink_to(outside)
    for name in ("..", "link", str(outside)):
        with pytest.raises(RecbenchError, match="is not inside"):
            publish(name, ["e"], [], ["ndcg@10"], 0.05, results)
    assert (outside / "plots" / "keep.png").read_text() == "mine"
    with pytest.raises(RecbenchError, match="is not inside"):
        inside(results / "a" / ".." / "..", results)


@pytest.mark.parametrize("kind", ["file", "proc"])
def test_unwritable_out_dir_is_a_one_line_error(hostile, tmp_path, capsys, kind):
    out = Path("/proc/recbench-x")
    if kind == "file":
        out = tmp_path / "a-file"
        out.write_text("not a folder")
    assert _leaderboard(hostile, "plain", out) == 2
    _one_line_error(capsys, "cannot write the leaderboard to")


@pytest.mark.parametrize("command", [["leaderboard", "plain"], ["runs"],
                                     ["reproductions", "plain"]])
def test_reading_commands_never_create_a_store(tmp_path, capsys, command):
    missing = tmp_path / "missing.db"
    assert main([*command, "--tracking-uri", f"sqlite:///{missing}"]) == 2
    _one_line_error(capsys, f"no MLflow store at {missing}")
    assert not missing.exists()


# --------------------------------------------------------------------------- Markdown
def _cells(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def test_markdown_escapes_labels(hostile, tmp_path):
    out = tmp_path / "out"
    assert _leaderboard(hostile, "markup", out) == 0
    for page in (out / "markup" / "leaderboard.md", out / "README.md"):
        text = page.read_text()
        assert "<img" not in text and "[l](http" not in text, page
        assert "&lt;img src=x onerror=alert(1)&gt;" in text
        for table in re.findall(r"(?:^\|.*\|$\n?)+", text, re.M):
            rows = table.splitlines()
            assert {_cells(r) for r in rows} == {_cells(rows[0])}, table  # no cell break


def test_markdown_code_cells_stay_code():
    frame = pd.DataFrame({"Model": [MARKUP], "Command": ["recbench run a=`b` c=d|e"]})
    header, _, row = markdown(frame, code=("Command",)).splitlines()
    assert _cells(row) == _cells(header) == 2
    assert "``recbench run a=`b` c=d\\|e``" in row  # a longer fence: the backticks shown
