"""recbench: honest, repeatable benchmarking of recommender systems."""

__version__ = "0.1.0"
