"""CTR data sets read from labelled CSV files: BARS' *_x1 sets downloaded (from a local HTTP
server on 127.0.0.1 serving a zip in reczoo's layout) and the shared smoke samples."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer

import mlflow
import numpy as np
import pandas as pd
import pytest

from recbench.cli import main
from recbench.data import downloads
from recbench.data.ctr_files import load_ctr_files
from recbench.errors import RecbenchError

FRAPPE_FIELDS = ["user", "item", "daytime", "weekday", "isweekend", "homework", "cost",
                 "weather", "country", "city"]


def _frappe_csv(n: int, seed: int) -> bytes:
    """Rows in Frappe_x1's layout (label first, then its ten fields), clicks driven by
    the item so that one epoch of LR learns something."""
    rng = np.random.default_rng(seed)
    item = rng.integers(0, 30, n)
    frame = pd.DataFrame({"label": (rng.random(n) < np.where(item < 15, 0.8, 0.2)).astype(int),
                          "user": rng.integers(0, 50, n), "item": item})
    for f in FRAPPE_FIELDS[2:]:
        frame[f] = rng.choice(["a", "b", "c"], n)
    return frame.to_csv(index=False).encode()


@pytest.fixture
def frappe_server(monkeypatch):
    """A 127.0.0.1 server with ``/Frappe_x1.zip`` (train/valid/test.csv in a folder, as a
    re-zipped download may have it); the registry points at it with the members' md5s."""
    parts = {"train": _frappe_csv(2000, 0), "valid": _frappe_csv(400, 1),
             "test": _frappe_csv(400, 2)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for part, body in parts.items():
            zf.writestr(f"Frappe_x1/{part}.csv", body)
    routes = {"/Frappe_x1.zip": buffer.getvalue()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            self.server.hits.append(self.path)
            if self.path not in routes:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(routes[self.path])))
            self.end_headers()
            self.wfile.write(routes[self.path])

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/Frappe_x1.zip"
    for part, body in parts.items():
        monkeypatch.setitem(downloads.DOWNLOADS, f"frappe_x1/{part}", {
            **downloads.DOWNLOADS[f"frappe_x1/{part}"], "url": url,
            "member_md5": hashlib.md5(body).hexdigest()})
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_frappe_x1_downloads_checks_reads_and_trains_lr(frappe_server, store, capsys):
    lr = ["model=lr", "model.batch_size=64", "model.optimizer.lr=0.02", "trainer.max_epochs=1"]
    assert main(["run", "task=ctr", "dataset=frappe_x1", "split=predefined", *lr,
                 *store["overrides"]]) == 0
    assert frappe_server.hits == ["/Frappe_x1.zip"]  # one zip for the three parts
    run = mlflow.MlflowClient(store["uri"]).search_runs(
        [mlflow.MlflowClient(store["uri"]).get_experiment_by_name("default").experiment_id])[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_auc"] > 0.7  # the item drives the clicks
    assert run.data.metrics["epochs_trained"] == 1
    # the published parts, as they are: nothing carved from train
    split = load_ctr_files("frappe_x1", "download:frappe_x1",
                           {"train": "train.csv", "valid": "valid.csv", "test": "test.csv"},
                           "label", [{"name": f} for f in FRAPPE_FIELDS], "user", "item")
    assert np.bincount(split.interactions.part).tolist() == [2000, 400, 400]
    # a second run uses the files already there: no download
    assert main(["run", "task=ctr", "dataset=frappe_x1", "split=predefined", *lr, "seed=1",
                 *store["overrides"]]) == 0
    assert frappe_server.hits == ["/Frappe_x1.zip"]


def test_unreachable_download_is_one_line_and_writes_nothing(store, monkeypatch, capsys,
                                                             tmp_path):
    closed = "http://127.0.0.1:9/Frappe_x1.zip"  # the discard port: nothing listens
    for part in ("train", "valid", "test"):
        monkeypatch.setitem(downloads.DOWNLOADS, f"frappe_x1/{part}",
                            {**downloads.DOWNLOADS[f"frappe_x1/{part}"], "url": closed})
    assert main(["run", "task=ctr", "dataset=frappe_x1", "split=predefined", "model=lr",
                 *store["overrides"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: cannot download {closed}: ")
    assert "put the file at" in err[0] and "Frappe_x1.zip yourself" in err[0]
    assert not (tmp_path / "mlflow.db").exists()


def test_a_member_that_differs_from_the_published_md5_is_refused(frappe_server, store,
                                                                 monkeypatch, capsys):
    entry = downloads.DOWNLOADS["frappe_x1/test"]
    monkeypatch.setitem(downloads.DOWNLOADS, "frappe_x1/test", {**entry, "member_md5": "0" * 32})
    assert main(["run", "task=ctr", "dataset=frappe_x1", "split=predefined", "model=lr",
                 *store["overrides"]]) == 2
    # the zip's own sha256 is recorded (a warning), then the member is refused
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(err) == 1 and "test.csv extracted from" in err[0]
    assert f"the publisher's is {'0' * 32}" in err[0]


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return name


@pytest.mark.parametrize("text, message", [
    ("label,a\n1,x\n2,y\n", "label column 'label' of {path} must hold 0 or 1; line 3 holds '2'"),
    ("label,b\n1,x\n0,y\n", "{path} has no column(s) a (it has label, b)"),
    ("label,a\n1,x\n,y\n", "label column 'label' of {path} must hold 0 or 1; line 3 holds ''"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    name = _write(tmp_path, "rows.csv", text)
    with pytest.raises(RecbenchError) as err:
        load_ctr_files("t", str(tmp_path), {"all": name}, "label", [{"name": "a"}])
    assert message.format(path=tmp_path / name) in str(err.value)


def test_missing_values_are_missing_and_na_is_a_value(tmp_path):
    """Only an empty cell is missing: "NA" is a value (a country code, say)."""
    name = _write(tmp_path, "rows.csv", "label,a,n\n1,NA,3\n0,,\n1,x,1\n")
    data = load_ctr_files("t", str(tmp_path), {"all": name}, "label",
                          [{"name": "a"}, {"name": "n", "kind": "numeric"}])
    assert data.frame["a"].tolist()[0] == "NA" and pd.isna(data.frame["a"].tolist()[1])
    assert data.labels.tolist() == [1, 0, 1]
    assert data.interactions.part is None  # one file: split by the run's protocol


@pytest.mark.parametrize("dataset, split", [("criteo-sample", "random_global"),
                                            ("fuxictr-tiny", "predefined")])
def test_shared_ctr_samples_run(store, dataset, split):
    assert main(["run", "task=ctr", f"dataset={dataset}", f"split={split}", "model=fm",
                 "trainer.max_epochs=1", *store["overrides"]]) == 0


@pytest.mark.parametrize("edit, message", [
    (lambda f: f.assign(label=f["label"].where(f.index != 5, "2")),
     "label column 'label' of {path} must hold 0 or 1; line 7 holds '2'"),
    (lambda f: f.drop(columns="C3"), "{path} has no column(s) C3"),
])
def test_a_bad_file_stops_the_command_before_any_run(store, tmp_path, capsys, edit, message):
    """A label that is not 0/1 or a field missing from the file: one line, exit 2, and no
    run (the check runs before the sweep starts, not inside a run that then fails)."""
    from recbench.data.loader import shared_data_dir

    frame = pd.read_csv(shared_data_dir() / "deepctr_samples" / "criteo_sample.txt", dtype=str)
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "rows.csv"
    edit(frame).to_csv(path, index=False)
    rc = main(["run", "-m", "task=ctr", "dataset=criteo-sample", f"dataset.root={path.parent}",
               "dataset.files={all: rows.csv}", "model=lr,fm", *store["overrides"]])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message.format(path=path) in err[0], err
    assert not (tmp_path / "mlflow.db").exists()  # nothing written
