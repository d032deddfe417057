"""CTR networks: the FM identity, DCN's cross layer in closed form, the shared embedding,
and on synthetic data with a known optimum: crosses help, nothing passes the optimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from recbench.data.synthetic_ctr import generate_ctr
from recbench.evaluation.ctr import auc
from recbench.models.ctr.autoint import AutoIntNet, InteractingLayer
from recbench.models.ctr.dcn import CrossLayer, DCNNet
from recbench.models.ctr.deepfm import DeepFMNet
from recbench.models.ctr.fm import FMNet
from recbench.models.ctr.layers import CTRInputs, FieldEmbedding, fm_pairwise, reset_dense_layers
from recbench.models.ctr.lr import LRNet
from recbench.models.ctr.xdeepfm import CIN, XDeepFMNet


def test_fm_pairwise_term_equals_the_sum_over_pairs():
    e = torch.randn(7, 5, 3, dtype=torch.float64)
    explicit = sum((e[:, f] * e[:, g]).sum(1) for f, g in itertools.combinations(range(5), 2))
    assert torch.allclose(fm_pairwise(e), explicit, atol=1e-12)


def test_cross_layer_closed_form_on_a_hand_example():
    layer = CrossLayer(2)
    with torch.no_grad():
        layer.w.copy_(torch.tensor([0.5, -1.0]))
        layer.b.copy_(torch.tensor([0.1, 0.2]))
    x0, x = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])
    # x.w = 1.5 - 4 = -2.5; x0 * -2.5 + b + x = [-2.5 + 0.1 + 3, -5 + 0.2 + 4]
    assert torch.allclose(layer(x0, x), torch.tensor([[0.6, -0.8]]))


def test_cin_layer_is_the_weighted_sum_of_field_products():
    torch.manual_seed(1)
    x0 = torch.randn(3, 4, 5, dtype=torch.float64)  # (B, fields, dim)
    cin = CIN(4, [2]).double()
    w, b = cin.convs[0].weight[:, :, 0].view(2, 4, 4), cin.convs[0].bias  # (maps, i, j)
    explicit = torch.stack([sum(w[h, i, j] * x0[:, i] * x0[:, j]
                                for i in range(4) for j in range(4)) + b[h]
                            for h in range(2)], dim=1).sum(-1)
    assert torch.allclose(cin(x0), explicit, atol=1e-12)


def test_interacting_layer_is_softmax_attention_per_head_plus_residual():
    torch.manual_seed(2)
    layer = InteractingLayer(3, head_dim=2, heads=2).double()
    e = torch.randn(1, 4, 3, dtype=torch.float64)
    q, k, v = layer.qkv(e)[0].view(4, 3, 2, 2).unbind(1)  # (fields, heads, head_dim) each
    heads = [torch.softmax(q[:, h] @ k[:, h].T, dim=-1) @ v[:, h] for h in range(2)]
    explicit = torch.relu(torch.cat(heads, dim=1) + layer.residual(e)[0])
    assert torch.allclose(layer(e)[0], explicit, atol=1e-12)


def test_dense_layers_start_as_fuxictrs_do():
    """Xavier-normal weights (std sqrt(2 / (fan_in + fan_out))) and zero biases in every
    dense layer, DCN's cross vector as a Linear(width, 1); embeddings keep N(0, 1e-4)."""
    torch.manual_seed(0)
    net = DCNNet(FieldEmbedding([500] * 20, dim=10), n_cross=2, hidden=[400, 400])
    reset_dense_layers(net)
    dense = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(dense) == 3
    for m in dense:
        fan_out, fan_in = m.weight.shape
        assert m.weight.std().item() == pytest.approx((2 / (fan_in + fan_out)) ** 0.5, rel=0.1)
        assert torch.count_nonzero(m.bias) == 0
    assert net.cross[0].w.std().item() == pytest.approx((2 / (200 + 1)) ** 0.5, rel=0.15)
    assert net.embedding.table.weight.std().item() == pytest.approx(1e-4, rel=0.05)


