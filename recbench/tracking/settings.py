"""The ``tracking`` and ``sweep`` config groups, described once (:mod:`recbench.settings`).
Neither changes results: where runs are logged, and the bookkeeping ``recbench run`` hands
the jobs of a sweep. No MLflow import: checking a config stays fast.
"""

from __future__ import annotations

from recbench.settings import Setting

#: the ``tracking`` node (configs/tracking/mlflow.yaml): null = the embedded store in the
#: working directory (:func:`recbench.tracking.store.resolve_store`)
TRACKING = {
    "uri": Setting("str | None", result=False),
    "artifact_root": Setting("str | None", result=False),
}

#: the ``sweep`` node: set by ``recbench run`` for the jobs it launches (configs/run.yaml)
SWEEP = {
    "parent": Setting("str | None", result=False),  # MLflow run id of the sweep's parent
    "rerun": Setting("bool", result=False),  # run configs that already FINISHED again
    "final": Setting("bool", result=False),  # a tuned config re-run on one of tuning.seeds
    "owner": Setting("str | None", result=False),  # host:pid of the launching command
}
