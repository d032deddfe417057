"""Tasks (``task`` config group): what a model is fitted on and how it is scored.

A run is the same pipeline for every task (:func:`recbench.run.run`); the task decides
which parts of the split are inputs, which are masked, and which metrics are computed.
"""
