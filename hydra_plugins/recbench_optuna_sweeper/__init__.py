"""recbench's Optuna sweeper for Hydra (current Optuna; see optuna_sweeper.py)."""