def test_field_embedding_pools_sequences_and_scales_numbers():
    emb = FieldEmbedding([3, 4], [5], n_numeric=1, dim=2)
    with torch.no_grad():
        emb.table.weight.copy_(torch.arange(14, dtype=torch.float32).view(7, 2))
        emb.sequence_tables[0].weight.copy_(torch.arange(10, dtype=torch.float32).view(5, 2))
        emb.numeric_vectors.fill_(1.0)
    x = CTRInputs(torch.tensor([[2, 1]]), (torch.tensor([[3, 4, 0]]),), torch.tensor([[2.5]]))
    out = emb(x)[0]
    assert out[0].tolist() == [4, 5]  # field 0, value 2: row 2
    assert out[1].tolist() == [8, 9]  # field 1 starts at row 3: value 1 -> row 4
    assert out[2].tolist() == [7, 8]  # mean of tokens 3 ([6, 7]) and 4 ([8, 9]); 0 pads
    assert out[3].tolist() == [2.5, 2.5]
    empty = CTRInputs(torch.tensor([[2, 1]]), (torch.tensor([[0, 0, 0]]),), torch.tensor([[0.0]]))
    assert emb(empty)[0, 2].tolist() == [0, 0]


def test_fm_is_lr_plus_the_pairwise_term():
    torch.manual_seed(0)
    emb = FieldEmbedding([10, 10, 10], dim=4)
    torch.nn.init.normal_(emb.weights.weight)
    x = CTRInputs(torch.randint(0, 10, (6, 3)))
    assert torch.allclose(FMNet(emb)(x), LRNet(emb)(x) + fm_pairwise(emb(x)))


def _fit(net: torch.nn.Module, x: CTRInputs, y: torch.Tensor, epochs: int = 3) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for rows in torch.randperm(len(y), generator=generator).split(512):
            optimizer.zero_grad()
            batch = CTRInputs(x.indices[rows])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(batch), y[rows])
            loss.backward()
            optimizer.step()


def test_on_synthetic_data_crosses_help_and_nothing_passes_the_optimum():
    data = generate_ctr(20_000, cardinalities=(100, 50, 20, 10), pairwise=1.5, seed=7)
    train, test = slice(0, 15_000), slice(15_000, None)
    x = CTRInputs(torch.from_numpy(data.fields) + 2)  # 0, 1: missing and out-of-vocabulary
    y = torch.from_numpy(data.labels.astype(np.float32))
    sizes = [int(c) + 2 for c in data.fields.max(axis=0) + 1]
    optimum = data.optimum(test)["auc"]
    aucs = {}
    for name, make in {"lr": LRNet, "fm": FMNet,
                       "deepfm": lambda e: DeepFMNet(e, hidden=[64, 64]),
                       "dcn": lambda e: DCNNet(e, n_cross=2, hidden=[64]),
                       "dcnv2": lambda e: DCNNet(e, n_cross=2, hidden=[64], v2=True),
                       "xdeepfm": lambda e: XDeepFMNet(e, cin=[16, 16], hidden=[64]),
                       "autoint+": lambda e: AutoIntNet(e, n_layers=2, head_dim=8, hidden=[64])
                       }.items():
        torch.manual_seed(0)
        net = make(FieldEmbedding(sizes, dim=8))
        _fit(net, CTRInputs(x.indices[train]), y[train])
        with torch.no_grad():
            aucs[name] = auc(data.labels[test], net(CTRInputs(x.indices[test])).numpy())
    assert all(a <= optimum + 0.002 for a in aucs.values()), (aucs, optimum)
    assert all(aucs[m] > aucs["lr"] + 0.02 for m in aucs if m != "lr"), aucs


@pytest.mark.parametrize("make", [LRNet, FMNet, lambda e: DeepFMNet(e, hidden=[8]),
                                  lambda e: DCNNet(e, n_cross=2, hidden=[8]),
                                  lambda e: XDeepFMNet(e, cin=[4, 4], hidden=[8]),
                                  lambda e: AutoIntNet(e, n_layers=2, head_dim=4, hidden=[8])])
def test_same_seed_same_logits(make):
    x = CTRInputs(torch.randint(0, 5, (4, 3)), (), torch.rand(4, 2))
    logits = []
    for _ in range(2):
        torch.manual_seed(3)
        logits.append(make(FieldEmbedding([5, 5, 5], n_numeric=2, dim=4))(x))
    assert logits[0].shape == (4,) and torch.equal(logits[0], logits[1])
