"""Stage 5: MLflow tracking of every run. Submodules import MLflow; this package does not
(its :mod:`.settings` describe the ``tracking`` and ``sweep`` config groups, read when a
config is checked)."""
