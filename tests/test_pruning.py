"""Tests of workbench.pruning: criteria on tiny tensors, mask invariants, physical removal,
schedules, the oracle, the explorer and the exercises."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils import prune as torch_prune

import workbench as wb
from workbench import pruning as pr
from workbench.exercises import pruning as ex
from workbench.pruning import criteria as C
from workbench.pruning import masks as M
from workbench.pruning import oracle as O
from workbench.pruning import schedules as S
from workbench.pruning import sensitivity as SE
from workbench.pruning import sparse as SP
from workbench.pruning import structured as ST
from workbench.solutions import pruning as ref
from workbench.weights import deep_copy


@pytest.fixture(scope="module")
def ds():
    full = wb.load("digits")
    # a small dataset keeps training-based tests fast; the splits stay real digits
    return dataclasses.replace(full, X_train=full.X_train[:512], y_train=full.y_train[:512],
                               X_val=full.X_val[:200], y_val=full.y_val[:200])


def _x(n=6, seed=0):
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- criteria: known answers


def test_l1_norm_known_answer_and_torch_reference():
    w = torch.tensor([[[[1.0, -2.0]]], [[[0.5, 0.5]]], [[[0.0, -3.0]]]])
    assert C.l1_norm(w).tolist() == [3.0, 1.0, 3.0]
    conv = nn.Conv2d(3, 5, 3)
    expected = torch.stack([torch.norm(conv.weight[i], p=1) for i in range(5)])
    assert torch.allclose(C.l1_norm(conv.weight), expected)


def test_magnitude_is_abs():
    assert C.magnitude(torch.tensor([-0.5, 0.25, 0.0])).tolist() == [0.5, 0.25, 0.0]


def test_apoz_known_answer():
    a = torch.tensor([[[[0.0, 1.0]], [[2.0, 3.0]]], [[[0.0, 0.0]], [[0.0, 5.0]]]])   # (N=2, C=2, 1, 2)
    assert C.apoz(a).tolist() == [0.75, 0.25]
    assert C.apoz(torch.zeros(3, 4)).tolist() == [1.0] * 4


def test_entropy_known_answers():
    # two equally likely pooled values: 1 bit; a constant channel: 0 bits; four equal bins: 2 bits
    a = torch.tensor([[0.0, 5.0, 0.0], [0.0, 5.0, 1.0], [1.0, 5.0, 2.0], [1.0, 5.0, 3.0]])   # (N=4, C=3)
    assert torch.allclose(C.entropy(a, bins=4), torch.tensor([1.0, 0.0, 2.0]))
    # spatial maps are pooled first: these two maps have means 0.5 and 0.5 -> constant channel
    maps = torch.tensor([[[[0.0, 1.0]]], [[[1.0, 0.0]]]])
    assert C.entropy(maps).tolist() == [0.0]


def test_taylor_matches_autograd_on_a_tiny_layer():
    torch.manual_seed(0)
    layer, head = nn.Linear(4, 3), nn.Linear(3, 2)
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1])
    z = layer(x)
    z.retain_grad()
    F.cross_entropy(head(z), y).backward()
    expected = (z * z.grad).abs().mean(0)            # |a * g| per example, averaged
    assert torch.allclose(C.taylor(z.detach(), z.grad), expected)
    assert C.taylor(torch.tensor([[1.0, 2.0], [3.0, 0.0]]), torch.tensor([[1.0, 1.0], [-1.0, 5.0]])).tolist() == [2.0, 1.0]


def test_weight_taylor_and_random():
    assert C.weight_taylor(torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])).tolist() == [1.0, 3.0]
    r1, r2 = C.random_scores((4, 3), seed=1), C.random_scores((4, 3), seed=1)
    assert torch.equal(r1, r2) and not torch.equal(r1, C.random_scores((4, 3), seed=2))
    assert C.layer_seed("a") != C.layer_seed("b")


def test_every_registry_entry_scores_every_channel(ds):
    model = wb.get_baseline("lenet5")
    for name in C.CRITERIA:
        scores = pr.channel_scores(model, name, ds)
        assert {k: tuple(v.shape) for k, v in scores.items()} == {
            "features.0": (6,), "features.3": (16,), "classifier.1": (120,), "classifier.3": (84,)}
        assert all(torch.isfinite(v).all() for v in scores.values())


def test_weight_scores_shapes_and_taylor_uses_weight_gradients(ds):
    model = wb.get_baseline("lenet300")
    for name in ("l1", "taylor", "random"):
        s = pr.weight_scores(model, name, ds)
        assert {k: tuple(v.shape) for k, v in s.items()} == {
            "classifier.1": (300, 784), "classifier.3": (100, 300), "classifier.5": (10, 100)}
    # taylor = |w * dL/dw| with the loss averaged over the val split
    X, y = ds.split("val")
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    expected = (model.classifier[5].weight * model.classifier[5].weight.grad).abs()
    got = pr.weight_scores(model, "taylor", ds)["classifier.5"]
    assert torch.allclose(got, expected, atol=1e-7)


def test_collect_leaves_no_gradients_and_restores_mode(ds):
    model = wb.get_baseline("lenet5").train()
    pr.channel_scores(model, "taylor", ds)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_criterion_errors():
    with pytest.raises(ValueError, match=r"unknown criterion 'l2'; criterion must be one of: l1, apoz"):
        C.get("l2")
    with pytest.raises(ValueError, match=r"criterion 'apoz' scores whole channels .* use one of: l1, taylor, random"):
        pr.weight_scores(wb.build("lenet300"), "apoz")
    with pytest.raises(ValueError, match=r"criterion 'taylor' needs data"):
        pr.channel_scores(wb.build("lenet5"), "taylor")
    with pytest.raises(ValueError, match=r"activation must have at least 2 dimensions"):
        C.apoz(torch.zeros(3))
    with pytest.raises(ValueError, match=r"gradient must have the shape of activation"):
        C.taylor(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"bins must be in \[2, 4096\], got 1"):
        C.entropy(torch.zeros(2, 3), bins=1)


# ---------------------------------------------------------------- thresholds and masks


def test_threshold_removes_exactly_round_amount_n():
    s = torch.tensor([[5.0, 1.0], [3.0, 2.0]])
    assert M.threshold(s, 0.25).tolist() == [[True, False], [True, True]]
    assert M.threshold(s, 0.0).all()
    for amount in (0.1, 0.33, 0.5, 0.9, 0.99):
        keep = M.threshold(torch.rand(1000), amount)
        assert int((~keep).sum()) == round(amount * 1000)
    # ties go by position
    assert M.threshold(torch.zeros(4), 0.5).tolist() == [False, False, True, True]


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5])
def test_threshold_rejects_amount_outside_0_1(amount):
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\), got"):
        M.threshold(torch.rand(3), amount)


def test_layerwise_masks_match_torch_l1_unstructured():
    model = wb.build("lenet300")
    scores = pr.weight_scores(model, "l1")
    ours = M.layerwise(scores, 0.7)
    for name, layer in pr.weight_layers(deep_copy(model)).items():
        torch_prune.l1_unstructured(layer, "weight", amount=0.7)
        assert torch.equal(ours[name], layer.weight_mask.bool()), name


def test_global_masks_match_torch_global_unstructured():
    model = wb.build("lenet300")
    ours = M.global_threshold(pr.weight_scores(model, "l1"), 0.8)
    ref_model = deep_copy(model)
    params = [(m, "weight") for m in pr.weight_layers(ref_model).values()]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.8)
    for name, layer in pr.weight_layers(ref_model).items():
        assert torch.equal(ours[name], layer.weight_mask.bool()), name
    # global: layers lose different fractions
    fractions = {n: 1 - m.float().mean().item() for n, m in ours.items()}
    assert max(fractions.values()) - min(fractions.values()) > 0.1


def test_global_threshold_normalize_and_min_keep():
    scores = {"big": torch.tensor([10.0, 20.0, 30.0]), "small": torch.tensor([0.1, 0.2, 0.3])}
    assert not M.global_threshold(scores, 0.5)["small"].any()
    assert M.global_threshold(scores, 0.5, min_keep=1)["small"].tolist() == [False, False, True]
    normalized = M.global_threshold(scores, 0.34, normalize=True)   # same shapes of scores: same masks
    assert normalized["big"].tolist() == normalized["small"].tolist()
    with pytest.raises(ValueError, match=r"scope must be one of: layer, global"):
        M.keep_masks(scores, 0.5, "local")


def test_mask_invariants_weight_is_original_times_mask():
    layer = nn.Linear(6, 4)
    original_param = layer.weight
    mask = (torch.rand(4, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    M.apply_masks(layer, {"weight": mask})
    assert parametrize.is_parametrized(layer, "weight")
    assert layer.parametrizations.weight.original is original_param          # parameter identity survives
    assert torch.equal(layer.weight, layer.parametrizations.weight.original * mask)
    # replacing a mask replaces it (no stacking)
    M.apply_masks(layer, {"weight": torch.ones(4, 6)})
    assert len(layer.parametrizations.weight) == 1
    assert torch.equal(layer.weight, original_param)


def test_all_ones_mask_changes_nothing():
    model = wb.build("lenet5")
    x = _x()
    before = model(x)
    M.apply_masks(model, {f"{n}.weight": torch.ones_like(m.weight) for n, m in pr.weight_layers(model).items()})
    assert torch.equal(model(x), before)


def test_masks_survive_training_but_plain_zeros_regrow(ds):
    masked = M.mask_weights(wb.get_baseline("lenet300"), pr.weight_scores(wb.build("lenet300"), "l1"), 0.8)
    zeros_before = M.masks_of(masked)
    wb.fine_tune(masked, ds, num_epochs=1, lr=1e-3, progress=False)
    for path, keep in zeros_before.items():
        mod, attr = path.rsplit(".", 1)
        assert (getattr(masked.get_submodule(mod), attr)[~keep] == 0).all()
    plain = M.zero_weights(wb.get_baseline("lenet300"), pr.weight_scores(wb.get_baseline("lenet300"), "l1"), 0.8)
    wb.fine_tune(plain, ds, num_epochs=1, lr=1e-3, progress=False)
    assert wb.sparsity(plain) < 0.1                # without masks, training regrows the pruned weights


def test_zero_weights_matches_mask_weights_and_masks_from_zeros():
    base = wb.build("lenet300")
    scores = pr.weight_scores(base, "l1")
    masked = M.mask_weights(deep_copy(base), scores, 0.6, "global")
    zeroed = M.zero_weights(deep_copy(base), scores, 0.6, "global")
    x = _x()
    assert torch.allclose(masked(x), zeroed(x), atol=1e-6)
    for path, keep in M.masks_from_zeros(zeroed).items():
        assert torch.equal(keep, M.masks_of(masked)[path])
    assert abs(M.layer_sparsity(zeroed)["all weights"] - 0.6) < 1e-3


def test_apply_masks_errors():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"model has no parameter 'kernel'"):
        M.apply_masks(layer, {"kernel": torch.ones(2, 3)})
    with pytest.raises(ValueError, match=r"mask for 'weight' has shape \(3, 3\), which does not broadcast"):
        M.apply_masks(layer, {"weight": torch.ones(3, 3)})


# ---------------------------------------------------------------- physical removal


def test_prune_out_and_in_channels_pairs():
    conv, nxt, bn = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 2, 3), nn.BatchNorm2d(4)
    kept_w, kept_b = conv.weight[[0, 2]].clone(), conv.bias[[0, 2]].clone()
    ST.prune_out_channels(conv, [1, 3])
    ST.prune_out_channels(bn, [1, 3])
    ST.prune_in_channels(nxt, [1, 3])
    assert torch.equal(conv.weight, kept_w) and torch.equal(conv.bias, kept_b)
    assert (conv.out_channels, bn.num_features, nxt.in_channels) == (2, 2, 2)
    assert tuple(nxt.weight.shape) == (2, 2, 3, 3)
    fc = nn.Linear(12, 5)
    cols = fc.weight[:, [0, 1, 2, 3, 8, 9, 10, 11]].clone()
    ST.prune_in_channels(fc, [1], factor=4)        # channel 1 = inputs 4..7 after a Flatten
    assert torch.equal(fc.weight, cols)


def test_prune_channel_errors():
    with pytest.raises(ValueError, match=r"idxs must be channel indices in \[0, 3\]"):
        ST.prune_out_channels(nn.Conv2d(1, 4, 3), [4])
    with pytest.raises(ValueError, match=r"idxs must leave at least one of the 2 channels"):
        ST.prune_out_channels(nn.Linear(3, 2), [0, 1])
    with pytest.raises(ValueError, match=r"layer must be a plain conv \(groups=1\) to lose input channels"):
        ST.prune_in_channels(nn.Conv2d(4, 4, 3, groups=4), [0])
    with pytest.raises(ValueError, match=r"layer must be a Conv2d, Linear or BatchNorm to lose output channels"):
        ST.prune_out_channels(nn.ReLU(), [0])
    masked = M.apply_masks(nn.Linear(3, 2), {"weight": torch.ones(2, 3)})
    with pytest.raises(ValueError, match=r"Linear holds a mask"):
        ST.prune_out_channels(masked, [0])


def _random_keep(model, amount=0.5, seed=0):
    scores = pr.channel_scores(model, "random", seed=seed)
    return ST.channel_keep(scores, amount)


@pytest.mark.parametrize("name", ["lenet300", "lenet5", "vgg", "resnet", "mobilenet"])
def test_removed_model_equals_masked_model_and_rebuilds(name):
    base = wb.build(name, seed=1).eval()
    for m in base.modules():                       # non-trivial BN statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.uniform_(-0.3, 0.3)
    keep = _random_keep(base)
    removed = ST.remove_channels(deep_copy(base), keep).eval()
    masked = ST.mask_channels(deep_copy(base), keep).eval()
    x = _x()
    with torch.no_grad():
        assert torch.allclose(removed(x), masked(x), atol=1e-5)
    assert wb.count_params(removed) < wb.count_params(base)
    assert wb.count_macs(removed, (1, 28, 28)) < wb.count_macs(base, (1, 28, 28))
    rebuilt = wb.build(**removed.config)
    rebuilt.load_state_dict(removed.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), removed(x))


def test_residual_groups_couple_the_shortcut():
    groups = {g.name: g for g in pr.channel_groups(wb.build("resnet"))}
    g = groups["layers.0.conv2"]
    assert g.producers == ("layers.0.conv2", "layers.0.shortcut.0")
    assert g.norms == ("layers.0.bn2", "layers.0.shortcut.1")
    assert "classifier.1" not in groups            # the output layer keeps its classes


def test_hand_surgery_matches_torch_pruning_on_vgg():
    base = wb.build("vgg", width=0.5, seed=2).eval()
    keep = _random_keep(base, 0.4, seed=3)
    hand = ST.remove_channels(deep_copy(base), keep, method="hand")
    graph = ST.remove_channels(deep_copy(base), keep, method="dependency_graph")
    assert hand.config == graph.config
    for (n1, t1), (n2, t2) in zip(hand.state_dict().items(), graph.state_dict().items()):
        assert n1 == n2 and torch.equal(t1, t2), n1


def test_prune_channels_halves_vgg():
    model = ST.prune_channels(wb.build("vgg"), pr.channel_scores(wb.build("vgg"), "l1"), 0.5)
    assert model.config["channels"] == (16, 32, 64)
    assert model.features[4].in_channels == 16 and model.classifier[1].in_features == 64


def test_remove_channels_errors():
    vgg = wb.build("vgg")
    with pytest.raises(ValueError, match=r"'classifier.1' is not a prunable channel group; groups: features.0, "
                                         r"features.4, features.8 \(the output layer cannot lose its classes\)"):
        ST.remove_channels(vgg, {"classifier.1": torch.ones(10, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"keep\['features.0'\] must keep at least one channel"):
        ST.remove_channels(vgg, {"features.0": torch.zeros(32, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"keep\['features.0'\] must have 32 entries, got 3"):
        ST.remove_channels(vgg, {"features.0": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match=r"method='hand' handles the plain chains"):
        ST.remove_channels(wb.build("resnet"), {}, method="hand")
    with pytest.raises(ValueError, match=r"model holds parametrized masks"):
        ST.remove_channels(M.mask_weights(wb.build("vgg"), pr.weight_scores(vgg, "l1"), 0.5), {})
    with pytest.raises(ValueError, match=r"model has no layer 'features.99'"):
        pr.groups.names_to_module(vgg, "features.99")


# ---------------------------------------------------------------- schedules


def test_cubic_sparsity_known_values_and_monotone():
    assert S.cubic_sparsity(0, 0.9, begin=0, end=100) == 0.0
    assert abs(S.cubic_sparsity(25, 0.9, begin=0, end=100) - 0.9 * (1 - 0.75 ** 3)) < 1e-12
    assert S.cubic_sparsity(500, 0.9, begin=0, end=100) == 0.9
    values = [S.cubic_sparsity(t, 0.8, begin=10, end=60) for t in range(0, 80)]
    assert values == sorted(values)
    steps = [b - a for a, b in zip(values[10:60], values[11:61])]
    assert steps[0] > steps[-1]                    # prunes fast early, slowly late
    with pytest.raises(ValueError, match=r"end must be in \[11, inf\], got 5"):
        S.cubic_sparsity(3, 0.5, begin=10, end=5)
    with pytest.raises(ValueError, match=r"final must be in \[0, 1\), got 1"):
        S.cubic_sparsity(3, 1.0, begin=0, end=5)


def test_gradual_prune_reaches_final_sparsity_and_keeps_masks(ds):
    out = S.gradual_prune(wb.get_baseline("lenet300"), ds, 0.8, num_epochs=2, every=2, progress=False)
    assert out.steps["sparsity"].iloc[-1] == 0.8
    assert list(out.steps["sparsity"]) == sorted(out.steps["sparsity"])
    assert abs(M.layer_sparsity(out.model)["all weights"] - 0.8) < 1e-3
    assert parametrize.is_parametrized(out.model.classifier[1], "weight")


def test_iterative_prune_records_rounds(ds):
    out = S.iterative_prune(wb.get_baseline("lenet300"), ds, (0.5, 0.7), epochs_per_step=1)
    assert list(out.steps["sparsity"]) == [0.5, 0.7]
    assert abs(M.layer_sparsity(out.model)["all weights"] - 0.7) < 1e-3
    assert len(out.history.records) == 2
    with pytest.raises(ValueError, match=r"amounts must increase"):
        S.iterative_prune(wb.build("lenet300"), ds, (0.7, 0.5))


def test_fine_tune_masked_keeps_zeros_and_returns_plain(ds):
    sparse = M.zero_weights(wb.get_baseline("lenet300"), pr.weight_scores(wb.build("lenet300"), "l1"), 0.9)
    zeros = {n: m.weight == 0 for n, m in pr.weight_layers(sparse).items()}
    tuned = S.fine_tune_masked(sparse, ds, num_epochs=1, lr=1e-3, progress=False)
    assert not any(parametrize.is_parametrized(m) for m in tuned.modules())
    for n, m in pr.weight_layers(tuned).items():
        assert (m.weight[zeros[n]] == 0).all()


# ---------------------------------------------------------------- sensitivity and the oracle


def test_sensitivity_shape_and_choose_amounts(ds):
    curves = SE.sensitivity(wb.get_baseline("lenet5"), ds, amounts=(0.2, 0.8), structure="structured")
    assert list(curves.index) == ["features.0", "features.3", "classifier.1", "classifier.3"]
    assert list(curves.columns) == [0.2, 0.8] and curves.attrs["split"] == "val"
    assert ((curves >= 0) & (curves <= 1)).all().all()
    table = pd.DataFrame({0.5: [0.95, 0.90], 0.9: [0.93, 0.40]}, index=["fc1", "fc2"])
    assert SE.choose_amounts(table, 0.92) == {"fc1": 0.9, "fc2": 0.0}
    assert SE.choose_amounts(table, 0.93) == {"fc1": 0.9, "fc2": 0.0}
    with pytest.raises(ValueError, match=r"amounts names 'fc9', which has no scores"):
        SE.prune_layers(wb.build("lenet300"), pr.weight_scores(wb.build("lenet300"), "l1"), {"fc9": 0.5})


def test_oracle_equals_measured_loss_of_the_masked_model(ds):
    model = wb.get_baseline("lenet5")
    X, y = ds.split("val")
    X, y = X[:64], y[:64]
    groups = [g for g in pr.channel_groups(model) if g.name in ("features.0", "features.3", "classifier.3")]
    delta = O.oracle(model, ds, num_examples=64, absolute=False, groups=groups)
    base = F.cross_entropy(model(X), y).item()
    for group, c in (("features.0", 2), ("features.3", 5), ("classifier.3", 7)):
        keep = {group: torch.ones(delta[group].numel(), dtype=torch.bool)}
        keep[group][c] = False
        masked = ST.mask_channels(deep_copy(model), keep)
        with torch.no_grad():
            expected = F.cross_entropy(masked(X), y).item() - base
        assert abs(delta[group][c].item() - expected) < 1e-5


def test_oracle_chain_shortcut_matches_hooks(ds):
    model = wb.build("vgg", width=0.25, seed=4).eval()
    groups = pr.channel_groups(model)
    X, y = ds.split("val")
    X, y = X[:16], y[:16]
    with torch.no_grad():
        flat = O._flat_chain(model)
        g = groups[1]
        fast = O._chain_oracle(flat, g.sites[0], X.clone(), y, g.channels)
        slow = O._hook_oracle(model, g, X, y)
    assert torch.allclose(fast, slow, atol=1e-5)


def test_rank_correlation_known_answers():
    oracle = {"g": torch.tensor([0.1, 0.5, 0.3, 0.9])}
    table = O.rank_correlation({"same": {"g": torch.tensor([1.0, 5.0, 3.0, 9.0])},
                                "reversed": {"g": torch.tensor([9.0, 5.0, 7.0, 1.0])}}, oracle)
    assert table.loc["same", "g"] == pytest.approx(1.0) and table.loc["reversed", "g"] == pytest.approx(-1.0)
    assert table.loc["same", "mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"scores\['x'\] has no group 'g'"):
        O.rank_correlation({"x": {"h": torch.ones(4)}}, oracle)


# ---------------------------------------------------------------- sparse kernels


def test_csr_table_and_crossover():
    table = SP.csr_vs_dense(size=64, sparsities=(0.0, 0.9), repeats=3)
    assert list(table.index) == [0.0, 0.9]
    nnz = int((SP.random_sparse(64, 0.9) != 0).sum())
    assert table.loc[0.9, "csr_bytes"] == nnz * (4 + 8) + 65 * 8       # fp32 values, int64 indices
    assert table.loc[0.0, "dense_bytes"] == 64 * 64 * 4
    t = pd.DataFrame({"speedup": [0.3, 1.2, 0.9, 1.5, 3.0]}, index=[0.0, 0.5, 0.8, 0.9, 0.99])
    assert SP.crossover(t) == 0.9
    assert SP.crossover(pd.DataFrame({"speedup": [0.5, 0.8]}, index=[0.5, 0.9])) is None


def test_mask_overhead_checkpoint_sizes():
    table = SP.mask_overhead(wb.build("lenet300"), (1, 28, 28), 0.9, batch_size=4, repeats=3)
    assert table.loc["torch.nn.utils.prune", "bytes_ratio"] > 1.9             # weight_orig + weight_mask
    assert table.loc["zeros written in", "bytes_ratio"] == pytest.approx(1.0, abs=0.01)


# ---------------------------------------------------------------- the explorer


def test_explorer_moves_prune_and_errors_show_in_the_panel(ds):
    explorer = pr.make_explorer("lenet5", ds, latency="off")
    base = explorer.base_point.measurement
    m = explorer.set(amount=0.5, structure="structured", criterion="l1")
    assert m.macs < base.macs and m.params < base.params
    m = explorer.set(structure="unstructured", scope="global", amount=0.8)
    assert m.macs == base.macs and m.sparsity > 0.78
    explorer.controls["criterion"].value = "apoz"                  # no per-weight form
    assert "scores whole channels" in str(explorer.errors[-1])
    explorer.controls["structure"].value = "structured"
    assert explorer.current.params < base.params
    curves = explorer.sensitivity.compute()
    assert list(curves.index) == [g.name for g in pr.channel_groups(explorer.baseline)]


def test_explorer_fine_tune_keeps_the_zeros(ds):
    explorer = pr.make_explorer("lenet300", ds, latency="off", structure="unstructured", amount=0.9,
                                fine_tune_epochs=1)
    before = explorer.current
    after = explorer.apply("fine-tune")
    assert after.nonzeros <= before.nonzeros


# ---------------------------------------------------------------- exercises


def test_reference_solutions_pass_their_checks():
    assert ex.check_global_magnitude_masks(ref.global_magnitude_masks).passed
    assert ex.check_apoz(ref.apoz).passed
    assert ex.check_cubic_sparsity(ref.cubic_sparsity).passed
    assert ex.check_choose_amounts(ref.choose_amounts).passed


def test_checks_explain_mistakes():
    def stub(*args):
        raise NotImplementedError

    fb = ex.check_apoz(stub)
    assert not fb.passed and not fb.attempted and "not attempted yet" in str(fb)
    layerwise = lambda w, a: {n: ref.global_magnitude_masks({n: t}, a)[n] for n, t in w.items()}
    assert "layer-wise threshold" in str(ex.check_global_magnitude_masks(layerwise))
    assert "fraction of NON-zeros" in str(ex.check_apoz(lambda a: 1 - ref.apoz(a)))
    assert "linear ramp" in str(ex.check_cubic_sparsity(lambda t, f, b, e: f * min(1, max(0, (t - b) / (e - b)))))
    strict = lambda c, f: {n: max([float(a) for a, v in r.items() if v > f], default=0.0) for n, r in c.iterrows()}
    assert ">=, not >" in str(ex.check_choose_amounts(strict))


def test_solutions_agree_with_the_package():
    w = {"a": torch.randn(5, 4), "b": torch.randn(3, 5) * 3}
    ours = M.global_threshold({k: v.abs() for k, v in w.items()}, 0.6)
    theirs = ref.global_magnitude_masks(w, 0.6)
    assert all(torch.equal(ours[k], theirs[k]) for k in w)
    a = torch.relu(torch.randn(4, 3, 2, 2))
    assert torch.allclose(ref.apoz(a), C.apoz(a))
    assert ref.cubic_sparsity(30, 0.9, 10, 60) == pytest.approx(S.cubic_sparsity(30, 0.9, begin=10, end=60))

