"""FuxiCTR 2.3.10's side of ``benchmarks/ctr_parity.py``: runs in its own virtual environment
(``.bench-venvs/fuxictr``, never recbench's: FuxiCTR needs a newer Ray than RecBole), imports
nothing from recbench, and prints one JSON line.

    python benchmarks/fuxictr_runner.py DATA_DIR MODEL SEED HPARAMS_JSON

``DATA_DIR`` holds ``train.csv``, ``valid.csv``, ``test.csv`` and ``fields.json`` (written by
ctr_parity.py). FuxiCTR's pip package ships its library (data pipeline, feature embedding,
layers, ``BaseModel`` with its training loop, early stopping and metrics) but not its model
zoo, so DeepFM and DCNv2 are assembled here from the library's layers exactly as
``model_zoo/DeepFM`` and ``model_zoo/DCNv2`` (parallel structure) do.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time

import torch
from torch import nn


def models():
    from fuxictr.pytorch.layers import (CrossNetV2, FactorizationMachine, FeatureEmbedding,
                                        MLP_Block)
    from fuxictr.pytorch.models import BaseModel

    class DeepFM(BaseModel):
        def __init__(self, feature_map, embedding_dim=10, hidden_units=(400, 400, 400),
                     net_dropout=0.0, batch_norm=False, learning_rate=1e-3, **kwargs):
            super().__init__(feature_map, model_id="DeepFM", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            self.fm = FactorizationMachine(feature_map)
            self.mlp = MLP_Block(input_dim=feature_map.sum_emb_out_dim(), output_dim=1,
                                 hidden_units=list(hidden_units), hidden_activations="ReLU",
                                 output_activation=None, dropout_rates=net_dropout,
                                 batch_norm=batch_norm)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X)
            y = self.fm(X, emb) + self.mlp(emb.flatten(start_dim=1))
            return {"y_pred": self.output_activation(y)}

    class DCNv2(BaseModel):
        def __init__(self, feature_map, embedding_dim=10, hidden_units=(400, 400, 400),
                     num_cross_layers=3, net_dropout=0.0, batch_norm=False,
                     learning_rate=1e-3, **kwargs):
            super().__init__(feature_map, model_id="DCNv2", **kwargs)
            self.embedding_layer = FeatureEmbedding(feature_map, embedding_dim)
            width = feature_map.sum_emb_out_dim()
            self.crossnet = CrossNetV2(width, num_cross_layers)
            self.parallel_dnn = MLP_Block(input_dim=width, output_dim=None,
                                          hidden_units=list(hidden_units),
                                          hidden_activations="ReLU", output_activation=None,
                                          dropout_rates=net_dropout, batch_norm=batch_norm)
            self.fc = nn.Linear(width + hidden_units[-1], 1)
            self.compile(kwargs["optimizer"], kwargs["loss"], learning_rate)
            self.reset_parameters()
            self.model_to_device()

        def forward(self, inputs):
            X = self.get_inputs(inputs)
            emb = self.embedding_layer(X, flatten_emb=True)
            out = torch.cat([self.crossnet(emb), self.parallel_dnn(emb)], dim=-1)
            return {"y_pred": self.output_activation(self.fc(out))}

    return {"DeepFM": DeepFM, "DCNv2": DCNv2}


def main(data_dir: str, model_name: str, seed: int, hparams: dict) -> dict:
    from fuxictr.features import FeatureMap
    from fuxictr.preprocess import FeatureProcessor, build_dataset
    from fuxictr.pytorch.dataloaders import RankDataLoader
    from fuxictr.pytorch.torch_utils import seed_everything

    logging.disable(logging.WARNING)  # FuxiCTR logs every batch at INFO
    torch.set_num_threads(int(hparams.pop("threads")))
    fields = json.load(open(os.path.join(data_dir, "fields.json")))
    feature_cols = [
        {"name": f["name"], "active": True, "dtype": "str", "type": "sequence",
         "splitter": f["separator"], "max_len": f["max_len"], "padding": "post",
         "feature_encoder": "layers.MaskedAveragePooling()"}  # recbench pools by the mean
        if f["kind"] == "sequence" else
        {"name": f["name"], "active": True, "dtype": "str", "type": "categorical"}
        for f in fields]
    # FuxiCTR's encoded data (parquet, feature_map.json) is built by the first run and
    # reused by the next ones (ctr_parity.py clears it when it exports the CSV files)
    work = os.path.join(data_dir, "fuxictr")
    checkpoints = tempfile.mkdtemp(prefix="fuxictr-")
    os.makedirs(os.path.join(checkpoints, "ml100k_ctr"))  # BaseModel saves there
    params = {
        "dataset_id": "ml100k_ctr", "data_root": work, "data_format": "csv",
        "train_data": os.path.join(data_dir, "train.csv"),
        "valid_data": os.path.join(data_dir, "valid.csv"),
        "test_data": os.path.join(data_dir, "test.csv"),
        "min_categr_count": 1, "feature_cols": feature_cols,
        "label_col": {"name": "label", "dtype": "float"},
        "model_root": checkpoints, "num_workers": 0, "verbose": 0,
        "early_stop_patience": hparams.pop("patience"), "save_best_only": True,
        "reduce_lr_on_plateau": False,  # recbench has no schedule: the same loop both sides
        "eval_steps": None, "debug_mode": False, "group_id": None, "use_features": None,
        "feature_specs": None, "feature_config": None, "pickle_feature_encoder": False,
        "loss": "binary_crossentropy", "metrics": ["logloss", "AUC"],
        "task": "binary_classification", "optimizer": "adam", "monitor": "AUC",
        "monitor_mode": "max", "shuffle": True, "seed": seed, "gpu": -1,
        "embedding_regularizer": None, "net_regularizer": None, **hparams}
    seed_everything(seed=seed)
    started = time.perf_counter()
    encoder = FeatureProcessor(**params)
    params["train_data"], params["valid_data"], params["test_data"] = \
        build_dataset(encoder, **params)
    feature_map = FeatureMap(params["dataset_id"], os.path.join(work, params["dataset_id"]))
    feature_map.load(os.path.join(work, params["dataset_id"], "feature_map.json"), params)
    prepare_s = time.perf_counter() - started
    model = models()[model_name](feature_map, **params)
    train_gen, valid_gen = RankDataLoader(feature_map, stage="train", **params)
    started = time.perf_counter()
    model.fit(train_gen, validation_data=valid_gen, **params)
    fit_s = time.perf_counter() - started
    epochs = model._epoch_index + 1
    test_gen = RankDataLoader(feature_map, stage="test", **params)
    started = time.perf_counter()
    valid = model.evaluate(valid_gen)
    test = model.evaluate(test_gen)
    eval_s = time.perf_counter() - started
    return {"library": "FuxiCTR", "model": model_name, "seed": seed,
            "valid_auc": valid["AUC"], "test_auc": test["AUC"], "test_logloss": test["logloss"],
            "epochs": epochs, "fit_s": fit_s, "epoch_s": fit_s / epochs, "eval_s": eval_s,
            "prepare_s": prepare_s}  # not compared: done once, by the first run


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]))))
