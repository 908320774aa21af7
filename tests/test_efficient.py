"""Tests of workbench.efficient: MAC formulas against the counter, blocks against PyTorch references,
the α/resolution network, the stored grid, the explorer and the exercises."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import workbench as wb
from workbench import efficient as ef
from workbench.efficient import explorer as EX
from workbench.efficient import grid as G
from workbench.encodings import rows
from workbench.exercises import efficient as ex
from workbench.solutions import efficient as ref


@pytest.fixture(scope="module")
def ds():
    full = wb.load("digits")
    return dataclasses.replace(full, X_train=full.X_train[:256], y_train=full.y_train[:256],
                               X_val=full.X_val[:100], y_val=full.y_val[:100])


# ---------------------------------------------------------------- MACs: formula against the counter


@pytest.mark.parametrize("c_in,c_out,size", [(16, 32, 14), (32, 64, 7), (64, 64, 7), (3, 5, 9)])
def test_separable_block_macs_equal_the_formula(c_in, c_out, size):
    block = ef.SeparableBlock(c_in, c_out, 1)
    assert wb.count_macs(block, (c_in, size, size)) == ef.separable_macs(c_in, c_out, 3, size, size)
    assert wb.count_macs(ef.StandardBlock(c_in, c_out, 1), (c_in, size, size)) == \
        ef.standard_macs(c_in, c_out, 3, size, size)


def test_strided_block_counts_the_output_map():
    block = ef.SeparableBlock(16, 32, 2)                   # 14x14 in, 7x7 out: the formula uses the output
    assert wb.count_macs(block, (16, 14, 14)) == ef.separable_macs(16, 32, 3, 7, 7)


@pytest.mark.parametrize("c_out", [1, 8, 64, 512])
def test_ratio_is_one_over_n_plus_one_over_k_squared(c_out):
    ratio = ef.separable_macs(32, c_out, 3, 5, 5) / ef.standard_macs(32, c_out, 3, 5, 5)
    assert ratio == pytest.approx(ef.separable_ratio(c_out, 3), rel=1e-12)
    assert ratio == pytest.approx(1 / c_out + 1 / 9, rel=1e-12)


def test_separable_blocks_cost_at_least_7x_fewer_macs_at_the_notebooks_widths():
    net = ef.build_net("separable")
    c = net.channels
    for c_in, c_out in zip(c[:-1], c[1:]):
        t = ef.block_costs(c_in, c_out, 14)
        assert (t["macs"] == t["formula"]).all()
        assert t.loc["separable", "MAC cut"] >= 7.0


# ---------------------------------------------------------------- blocks against references


def test_depthwise_conv_matches_a_per_channel_loop():
    block = ef.SeparableBlock(6, 10, 1).eval()
    x = torch.randn(2, 6, 9, 9)
    dw = block[0]
    by_hand = torch.cat([F.conv2d(x[:, i:i + 1], dw.weight[i:i + 1], padding=1) for i in range(6)], dim=1)
    assert torch.allclose(dw(x), by_hand, atol=1e-6)
    assert block(x).shape == (2, 10, 9, 9)


@pytest.mark.parametrize("channels,groups", [(6, 2), (12, 3), (16, 4), (8, 8), (5, 1)])
def test_channel_shuffle_matches_pytorch(channels, groups):
    x = torch.randn(3, channels, 4, 5)
    assert torch.equal(ef.channel_shuffle(x, groups), nn.ChannelShuffle(groups)(x))
    assert torch.equal(ref.channel_shuffle(x, groups), nn.ChannelShuffle(groups)(x))


def test_shuffle_block_uses_channel_shuffle_and_same_cost_without_it():
    with_s, without = ef.ShuffleBlock(16, 32, 2), ef.ShuffleBlock(16, 32, 2, shuffle=False)
    assert isinstance(with_s.shuffle, nn.ChannelShuffle) and isinstance(without.shuffle, nn.Identity)
    assert wb.count_params(with_s) == wb.count_params(without)
    assert wb.count_macs(with_s, (16, 14, 14)) == wb.count_macs(without, (16, 14, 14))


def test_fire_module_parameters_by_hand():
    c_in, c_out = 32, 64
    s = c_out // 4                                   # squeeze to a quarter of the output channels
    e = c_out // 2                                   # each expand branch gives half of them
    by_hand = (c_in * s + 2 * s) + (s * e + 2 * e) + (9 * s * e + 2 * e)     # convs (no bias) + BN scale/shift
    fire = ef.FireBlock(c_in, c_out)
    assert wb.count_params(fire) == by_hand
    assert fire(torch.zeros(1, c_in, 8, 8)).shape == (1, c_out, 8, 8)
    assert ef.FireBlock(c_in, c_out, 2)(torch.zeros(1, c_in, 8, 8)).shape == (1, c_out, 4, 4)


def test_layer_kinds_and_shares():
    assert ef.layer_kind(nn.Conv2d(8, 16, 1)) == "1x1 conv"
    assert ef.layer_kind(nn.Conv2d(8, 8, 3, groups=8)) == "depthwise conv"
    assert ef.layer_kind(nn.Conv2d(8, 16, 1, groups=4)) == "grouped conv"
    assert ef.layer_kind(nn.Conv2d(1, 16, 3)) == "full kxk conv"
    assert ef.layer_kind(nn.ReLU()) is None
    net = ef.build_net("separable")
    macs = ef.macs_by_kind(net, (1, 28, 28))
    assert macs.sum() == wb.count_macs(net, (1, 28, 28))
    assert ef.mac_shares(net, (1, 28, 28)).sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_mobilenet_v2_spends_most_macs_in_1x1_convs():
    shares = ef.reference_shares(["mobilenet_v2"], resolution=96)
    assert shares.loc["mobilenet_v2", "1x1 conv"] > 0.8
    assert shares.loc["mobilenet_v2", "params"] == 3504872


# ---------------------------------------------------------------- the network over alpha and resolution


@pytest.mark.parametrize("block", sorted(ef.BLOCKS))
def test_every_block_builds_for_every_alpha_and_resolution_of_the_grid(block):
    x = torch.zeros(2, 1, 28, 28)
    for alpha in ef.ALPHAS:
        for r in (*ef.RESOLUTIONS, ef.MIN_RESOLUTION):
            net = ef.build_net(block, alpha, r)
            assert net(x).shape == (2, 10)
            assert net.channels == ef.scaled_widths(alpha) and net.resolution == r
    assert ef.build_net(**net.config).config == net.config


def test_width_multiplier_cuts_macs_about_alpha_squared_and_resolution_about_rho_squared():
    full = wb.count_macs(ef.build_net("separable"), (1, 28, 28))
    half = wb.count_macs(ef.build_net("separable", 0.5), (1, 28, 28))
    assert 3.0 < full / half < 4.5                       # alpha^2 = 1/4, less where the dw part is linear in alpha
    small = wb.count_macs(ef.build_net("separable", 1.0, 14), (1, 28, 28))
    assert 3.0 < full / small < 4.5                      # rho^2 = 1/4; stride-2 maps round up (7 -> 4)
    assert wb.count_params(ef.build_net("separable", 1.0, 14)) == wb.count_params(ef.build_net("separable"))


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="alpha"):
        ef.build_net("separable", alpha=0.0)
    with pytest.raises(ValueError, match="alpha"):
        ef.build_net("separable", alpha=-0.5)
    with pytest.raises(ValueError, match="resolution"):
        ef.build_net("separable", resolution=ef.MIN_RESOLUTION - 1)
    with pytest.raises(ValueError, match="resolution"):
        ef.build_net("separable", resolution=32)        # above the image size
    with pytest.raises(ValueError, match="block"):
        ef.build_net("dense")
    with pytest.raises(ValueError, match="groups"):
        ef.channel_shuffle(torch.zeros(1, 6, 2, 2), 4)
    with pytest.raises(ValueError, match="groups"):
        ef.ShuffleBlock(12, 18, groups=4)
    with pytest.raises(ValueError, match="c_out"):
        ef.FireBlock(8, 7)
    with pytest.raises(ValueError, match="c_out"):
        ef.separable_macs(8, 0, 3, 4, 4)
    with pytest.raises(ValueError, match="kernel_size"):
        ef.separable_ratio(8, 0)


# ---------------------------------------------------------------- the stored grid


def test_flatten_round_trip():
    net = ef.build_net("separable", 0.5, 20, seed=3)
    other = G.unflatten(ef.build_net("separable", 0.5, 20, seed=4), G.flatten(net))
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(net.eval()(x), other(x))
    with pytest.raises(ValueError, match="vector"):
        G.unflatten(ef.build_net("separable", 1.0), G.flatten(net))


@pytest.mark.slow
def test_stored_grid_is_4x4_and_has_a_cheap_point_close_to_the_full_one():
    full = wb.load("digits")
    grid = ef.load_grid()
    assert set(grid) == {(a, r) for a in ef.ALPHAS for r in ef.RESOLUTIONS}
    assert G.grid_path().stat().st_size + G.designs_path().stat().st_size < 300_000
    table = ef.grid_table(grid, full)
    assert table["test_acc"].max() > 0.9
    assert len(ef.cheap_and_close(table, pp=1.0, cut=3.0, full=(1.0, 28))) >= 1


def test_stored_designs_match_their_specs():
    designs = ef.load_designs()
    assert set(designs) == {spec[:4] for spec in ef.DESIGNS}
    for (block, alpha, resolution, seed), net in designs.items():
        assert net.config["block"] == block and net.channels == ef.scaled_widths(alpha)
        assert net.resolution == resolution
    runs = ef.shuffle_table({(b, s): n for (b, a, r, s), n in designs.items() if "shuffle" in b}, wb.load("digits"))
    assert len(runs) == 6 and runs["params"].nunique() == 1 and runs["macs"].nunique() == 1


def test_pack_stores_large_weights_in_int8_and_the_rest_in_fp16():
    net = ef.build_net("standard", 1.0, seed=3).eval()
    blob = G.pack(net)
    codecs = {e["name"]: e["codec"] for e in wb.encodings.header(blob.numpy().tobytes())["tensors"]}
    state = dict(G._state_tensors(net))
    assert {k for k, c in codecs.items() if c == "int8"} == {k for k, v in state.items()
                                                             if v.ndim >= 2 and v.numel() >= G.INT8_MIN} != set()
    back = G.unpack(ef.build_net("standard", 1.0, seed=4), blob)
    for k, v in state.items():
        w = dict(back.state_dict())[k]
        if codecs[k] == "fp16":
            assert torch.equal(w, v.half().float()), k
        else:                                                  # at most half a step of each row's int8 scale
            step = rows(v).abs().amax(1, keepdim=True) / 127
            assert ((rows(w) - rows(v)).abs() <= step / 2 + 1e-6).all(), k


@pytest.mark.slow
def test_stored_networks_keep_their_recorded_accuracy():
    full, designs = wb.load("digits"), ef.load_designs()
    for path, nets in ((G.grid_path(), {G._key(*k): n for k, n in ef.load_grid().items()}),
                       (G.designs_path(), {G._design_key(*spec): designs[spec[:4]] for spec in ef.DESIGNS})):
        recorded = G.recorded_accuracy(path)
        assert set(recorded) == set(nets)
        for key, net in nets.items():                          # within 0.1 pp: one test digit of 1,000
            assert abs(wb.evaluate(net, full.X_test, full.y_test) - recorded[key]["stored"]) <= 0.001 + 1e-9, key
            assert abs(recorded[key]["stored"] - recorded[key]["trained"]) <= 0.001 + 1e-9, key


def test_cheap_and_close_by_hand():
    import pandas as pd

    t = pd.DataFrame({"alpha": [1.0, 0.5, 0.25], "resolution": [28] * 3, "macs": [900, 300, 100],
                      "test_acc": [0.97, 0.961, 0.90]})
    assert ef.cheap_and_close(t)["alpha"].tolist() == [0.5]
    assert ef.cheap_and_close(t, cut=3.1).empty
    with pytest.raises(ValueError, match="cut"):
        ef.cheap_and_close(t, cut=0.5)


def test_train_net_is_seeded(ds):
    recipe = G.Recipe(num_epochs=1)
    a = G.train_net(ds, "shuffle", 0.25, 16, recipe=recipe)
    b = G.train_net(ds, "shuffle", 0.25, 16, recipe=recipe)
    assert torch.equal(G.flatten(a), G.flatten(b))


# ---------------------------------------------------------------- matched budgets


def test_prune_to_macs_lands_within_a_few_percent_of_the_target():
    full, designed = ef.build_net("standard"), ef.build_net("separable")
    target = wb.count_macs(designed, (1, 28, 28))
    pruned = ef.prune_to_macs(full, target, (1, 28, 28))
    assert abs(wb.count_macs(pruned, (1, 28, 28)) / target - 1) < 0.03
    assert wb.count_macs(full, (1, 28, 28)) > 5 * target                 # the original is untouched
    with pytest.raises(ValueError, match="macs"):
        ef.prune_to_macs(full, 10 * wb.count_macs(full, (1, 28, 28)), (1, 28, 28))


def test_fresh_copy_keeps_the_shape_and_draws_new_weights():
    from workbench.efficient.matched import fresh_copy

    net = ef.build_net("standard", 0.5, seed=1)
    new = fresh_copy(net, seed=2)
    assert [p.shape for p in new.parameters()] == [p.shape for p in net.parameters()]
    assert not torch.equal(new.stem[0].weight, net.stem[0].weight)
    assert torch.equal(fresh_copy(net, seed=2).stem[0].weight, new.stem[0].weight)      # seeded


def test_matched_budget_table(ds):
    from workbench.efficient.matched import COLUMNS

    recipe = dataclasses.replace(ef.MATCHED, finetune_epochs=1, distill_epochs=1)
    designed, full = ef.build_net("separable", 0.5, 20), ef.build_net("standard")
    table, nets = ef.matched_budget(ds, designed, full, recipe=recipe, repeats=2)
    assert list(table.columns) == list(COLUMNS) and list(table.index) == ["full", "designed", "pruned", "distilled"]
    assert abs(table.loc["pruned", "MACs / designed"] - 1) < 0.05
    assert table.loc["distilled", "macs"] == table.loc["pruned", "macs"]
    assert (table["latency_ms"] > 0).all() and table["test_acc"].between(0, 1).all()
    assert set(nets) == set(table.index) and nets["full"] is full


# ---------------------------------------------------------------- explorer


@pytest.mark.slow
def test_explorer_answers_from_the_grid_and_trains_on_demand(ds):
    full = wb.load("digits")
    lab = ef.make_explorer(full, latency="off")
    lab.recipe = G.Recipe(num_epochs=1)
    m = lab.explorer.set(alpha=0.5, resolution=20, block="separable")
    assert m.accuracy == pytest.approx(wb.evaluate(lab.zoo[("separable", 0.5, 20)], full.X_test, full.y_test))
    assert m.macs == lab.macs(("separable", 0.5, 20))
    assert lab.figure.data[-1].x == (m.macs,)            # the current point is highlighted
    with pytest.raises(EX.NotTrained):
        lab.explorer.set(alpha=0.25, resolution=12, block="fire")
    assert lab.figure.layout.shapes[0].x0 == lab.macs(("fire", 0.25, 12))   # where it would fall
    lab.data = ds                                        # train on the small split: fast
    net = lab.train_current()
    assert ("fire", 0.25, 12) in lab.zoo and lab.zoo[("fire", 0.25, 12)] is net
    assert lab.explorer.current.macs == wb.count_macs(net, (1, 28, 28))
    assert "fire" in [t.name for t in lab.figure.data if len(t.x)]


# ---------------------------------------------------------------- exercises


@pytest.mark.parametrize("exercise,check,solution", [
    (ex._macs, ex.check_separable_macs, ref.separable_macs),
    (ex._shuffle, ex.check_channel_shuffle, ref.channel_shuffle),
    (ex._budget, ex.check_best_under_budget, ref.best_under_budget),
])
def test_exercises_pass_the_solution_and_name_each_mistake(exercise, check, solution):
    assert check(solution).passed
    assert check(lambda *a: (_ for _ in ()).throw(NotImplementedError())).attempted is False
    for hint, wrong in exercise.mistakes.items():
        feedback = check(wrong)
        assert not feedback.passed
        assert hint in feedback.message, (hint, feedback.message)


def test_solution_matches_the_package():
    assert ref.separable_macs(32, 64, 3, 14, 14) == ef.separable_macs(32, 64, 3, 14, 14)


def test_measured_accuracy_is_remembered_only_for_the_same_weights_and_tensors(ds, monkeypatch):
    from workbench.efficient.experiments import measured_accuracy

    net = ef.build_net("separable", 0.25, 16, seed=0)
    X, y = ds.X_test[:200], ds.y_test[:200]
    first = measured_accuracy(net, X, y)
    assert first == wb.evaluate(net, X, y)
    calls = []
    monkeypatch.setattr(ef.experiments, "evaluate", lambda *a: calls.append(1) or wb.evaluate(*a))
    assert measured_accuracy(net, X, y) == first and calls == []              # remembered
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.copy_(torch.arange(10.0))                         # now always says 9
    assert measured_accuracy(net, X, y) == float((y == 9).float().mean()) and calls == [1]
    y2 = y.clone()
    measured_accuracy(net, X, y2)                                            # other tensor: measured
    y2[0] = (y2[0] + 1) % 10                                                 # changed in place: measured
    assert measured_accuracy(net, X, y2) != measured_accuracy(net, X, y) or calls == [1, 1, 1]
    assert calls == [1, 1, 1]
