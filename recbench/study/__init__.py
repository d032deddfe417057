"""Studies of an experiment's finished runs: questions about the benchmark itself, asked of
the runs a leaderboard reports (per model its chosen configuration and seeds).

    ``sampled_vs_full``  do sampled ranking metrics order models as full ranking does? The
                         runs are re-fitted from their logged config and seed and scored
                         again; nothing is logged back (:mod:`.sampled_vs_full`,
                         ``recbench study sampled-vs-full``)
    ``data_fraction``    learning curves over shares of the train data (:mod:`.data_fraction`,
                         ``recbench study data-fraction``)

Shared parts: :mod:`.refit` (a logged run's config rebuilt and its model re-fitted),
:mod:`.agreement` (rank correlations and flipped pairs of two model orders).
"""
