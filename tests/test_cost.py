"""What a run cost (recbench/tracking/cost.py): energy through CodeCarbon, peak memory per
run, a run that never fails for want of a meter, and the leaderboard's Energy and Memory
columns with the accuracy-vs-energy Pareto plot."""

from __future__ import annotations

import builtins

import mlflow
import numpy as np
import pandas as pd
import pytest

from recbench.cli import main
from recbench.tracking import cost

#: CodeCarbon's CPU methods: RAPL counters, load x TDP, TDP alone (and a user's constant)
METHODS = {"intel_rapl", "cpu_load", "TDP constant", "User Input TDP constant"}


def finished(uri: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(search_all_experiments=True)
    return runs[runs["tags.mlflow.parentRunId"].isna()] if "tags.mlflow.parentRunId" in runs \
        else runs


def test_a_run_logs_its_energy_co2_method_and_peak_memory(store):
    assert main(["run", "model=mostpop", *store["overrides"]]) == 0
    run = finished(store["uri"]).iloc[0]
    assert run["status"] == "FINISHED"
    assert run["tags.energy_method"] in METHODS and run["tags.energy_country"] == "USA"
    energy = run["metrics.energy_kwh"]
    assert 0 < energy < 1e-3  # a MostPop run: well under a watt-hour
    assert run["metrics.cpu_energy_kwh"] + run["metrics.ram_energy_kwh"] == pytest.approx(energy)
    assert run["metrics.co2_kg"] > 0
    assert run["tags.max_rss_scope"] == "run" and 100 < run["metrics.max_rss_mb"] < 24_000


def test_the_grid_changes_co2_not_energy(tmp_path):
    """CO2 = energy x the grid's carbon intensity: per kWh, France's grid (nuclear) emits
    several times less than Poland's (coal), in CodeCarbon's own table."""
    rates = {}
    for country in ("FRA", "POL"):
        with cost.CostMeter(country) as meter:
            sum(range(2 * 10**6))
        rates[country] = meter.metrics["co2_kg"] / meter.metrics["energy_kwh"]
    assert rates["POL"] > 3 * rates["FRA"]


def test_peak_memory_is_per_run_not_per_process():
    """A sweep runs many configs in one process: a big allocation in one run must not
    show up as the next run's peak."""
    with cost.CostMeter("USA", energy=False) as big:
        block = np.ones(400 * 2**20 // 8)  # 400 MiB, touched
        block.sum()
    del block
    with cost.CostMeter("USA", energy=False) as small:
        pass
    assert big.tags["max_rss_scope"] == small.tags["max_rss_scope"] == "run"
    assert big.metrics["max_rss_mb"] - small.metrics["max_rss_mb"] > 300
    assert "energy_kwh" not in big.metrics and big.tags["energy_method"].startswith("off")


def test_a_run_without_a_meter_still_finishes(store, monkeypatch):
    real_import = builtins.__import__

    def no_codecarbon(name, *args, **kwargs):
        if name.startswith("codecarbon"):
            raise ImportError("no codecarbon here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_codecarbon)
    monkeypatch.setattr(cost, "_warmed", set())
    assert main(["run", "model=mostpop", *store["overrides"]]) == 0
    run = finished(store["uri"]).iloc[0]
    assert run["status"] == "FINISHED" and run["metrics.test_ndcg_10"] > 0
    assert run["tags.energy_method"] == "unavailable (ImportError)"
    assert "metrics.energy_kwh" not in run or np.isnan(run["metrics.energy_kwh"])
    assert run["metrics.max_rss_mb"] > 0  # memory needs no CodeCarbon


def test_energy_off_and_a_bad_country_code(store, capsys):
    assert main(["run", "model=mostpop", "tracking.energy=false", *store["overrides"]]) == 0
    run = finished(store["uri"]).iloc[0]
    assert run["tags.energy_method"] == "off (tracking.energy=false)"
    assert main(["run", "model=mostpop", "tracking.country_iso_code=France",
                 *store["overrides"]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: tracking.country_iso_code must be an ISO 3166-1 alpha-3 country "
                   "code such as FRA, USA or DEU, got 'France'."]


def test_the_leaderboard_shows_energy_and_memory_and_the_energy_pareto_plot(store, tmp_path):
    args = [*store["overrides"], "name=cost", "metrics.bootstrap=0"]
    assert main(["run", "-m", "model=mostpop,itemknn", "seed=1,2", *args]) == 0
    out = tmp_path / "results"
    assert main(["leaderboard", "cost", "--tracking-uri", store["uri"], "--out-dir",
                 str(out)]) == 0
    table = pd.read_csv(out / "cost" / "leaderboard.csv").set_index("model")
    assert (table["energy_wh"] > 0).all() and (table["max_rss_mb"] > 0).all()
    md = (out / "cost" / "leaderboard.md").read_text()
    assert "| Energy (Wh) | Memory (MB) |" in md
    assert (out / "cost" / "plots" / "ml-100k_random_ratio_energy.png").stat().st_size > 0
    assert "accuracy vs energy" in (out / "cost" / "plots" /
                                    "ml-100k_random_ratio_energy.svg").read_text()
