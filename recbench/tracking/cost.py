"""What a run cost: energy and CO2 (CodeCarbon), peak memory, per run.

Energy is measured by CodeCarbon's offline tracker in ``process`` mode (this process's
CPU load and memory, not the machine's), over ``fit`` and ``evaluate``: data loading and
splitting are shared by every model and cached, so they are not a model's cost. CodeCarbon
reads the CPU's energy counters (RAPL) where the kernel exposes them
(``/sys/class/powercap``) and otherwise estimates the CPU's power from its load and its
TDP (method ``cpu_load``), or from the TDP alone (``TDP constant``); the method is logged
as the tag ``energy_method``. CO2 is energy times the carbon intensity of
``tracking.country_iso_code``'s grid (CodeCarbon's table; offline: no network).

Metering never fails a run: when CodeCarbon cannot start or stop, the run logs no energy
and the tag says ``energy_method=unavailable (<reason>)``.

Peak memory is the peak resident set size of this process during the run (``max_rss_mb``):
Linux's ``VmHWM`` is reset at the start of each run (``/proc/self/clear_refs``), so the runs
of one sweep process each get their own peak. Where it cannot be reset, the process's peak
so far is logged and the tag ``max_rss_scope`` says ``process``. On a GPU,
``max_gpu_memory_mb`` is the peak of memory torch allocated on the device.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
#: CodeCarbon's first start in a process detects the hardware (CPU model, TDP table,
#: ~2.5 s here); done once per process in a thread, beside the run's data loading
_warm = threading.Lock()
_warmed: set[str] = set()


def _tracker(country: str):
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)  # quiet unless it fails

    return OfflineEmissionsTracker(country_iso_code=country, save_to_file=False,
                                   log_level="error", tracking_mode="process",
                                   allow_multiple_runs=True, measure_power_secs=15)


def _warm_up(country: str) -> None:
    with _warm:
        if country in _warmed:
            return
        try:
            tracker = _tracker(country)
            tracker.start()
            tracker.stop()
        except Exception:  # the meter's own start reports the failure
            pass
        _warmed.add(country)


def prepare(country: str) -> threading.Thread:
    """Start detecting the hardware in the background (call early in a run)."""
    thread = threading.Thread(target=_warm_up, args=(country,), daemon=True)
    thread.start()
    return thread


def _rss_mb(key: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


@dataclass
class CostMeter:
    """Meter one run's fit and evaluation: ``with CostMeter(country) as meter: ...``, then
    :attr:`metrics` (``energy_kwh``, ``co2_kg``, ``cpu_energy_kwh``, ``ram_energy_kwh``,
    ``max_rss_mb``, ``max_gpu_memory_mb``) and :attr:`tags` (``energy_method``,
    ``energy_country``, ``max_rss_scope``).

    Args:
        country: ISO 3166-1 alpha-3 code of the grid (``tracking.country_iso_code``).
        energy: meter energy at all (``tracking.energy``).
    """

    country: str
    energy: bool = True
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def __enter__(self) -> "CostMeter":
        self._tracker, self._method = None, "off (tracking.energy=false)"
        if self.energy:
            try:
                _warm_up(self.country)  # waits for prepare()'s thread, if any
                self._tracker = _tracker(self.country)
                self._tracker.start()
            except Exception as err:
                self._tracker, self._method = None, f"unavailable ({type(err).__name__})"
        self.tags["max_rss_scope"] = "run" if _reset_peak_rss() else "process"
        self._cuda = _cuda_reset()
        return self

    def __exit__(self, *exc) -> None:
        if self._tracker is not None:
            try:
                self._tracker.stop()
                data = self._tracker.final_emissions_data
                self.metrics |= {"energy_kwh": float(data.energy_consumed),
                                 "co2_kg": float(data.emissions),
                                 "cpu_energy_kwh": float(data.cpu_energy),
                                 "ram_energy_kwh": float(data.ram_energy)}
                if data.gpu_energy:
                    self.metrics["gpu_energy_kwh"] = float(data.gpu_energy)
                self._method = _method(self._tracker)
            except Exception as err:
                self._method = f"unavailable ({type(err).__name__})"
        self.tags |= {"energy_method": self._method, "energy_country": self.country}
        peak = _rss_mb("VmHWM")
        if peak is None:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
            self.tags["max_rss_scope"] = "process"
        self.metrics["max_rss_mb"] = float(peak)
        if self._cuda:
            import torch

            self.metrics["max_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20


def _method(tracker) -> str:
    """How CodeCarbon measured the CPU: ``intel_rapl``, ``cpu_load``, ``TDP constant``..."""
    cpu = next((h for h in tracker._hardware if type(h).__name__ == "CPU"), None)
    mode = getattr(cpu, "_mode", None)
    return str(mode) if mode else "unknown"


def _cuda_reset() -> bool:
    import sys

    torch = sys.modules.get("torch")  # a run that never imported torch used no GPU
    if torch is None or not torch.cuda.is_available():
        return False
    torch.cuda.reset_peak_memory_stats()
    return True
