"""Sparsity regularization: proximal steps against closed forms, group norms against loops, removal exactness."""

import math

import pytest
import torch

import workbench as wb
from workbench import regularization as rg
from workbench.exercises import regularization as ex
from workbench.solutions import regularization as ref
from workbench.weights import deep_copy


def _randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


# ---------------------------------------------------------------- proximal steps


def test_soft_threshold_is_the_closed_form():
    w = torch.tensor([0.3, -0.05, 0.1, -0.2, 0.0, 1.0])
    out = rg.soft_threshold(w, 0.1)
    expected = torch.tensor([0.2, 0.0, 0.0, -0.1, 0.0, 0.9])
    assert torch.allclose(out, expected) and (out[[1, 2, 4]] == 0).all()


def test_soft_threshold_minimises_the_proximal_objective():
    w, t = torch.linspace(-1, 1, 41), 0.3
    grid = torch.linspace(-1.5, 1.5, 30001)
    best = grid[((grid[None, :] - w[:, None]) ** 2 / 2 + t * grid.abs()[None, :]).argmin(dim=1)]
    assert torch.allclose(rg.soft_threshold(w, t), best, atol=3e-4)


def test_prox_l1_on_a_model_soft_thresholds_every_weight_and_leaves_biases():
    model = _randomize(wb.build("lenet300"))
    before = deep_copy(model)
    rg.prox_l1_(model, 0.2)
    for (name, p), (_, q) in zip(model.named_parameters(), before.named_parameters()):
        expected = rg.soft_threshold(q, 0.2) if name.endswith("weight") else q
        assert torch.equal(p, expected), name


