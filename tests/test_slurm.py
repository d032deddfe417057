"""A sweep on a real scheduler: ``hydra/launcher=slurm`` submits a 4-run sweep to a
one-node SLURM cluster (tests/slurm.py) whose jobs log into ``recbench server`` on a real
PostgreSQL. Run with ``make test-slurm`` (it installs slurm-wlm and munge)."""

from __future__ import annotations

import pytest

from tests.postgres import Postgres
from tests.slurm import Slurm
from tests.test_postgres import Server, finish, finished_per_config, sweep

pytestmark = pytest.mark.slurm


def test_slurm_sweep_logs_each_run_once_into_the_postgres_server(tmp_path):
    with Slurm() as cluster, Postgres() as pg:
        server = Server(pg, tmp_path)
        try:
            rc, out, err = finish(sweep(
                server, tmp_path, "slurm", "model=mostpop,itemknn", "seed=1,2",
                "hydra/launcher=slurm", "hydra.launcher.partition=debug",
                "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
                "hydra.launcher.timeout_min=10",
                f"hydra.launcher.submitit_folder={tmp_path / 'submitit'}"), timeout=600)
            assert rc == 0, f"{err}\n{cluster.log()}"
            assert finished_per_config(server, "slurm") == {
                (m, s): 1 for m in ("mostpop", "itemknn") for s in ("1", "2")}
            from tests.test_cli_run import runs_of
            _, runs = runs_of(server.uri, "slurm")
            jobs = {r.data.tags.get("recbench.slurm_job") for r in runs}
            assert None not in jobs and len(jobs) == 4, jobs  # each run was its own SLURM job
            assert cluster.log().count("Launching batch job") == 4
        finally:
            server.stop()
