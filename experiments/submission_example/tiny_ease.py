"""A recommender that runs outside recbench: EASE (Steck 2019) in numpy, trained on the
files of `recbench data export`, writing one TREC run file per part for `recbench submit`.

No recbench import: only the exported files (csv/ and protocol.json) and numpy/scipy.

    python tiny_ease.py EXPORT_DIR OUT_DIR [--l2 500]

writes OUT_DIR/test.run and OUT_DIR/valid.run (each part protocol.json lists).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp


def read_column_pairs(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        return [(row["user"], row["item"]) for row in csv.DictReader(f)]


def read_column(path: Path, name: str) -> list[str]:
    with open(path, newline="") as f:
        return [row[name] for row in csv.DictReader(f)]


def ease_weights(train: sp.csr_matrix, l2: float) -> np.ndarray:
    """B = I - P diagMat(1 / diag(P)), P = (X^T X + l2 I)^-1, diagonal zeroed."""
    gram = (train.T @ train).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    p = np.linalg.inv(gram)
    weights = -p / np.diag(p)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


def top_k(scores: np.ndarray, masked: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best unmasked items, highest score first, equal scores by catalogue
    order (the export's items.csv order: how recbench breaks ties)."""
    scores = np.where(masked, -np.inf, scores)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order


def write_run(path: Path, header: str, users: list[str], items: list[str],
              lists: np.ndarray, keep: np.ndarray, tag: str) -> None:
    """TREC run lines `user Q0 item rank score tag`; scores k - rank (distinct, exact)."""
    k = lists.shape[1]
    with open(path, "w") as f:
        f.write(header + "\n")
        for user, row, ok in zip(users, lists, keep):
            for rank, item in enumerate(row[ok]):
                f.write(f"{user} Q0 {items[item]} {rank + 1} {k - rank} {tag}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--l2", type=float, default=500.0)
    args = parser.parse_args()
    protocol = json.loads((args.export_dir / "protocol.json").read_text())
    folder = args.export_dir / "csv"
    items = read_column(folder / "items.csv", "item")
    item_index = {item: i for i, item in enumerate(items)}
    train_pairs = read_column_pairs(folder / "train.csv")
    users = sorted({u for u, _ in train_pairs})
    for part in protocol["parts"]:
        users += read_column(folder / f"{part}_users.csv", "user")
    user_index = {u: i for i, u in enumerate(dict.fromkeys(users))}

    def matrix(pairs: list[tuple[str, str]]) -> sp.csr_matrix:
        rows = [user_index[u] for u, _ in pairs]
        cols = [item_index[i] for _, i in pairs]
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                             shape=(len(user_index), len(items)))

    train = matrix(train_pairs)
    weights = ease_weights(train, args.l2)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for part in protocol["parts"]:
        targets = read_column(folder / f"{part}_users.csv", "user")
        rows = np.array([user_index[u] for u in targets])
        masked = matrix(read_column_pairs(folder / f"{part}_masked.csv"))[rows].toarray() > 0
        scores = np.asarray(train[rows] @ weights)
        lists = top_k(scores, masked, protocol["k"])
        keep = ~np.take_along_axis(masked, lists, axis=1)  # a list that runs out ends early
        path = args.out_dir / f"{part}.run"
        write_run(path, protocol["header"], targets, items, lists, keep, "tiny-ease")
        print(f"wrote {path}: {len(targets)} users, top-{protocol['k']}")


if __name__ == "__main__":
    main()