@pytest.mark.parametrize("kind", ["filter", "channel", "shape"])
def test_prox_group_on_a_tensor_equals_a_loop_over_groups(kind):
    w = torch.randn(5, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    w[1] *= 0.05                                   # one small filter and one small channel: they go to zero
    w[:, 2] *= 0.05
    t = 1.2
    out = rg.prox_group(w, kind, t)
    expected = w.clone()
    if kind == "filter":
        index = [(i,) for i in range(5)]
    elif kind == "channel":
        index = [(slice(None), c) for c in range(3)]
    else:
        index = [(slice(None), c, i, j) for c in range(3) for i in range(2) for j in range(2)]
    for ix in index:
        g = w[ix]
        n = g.norm().item()
        expected[ix] = g * max(0.0, 1 - t / n) if n > 0 else g
    assert torch.allclose(out, expected, atol=1e-6)
    assert (rg.penalties.group_norm_values(out, kind) == 0).any()


def test_group_norms_of_filters_include_bias_and_batchnorm():
    model = _randomize(wb.build("vgg"))
    norms = rg.group_norms(model, "filter")["features.0"]
    conv, bn = model.features[0], model.features[1]
    for i in range(conv.out_channels):
        by_hand = math.sqrt((conv.weight[i] ** 2).sum().item() + bn.weight[i].item() ** 2
                            + bn.bias[i].item() ** 2)
        assert norms[i].item() == pytest.approx(by_hand, rel=1e-5)


def test_channel_groups_follow_the_flatten_into_the_classifier():
    model = _randomize(wb.build("lenet5"))
    norms = rg.group_norms(model, "channel")["features.3"]          # read by classifier.1, 25 inputs each
    fc = model.classifier[1].weight
    for c in range(16):
        assert norms[c].item() == pytest.approx(fc[:, 25 * c:25 * (c + 1)].norm().item(), rel=1e-5)


def test_shape_and_depth_groups():
    model = _randomize(wb.build("lenet5"))
    shape = rg.group_norms(model, "shape")["features.3"]
    w = model.features[3].weight
    assert shape.shape == (6 * 25,) and shape[7].item() == pytest.approx(w[:, 0, 1, 2].norm().item(), rel=1e-5)
    resnet = wb.build("resnet")
    depth = rg.group_norms(resnet, "depth")
    block = resnet.layers[0]
    by_hand = math.sqrt(sum((getattr(block, m).weight ** 2).sum().item() for m in ("conv1", "bn1", "conv2", "bn2"))
                        + sum((getattr(block, m).bias ** 2).sum().item() for m in ("bn1", "bn2")))
    assert list(depth)[0] == "layers.0" and depth["layers.0"].item() == pytest.approx(by_hand, rel=1e-5)


def test_depth_prox_turns_a_block_into_its_shortcut():
    resnet = _randomize(wb.build("resnet"))
    rg.prox_group_(resnet, "depth", 1e6)
    block = resnet.layers[0]
    x = torch.relu(torch.randn(2, block.conv1.in_channels, 8, 8))
    with torch.no_grad():
        assert torch.allclose(block(x), torch.relu(block.shortcut(x)), atol=1e-6)


# ---------------------------------------------------------------- gradients


def test_group_lasso_gradient_matches_the_closed_form():
    model = _randomize(wb.build("lenet5"))
    lam = 0.3
    rg.group_lasso(model, lam, "filter").backward()
    conv = model.features[0]
    rows = torch.cat([conv.weight.detach().reshape(6, -1), conv.bias.detach()[:, None]], dim=1)
    grad = lam * rows / rows.norm(dim=1, keepdim=True)
    assert torch.allclose(conv.weight.grad.reshape(6, -1), grad[:, :-1], atol=1e-6)
    assert torch.allclose(conv.bias.grad, grad[:, -1], atol=1e-6)


def test_group_lasso_of_a_zero_group_has_zero_subgradient():
    model = _randomize(wb.build("lenet5"))
    with torch.no_grad():
        model.features[0].weight[0].zero_()
        model.features[0].bias[0].zero_()
    rg.group_lasso(model, 1.0, "filter").backward()
    assert torch.isfinite(model.features[0].weight.grad).all() and (model.features[0].weight.grad[0] == 0).all()


def test_l1_gradient_is_lam_times_sign():
    model = _randomize(wb.build("lenet300"))
    rg.l1(model, 0.01).backward()
    w = model.classifier[1].weight
    assert torch.allclose(w.grad, 0.01 * torch.sign(w.detach())) and model.classifier[1].bias.grad is None


# ---------------------------------------------------------------- removal


@pytest.mark.parametrize("name", ["lenet5", "vgg"])
def test_removal_after_group_lasso_equals_the_zeroed_model(name):
    model = _randomize(wb.build(name), seed=2)
    zeroed = rg.zero_groups_(model, "filter", 0.92, relative=True)   # zero the smaller filters of each layer
    assert all(0 < n for n in zeroed.values())
    small = rg.remove_zero_channels(model)
    assert wb.count_params(small) < wb.count_params(model)
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(small(x), model(x), atol=1e-5)
    rebuilt = wb.build(**small.config)
    rebuilt.load_state_dict(small.state_dict())


def test_a_channel_nobody_reads_is_removed_too():
    model = _randomize(wb.build("lenet5"))
    with torch.no_grad():
        model.features[3].weight[:, [1, 4]] = 0.0                    # conv2 ignores channels 1 and 4 of conv1
    assert rg.zero_channel_keep(model)["features.0"].tolist() == [True, False, True, True, False, True]
    small = rg.remove_zero_channels(model)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert small.config["channels"] == (4, 16) and torch.allclose(small(x), model(x), atol=1e-5)


def test_conv_macs_of_lenet5():
    assert rg.surgery.conv_macs(wb.build("lenet5"), (1, 28, 28)) == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25


# ---------------------------------------------------------------- training


@pytest.mark.slow
def test_proximal_training_gives_exact_zeros_and_the_penalty_does_not():
    ds = wb.load()
    base = wb.get_baseline("lenet300")
    prox, plain = deep_copy(base), deep_copy(base)
    kw = dict(num_epochs=1, lr=0.02, optimizer="sgd", progress=False)
    rg.train_sparse(prox, ds, "l1-prox", 3e-3, **kw)
    rg.train_sparse(plain, ds, "l1", 3e-3, **kw)
    assert rg.exact_zeros(prox) > 0.5 and rg.exact_zeros(plain) < 0.01


@pytest.mark.slow
def test_path_and_explorer():
    ds = wb.load()
    path = rg.regularization_path(wb.get_baseline("lenet5"), ds, "group-filter", [0.0, 0.02], lr=0.02,
                                  optimizer="sgd")
    assert [s.lam for s in path] == [0.0, 0.02] and path[1].model is not path[0].model
    ex_ = rg.make_explorer(ds, path=path, latency="off")
    tight = ex_.set(lam=0.02, threshold=0.0)
    loose = ex_.set(threshold=0.4)
    assert not ex_.errors and loose.params < tight.params <= ex_.base_point.measurement.params
    assert "group-depth" not in ex_.controls["regularizer"].options


def test_dns_masked_weights_keep_learning():
    layer = torch.nn.Linear(4, 1)
    torch.nn.utils.parametrize.register_parametrization(layer, "weight", rg.training.Splice(torch.tensor([[1, 0, 1, 0]])))
    layer(torch.ones(1, 4)).sum().backward()
    assert (layer.weight[0, [1, 3]] == 0).all() and (layer.parametrizations.weight.original.grad != 0).all()


@pytest.mark.slow
def test_dns_reaches_the_sparsity():
    ds = wb.load()
    model, surgery = rg.dynamic_surgery(deep_copy(wb.get_baseline("lenet300")), ds, 0.95, num_epochs=1,
                                        progress=False)
    assert rg.exact_zeros(model) == pytest.approx(0.95, abs=1e-3) and surgery.pruned > 0


@pytest.mark.slow
def test_dropconnect_compresses_nothing_and_activation_zeros():
    ds = wb.load()
    model = rg.train_dropconnect(deep_copy(wb.get_baseline("lenet300")), ds, 0.5, num_epochs=1, progress=False)
    assert rg.exact_zeros(model) < 0.01
    zeros = rg.activation_zeros(model, ds.X_val[:50])
    assert list(zeros) == ["classifier.2", "classifier.4"] and all(0 <= v <= 1 for v in zeros.values())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("lam", [-0.1, float("nan"), float("inf"), "1"])
def test_bad_lambda(lam):
    with pytest.raises(ValueError, match="lam"):
        rg.l1(wb.build("lenet300"), lam)
    with pytest.raises(ValueError, match="lam"):
        rg.group_lasso(wb.build("lenet5"), lam)


def test_bad_kinds():
    with pytest.raises(ValueError, match="kind"):
        rg.group_norms(wb.build("lenet5"), "row")
    with pytest.raises(ValueError, match="kind 'depth'"):
        rg.group_lasso(wb.build("lenet5"), 0.1, "depth")
    with pytest.raises(ValueError, match="kind 'shape'"):
        rg.group_lasso(wb.build("lenet300"), 0.1, "shape")
    with pytest.raises(ValueError, match="kind 'shape'"):
        rg.prox_group(torch.ones(3, 4), "shape", 0.1)
    with pytest.raises(ValueError, match="threshold"):
        rg.soft_threshold(torch.ones(3), -1.0)
    with pytest.raises(ValueError, match="regularizer"):
        rg.train_sparse(wb.build("lenet5"), wb.load(), "l2", 0.1)
    with pytest.raises(ValueError, match="lams"):
        rg.regularization_path(wb.build("lenet5"), wb.load(), "l1", [0.1, 0.01])


# ---------------------------------------------------------------- exercises


def test_reference_solutions_pass_and_mistakes_get_their_hints():
    for exercise, fn in ((ex._soft, ref.soft_threshold), (ex._lasso, ref.filter_group_lasso),
                         (ex._removed, ref.filters_removed)):
        assert exercise.check(fn).passed
        for hint, wrong in exercise.mistakes.items():
            feedback = exercise.check(wrong)
            assert not feedback.passed and feedback.message.endswith(f"Hint: {hint}"), (exercise.name, str(feedback))
    assert ex.check_soft_threshold(ref.soft_threshold) and ex.check_filter_group_lasso(ref.filter_group_lasso)
    assert ex.check_filters_removed(ref.filters_removed)


def test_solutions_agree_with_the_package():
    w = torch.randn(6, 3, 5, 5)
    assert torch.allclose(ref.soft_threshold(w, 0.2), rg.soft_threshold(w, 0.2))
    assert torch.allclose(ref.filter_group_lasso(w, 0.1), 0.1 * rg.penalties.group_norm_values(w, "filter").sum())


def test_a_filter_with_zero_weights_but_a_bias_is_kept():
    model = _randomize(wb.build("lenet5"))
    with torch.no_grad():
        model.features[0].weight[1] = 0.0                          # outputs relu(bias): a constant, not nothing
    assert rg.zero_channel_keep(model)["features.0"].all()


def test_threshold_in_the_explorer_is_relative_to_each_layer():
    from workbench.regularization.explorer import apply_threshold

    model = _randomize(wb.build("lenet5"))
    norms = rg.group_norms(model, "filter")
    apply_threshold(model, "group-filter", 0.9)
    after = rg.group_norms(model, "filter")
    for name, n in norms.items():
        assert torch.equal(after[name] == 0, n <= 0.9 * n.max())


@pytest.mark.slow
def test_dense_sparse_dense_ends_dense():
    ds = wb.load()
    sparse, dense = rg.dense_sparse_dense(deep_copy(wb.get_baseline("lenet300")), ds, 0.9, sparse_epochs=1,
                                          dense_epochs=1)
    assert rg.exact_zeros(sparse) == pytest.approx(0.9, abs=1e-3) and rg.exact_zeros(dense) < rg.exact_zeros(sparse) / 2


# ---------------------------------------------------------------- recipes: conv-filter groups, choosing λ, DNS


def test_conv_filter_groups_are_the_convs_outputs():
    lenet = wb.build("lenet5")
    assert [(s.name, [m.path for m in s.members]) for s in rg.group_sets(lenet, "conv-filter")] == [
        ("features.0", ["features.0.weight", "features.0.bias"]), ("features.3", ["features.3.weight", "features.3.bias"])]
    vgg = wb.build("vgg")                          # BatchNorm follows each conv: its scale and shift set the output
    assert [m.path for s in rg.group_sets(vgg, "conv-filter") for m in s.members][:2] == [
        "features.1.weight", "features.1.bias"]
    with pytest.raises(ValueError, match="kind 'conv-filter'"):
        rg.group_sets(wb.build("lenet300"), "conv-filter")


def test_a_channel_whose_batchnorm_is_zero_is_removed_exactly():
    model = _randomize(wb.build("vgg"), seed=4)
    with torch.no_grad():
        model.features[5].weight[[3, 7]] = 0.0      # BN scale and shift zero: the channel outputs relu(0) = 0
        model.features[5].bias[[3, 7]] = 0.0
        model.features[5].bias[9] = 0.0             # scale alone nonzero: the channel still computes
    keep = rg.zero_channel_keep(model)["features.4"]
    assert (~keep).nonzero().flatten().tolist() == [3, 7]
    small = rg.remove_zero_channels(model)
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert small.config["channels"] == (32, 62, 128) and torch.allclose(small(x), model(x), atol=1e-5)


def test_choose_takes_the_largest_cut_within_the_tolerance():
    C = rg.Candidate
    cands = [C(0.0, None, 0.0, 0.980), C(0.1, None, 0.6, 0.972), C(0.2, None, 0.8, 0.967), C(0.3, None, 0.9, 0.90)]
    assert rg.choose(cands, base_val=0.978).lam == 0.1           # 0.967 is 1.1 pp short: just outside 1 pp
    assert rg.choose(cands, base_val=0.978, tolerance=0.01).lam == 0.1
    assert rg.choose(cands, base_val=0.975).lam == 0.2           # now within 1 pp, and the larger cut
    assert rg.choose(cands, base_val=0.975, tolerance=0.1).lam == 0.3
    tie = [C(0.2, None, 0.8, 0.970), C(0.25, None, 0.8, 0.975)]
    assert rg.choose(tie, base_val=0.975).lam == 0.25            # same cut: the more accurate
    assert rg.choose([C(0.1, None, 0.5, 0.5), C(0.2, None, 0.7, 0.6)], base_val=0.98).lam == 0.2   # none within
    with pytest.raises(ValueError, match="candidates"):
        rg.choose([], base_val=0.9)
    with pytest.raises(ValueError, match="tolerance"):
        rg.choose(cands, base_val=0.9, tolerance=-0.01)


@pytest.mark.slow
def test_structured_sparsity_chooses_among_removed_and_fine_tuned_snapshots():
    ds = wb.load()
    base = wb.get_baseline("lenet5")
    path, cands, chosen = rg.structured_sparsity(base, ds, [0.0, 0.3], epochs_per_lam=1, ft_epochs=1)
    assert [c.lam for c in cands] == [0.0, 0.3] and chosen in cands
    strong = cands[1]
    assert strong.conv_mac_cut == pytest.approx(1 - rg.conv_macs(strong.model, ds.input_shape)
                                                  / rg.conv_macs(base, ds.input_shape))
    assert strong.conv_mac_cut > 0.3 and cands[0].conv_mac_cut == 0.0
    assert strong.val_acc == pytest.approx(wb.evaluate(strong.model, ds.X_val, ds.y_val))
    assert chosen is rg.choose(cands, wb.evaluate(base, ds.X_val, ds.y_val))
    with pytest.raises(ValueError, match="regularizer"):
        rg.structured_sparsity(base, ds, [0.0], regularizer="l1-prox")


def _surgery_on_a_line(amount=0.5, **kw):
    layer = torch.nn.Sequential(torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        layer[0].weight.copy_(torch.tensor([[1.0, 0.1, 2.0, 0.2]]))
    return layer, rg.training.SurgeryStep(layer, amount, every=1, **kw)


def test_dns_splices_back_a_weight_that_grows_and_prunes_one_that_shrinks():
    model, surgery = _surgery_on_a_line(stop=10, band=0.1)
    splice = model[0].parametrizations.weight[0]
    assert splice.mask.tolist() == [[1.0, 0.0, 1.0, 0.0]]        # the two smallest go
    with torch.no_grad():
        model[0].parametrizations.weight.original.copy_(torch.tensor([[1.0, 3.0, 2.0, 0.2]]))  # a pruned one grows
    surgery(model, 1)
    assert splice.mask.tolist() == [[0.0, 1.0, 1.0, 0.0]] and surgery.spliced == 1 and surgery.pruned == 1
    assert model[0].weight.tolist() == [[0.0, 3.0, 2.0, 0.0]]    # its grown magnitude is used again


def test_dns_hysteresis_keeps_weights_inside_the_band():
    model, surgery = _surgery_on_a_line(stop=10, band=0.5)
    with torch.no_grad():                                        # pruned 0.2 passes kept 1.0, but not by 1.5×
        model[0].parametrizations.weight.original.copy_(torch.tensor([[1.0, 0.1, 2.0, 1.2]]))
    surgery(model, 1)
    assert model[0].parametrizations.weight[0].mask.tolist() == [[1.0, 0.0, 1.0, 0.0]] and surgery.spliced == 0
    surgery(model, 10)                                           # the last update: exact global threshold
    assert model[0].parametrizations.weight[0].mask.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_dns_gradual_schedule_ramps_to_the_sparsity():
    model, surgery = _surgery_on_a_line(0.75, stop=100, ramp=100)
    targets = [surgery.target(s) for s in (0, 25, 50, 100, 200)]
    assert targets[0] == 0.0 and targets[-2] == targets[-1] == 0.75
    assert targets == sorted(targets) and targets[1] == pytest.approx(0.75 * (1 - 0.75 ** 3))
    assert model[0].parametrizations.weight[0].mask.all()       # starts dense


@pytest.mark.slow
def test_one_shot_and_dns_reach_the_same_sparsity_with_the_same_budget():
    ds = wb.load()
    base = wb.get_baseline("lenet300")
    one = rg.one_shot_magnitude(base, ds, 0.95, num_epochs=1)
    dns, surgery = rg.dynamic_surgery(deep_copy(base), ds, 0.95, num_epochs=1, splice_fraction=0.3, progress=False)
    assert rg.exact_zeros(one) == pytest.approx(0.95, abs=1e-3) == rg.exact_zeros(dns)
    assert not torch.nn.utils.parametrize.is_parametrized(one.classifier[1]) and surgery.pruned > 0
