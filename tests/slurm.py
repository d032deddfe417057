"""A one-node SLURM cluster for tests: Debian's ``slurm-wlm`` and ``munge`` (``make
slurm`` installs them), every daemon's state, sockets and logs in a temp folder, ports
chosen free, controller and node on 127.0.0.1; killed and deleted afterwards.

Jobs find the cluster through ``SLURM_CONF`` (set in this process's environment while the
cluster is up, so ``sbatch`` called by submitit reaches it). No accounting daemon: ``sacct``
answers that accounting is disabled, and submitit then falls back on the job's result file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.test_ui import free_port

CONF = """ClusterName=recbench
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SwitchType=switch/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _run(*args: str, env: dict | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"


class Slurm:
    """``with Slurm() as cluster:`` a controller and one node; ``cluster.log()`` for errors."""

    def __init__(self) -> None:
        for daemon in ("munged", "slurmctld", "slurmd"):
            assert shutil.which(daemon) or Path(f"/usr/sbin/{daemon}").exists(), (
                f"{daemon} not found: run `make slurm` (apt-get install slurm-wlm munge)")
        assert os.getuid() == 0, "the test cluster's daemons run as root"
        self.dir = Path(tempfile.mkdtemp(prefix="recbench-slurm-"))
        self.dir.chmod(0o755)  # munged runs as the munge user and must reach its folder
        self.conf = self.dir / "slurm.conf"
        self.saved_conf = os.environ.get("SLURM_CONF")

    def __enter__(self) -> Slurm:
        munge = self.dir / "munge"
        for sub in ("munge", "state", "spool"):
            (self.dir / sub).mkdir()
        shutil.chown(munge, "munge", "munge")
        munge.chmod(0o700)
        _run("runuser", "-u", "munge", "--", "/usr/sbin/munged", f"--socket={munge}/munge.socket",
             f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
             f"--seed-file={munge}/seed", "-f")
        self.conf.write_text(CONF.format(host=socket.gethostname(), dir=self.dir,
                                         ctld_port=free_port(), d_port=free_port(),
                                         cpus=os.cpu_count()))
        os.environ["SLURM_CONF"] = str(self.conf)
        _run("/usr/sbin/slurmctld", "-i")
        _run("/usr/sbin/slurmd")
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                return self
            time.sleep(0.5)
        self.__exit__()
        raise AssertionError(f"the SLURM node did not come up: {self.log()}")

    def log(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.dir.glob("*.log")))

    def __exit__(self, *exc) -> None:
        for pid_file in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
            path = self.dir / pid_file
            if path.exists():
                try:
                    os.kill(int(path.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
        time.sleep(1)
        if self.saved_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self.saved_conf
        shutil.rmtree(self.dir, ignore_errors=True)
