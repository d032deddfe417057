"""The ``tracking`` and ``sweep`` config groups, described once (:mod:`recbench.settings`).
Neither changes results: where runs are logged, and the bookkeeping ``recbench run`` hands
the jobs of a sweep. No MLflow import: checking a config stays fast.
"""

from __future__ import annotations

from recbench.errors import RecbenchError
from recbench.settings import Setting

def _country(value, where: str) -> None:
    if not (isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()):
        raise RecbenchError(f"{where} must be an ISO 3166-1 alpha-3 country code such as "
                            f"FRA, USA or DEU, got {value!r}.")


#: the ``tracking`` node (configs/tracking/mlflow.yaml): null = the embedded store in the
#: working directory (:func:`recbench.tracking.store.resolve_store`)
TRACKING = {
    "uri": Setting("str | None", result=False),
    "artifact_root": Setting("str | None", result=False),
    # what a run cost (recbench.tracking.cost): metered, not a result
    "energy": Setting("bool", result=False),
    "country_iso_code": Setting("str", lambda value, node, where: _country(value, where),
                                result=False),
}

#: the ``sweep`` node: set by ``recbench run`` for the jobs it launches (configs/run.yaml)
SWEEP = {
    "parent": Setting("str | None", result=False),  # MLflow run id of the sweep's parent
    "rerun": Setting("bool", result=False),  # run configs that already FINISHED again
    "final": Setting("bool", result=False),  # a tuned config re-run on one of tuning.seeds
    "owner": Setting("str | None", result=False),  # host:pid of the launching command
}
