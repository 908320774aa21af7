"""Tests of workbench.dynamic: exit rules against by-hand loops, real exits (hooks count the
blocks that ran), width slicing against physically narrowed copies, MAC bookkeeping against
a by-hand count, cascades, the explorer, the exercises and bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

import workbench as wb
from workbench import dynamic as dy
from workbench.exercises import dynamic as ex
from workbench.solutions import dynamic as ref

SMALL = (4, 8, 8)          # channels of a tiny network: fast tests, same structure


@pytest.fixture(scope="module")
def ds():
    full = wb.load("digits")
    return dataclasses.replace(full, X_train=full.X_train[:640], y_train=full.y_train[:640],
                               X_val=full.X_val[:200], y_val=full.y_val[:200],
                               X_test=full.X_test[:200], y_test=full.y_test[:200])


@pytest.fixture(scope="module")
def trained(ds):
    net = dy.EarlyExitNet(channels=(8, 16, 32))
    dy.train_early_exit(net, ds, num_epochs=2, widths=(1.0,), progress=False)     # full width only: fast
    return net


def _x(n=5, seed=0):
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- uncertainty and exit rules


def test_entropy_matches_a_by_hand_formula_and_its_bounds():
    logits = torch.randn(20, 10, generator=torch.Generator().manual_seed(1)) * 3
    p = logits.softmax(1)
    by_hand = torch.tensor([-sum(pi * math.log(pi) for pi in row.tolist() if pi > 0) for row in p])
    assert torch.allclose(dy.entropy(logits), by_hand.float(), atol=1e-5)
    assert dy.entropy(torch.zeros(1, 10)).item() == pytest.approx(math.log(10), abs=1e-6)
    assert dy.entropy(torch.tensor([[1000.0, 0.0, 0.0]])).item() == 0.0       # no NaN from 0 * log 0


def test_doubt_is_one_minus_top_probability():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    assert torch.allclose(dy.doubt(logits), 1 - logits.softmax(1).max(1).values)
    assert dy.doubt(logits)[1].item() == pytest.approx(0.5)


@pytest.mark.parametrize("rule", sorted(dy.RULES))
def test_choose_exit_matches_a_by_hand_loop(rule):
    g = torch.Generator().manual_seed(2)
    logits = [torch.randn(50, 10, generator=g) * s for s in (1.0, 3.0, 5.0)]
    thresholds = (0.4, 0.2) if rule == "confidence" else (1.0, 0.5)
    chosen = dy.choose_exit(logits, thresholds, rule)
    scores = [dy.uncertainty(lg, rule) for lg in logits]
    for n in range(50):
        k = next((k for k in range(2) if scores[k][n] < thresholds[k]), 2)
        assert chosen[n].item() == k
    assert torch.equal(ref.first_exit(torch.stack(scores, 1), list(thresholds)), chosen)


def test_threshold_zero_keeps_everyone_and_infinity_sends_everyone_to_exit_one():
    logits = [torch.tensor([[1000.0, 0.0]]).repeat(4, 1)] * 3     # entropy exactly 0 everywhere
    assert dy.choose_exit(logits, 0.0).tolist() == [2] * 4
    assert dy.choose_exit(logits, math.inf).tolist() == [0] * 4


def test_outcome_fractions_and_predictions():
    logits = [torch.tensor([[4.0, 0.0], [0.1, 0.0]]), torch.tensor([[0.0, 3.0], [0.0, 2.0]])]
    o = dy.outcome(logits, torch.tensor([0, 1]), 0.5, [100, 300])
    assert o["chosen"].tolist() == [0, 1]
    assert o["fractions"] == [0.5, 0.5]
    assert o["accuracy"] == 1.0
    assert o["macs"] == 200.0


# ---------------------------------------------------------------- MAC bookkeeping


def _by_hand_exit_macs(channels, width=1.0, classes=10):
    chans = dy.scaled(channels, width)
    sides, c_in, convs, heads = (28, 14, 7), 1, [], []
    for c, s in zip(chans, sides):
        convs.append(9 * c_in * c * s * s)          # 3x3 conv, padding 1, at the block's input resolution
        heads.append(c * (s // 2) ** 2 * classes)   # linear head on the pooled map
        c_in = c
    return [sum(convs[:k + 1]) + sum(heads[:k + 1]) for k in range(3)]


@pytest.mark.parametrize("width", [1.0, 0.5, 0.25])
def test_exit_macs_against_a_by_hand_count(width):
    net = dy.EarlyExitNet(channels=(16, 64, 128))
    assert dy.exit_macs(net, width) == _by_hand_exit_macs((16, 64, 128), width)
    assert net.width == 1.0                                   # the width is restored


def test_exit_macs_match_flop_counter_of_the_narrowed_copy():
    net = dy.EarlyExitNet(channels=SMALL)
    small = net.at_width(0.5)
    last = wb.count_macs(dy.ExitPath(small), (1, 28, 28))
    heads = sum(h.in_features * h.out_features for h in small.heads[:-1])
    assert dy.exit_macs(net, 0.5)[-1] == last + heads


def test_average_macs_against_a_by_hand_count():
    chosen = torch.tensor([0, 0, 0, 1, 2, 2])
    costs = [10, 100, 1000]
    assert dy.average_macs(chosen, costs) == pytest.approx((3 * 10 + 100 + 2 * 1000) / 6)
    fractions = dy.exit_fractions(chosen, 3)
    blocks, heads = [8, 80, 800], [2, 20, 200]
    per_exit = [sum(blocks[:k + 1]) + sum(heads[:k + 1]) for k in range(3)]
    assert ref.average_macs_per_example(fractions, blocks, heads) == pytest.approx(dy.average_macs(chosen, per_exit))


def test_cascade_outcome_bookkeeping():
    small = torch.tensor([[5.0, 0.0], [0.2, 0.0], [0.0, 6.0], [0.0, 0.1]])
    big = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1, 1])
    out = dy.cascade_outcome(small, big, y, 0.1, small_macs=10, big_macs=100)
    assert out["deferred"] == 0.5                          # rows 1 and 3 are unsure
    assert out["macs"] == 10 + 0.5 * 100
    assert out["accuracy"] == 1.0
    everyone = dy.cascade_outcome(small, big, y, 0.0, small_macs=10, big_macs=100)
    assert everyone["deferred"] == 1.0 and everyone["accuracy"] == float((big.argmax(1) == y).float().mean())
    table = dy.cascade_table(small, big, y, [0.1], small_macs=10, big_macs=100)
    assert list(table.macs) == [10.0, 60.0, 100.0]


# ---------------------------------------------------------------- the network and real exits


def test_forward_gives_every_exit_and_path_matches_it():
    net = dy.EarlyExitNet(channels=SMALL).eval()
    x = _x()
    outs = net(x)
    for k in range(3):
        assert torch.allclose(net.path(x, k), outs[k], atol=1e-6)


def test_threshold_zero_reproduces_the_full_network(trained, ds):
    X = ds.X_test[:60]
    full = dy.ExitPath(trained)(X)
    logits, chosen = trained.infer(X, 0.0)
    assert chosen.tolist() == [2] * 60
    assert torch.equal(logits.argmax(1), full.argmax(1))
    for i in range(5):                                     # batch 1 too
        lg, k = trained.infer(X[i:i + 1], (0.0, 0.0))
        assert k.item() == 2 and torch.allclose(lg, full[i:i + 1], atol=1e-5)


def test_threshold_inf_sends_everyone_to_the_first_exit(trained, ds):
    X = ds.X_test[:30]
    logits, chosen = trained.infer(X, math.inf)
    assert chosen.tolist() == [0] * 30
    assert torch.allclose(logits, trained.path(X, 0), atol=1e-6)


def test_real_exits_agree_with_the_precomputed_choice(trained, ds):
    X = ds.X_test[:80]
    thresholds = (0.3, 0.1)
    expected = dy.choose_exit(dy.exit_logits(trained, X), thresholds)
    _, batched = trained.infer(X, thresholds)
    single = torch.cat([trained.infer(X[i:i + 1], thresholds)[1] for i in range(len(X))])
    assert torch.equal(batched, expected) and torch.equal(single, expected)


def test_real_exits_skip_later_blocks(trained, ds):
    X = ds.X_test[:40]
    model = dy.EarlyExitModel(trained, math.inf)
    assert dy.count_block_calls(trained, model, X) == [40, 0, 0]
    assert dy.count_block_calls(trained, dy.EarlyExitModel(trained, 0.0), X) == [40, 40, 40]
    thresholds = (0.3, 0.1)
    chosen = dy.choose_exit(dy.exit_logits(trained, X), thresholds)
    calls = dy.count_block_calls(trained, dy.EarlyExitModel(trained, thresholds), X)
    assert calls == [40, int((chosen >= 1).sum()), int((chosen == 2).sum())]


def test_at_width_equals_the_sliced_network():
    net = dy.EarlyExitNet(channels=SMALL).eval()
    x = _x()
    for w in net.widths:
        sliced = [o.detach() for o in net.set_width(w)(x)]
        physical = net.at_width(w)(x)
        assert physical[0].shape == sliced[0].shape
        for a, b in zip(sliced, physical):
            assert torch.allclose(a, b, atol=1e-5)
    net.set_width(1.0)


def test_at_width_is_physically_smaller():
    net = dy.EarlyExitNet(channels=(16, 64, 128))
    half = net.at_width(0.5)
    assert half.config["channels"] == (8, 32, 64)
    assert wb.count_params(half) < wb.count_params(net) / 2


def test_joint_loss_is_the_weighted_sum_of_cross_entropies():
    g = torch.Generator().manual_seed(3)
    outs, y = [torch.randn(6, 10, generator=g) for _ in range(3)], torch.arange(6)
    expected = sum(w * F.cross_entropy(o, y) for w, o in zip((1.0, 0.3, 2.0), outs))
    assert torch.allclose(dy.joint_loss(outs, y, (1.0, 0.3, 2.0)), expected)


def test_training_improves_every_exit(trained, ds):
    accs = dy.exit_accuracies(dy.exit_logits(trained, ds.X_test), ds.y_test)
    assert all(a > 0.5 for a in accs)                       # ten classes: chance is 0.1


def test_cascade_module_defers_only_unsure_examples(ds):
    small, big = wb.build("lenet300"), wb.build("lenet5")
    calls = []
    big.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    X = ds.X_test[:10]
    with torch.no_grad():
        dy.Cascade(small, big, 0.0)(X)                         # threshold 0: everyone deferred
        dy.Cascade(small, big, math.inf)(X)                    # inf: nobody
        for i in range(3):
            dy.Cascade(small, big, math.inf)(X[i:i + 1])
    assert calls == [10]


# ---------------------------------------------------------------- timing, explorer


def test_per_example_latency_shapes():
    net = dy.EarlyExitNet(channels=SMALL)
    lat = dy.per_example_latency({"a": dy.ExitPath(net), "b": net}, _x(4), rounds=3, threads=1)
    assert set(lat) == {"a", "b"} and lat["a"].runs == 3 and lat["a"].threads == 1
    assert dy.per_example_latency({"a": net}, _x(8), rounds=2, batch_size=4)["a"].batch_size == 4


def test_explorer_moves_and_gallery(trained, ds):
    lab = dy.make_explorer(trained, ds, sample=4)
    state = lab.set(threshold_1=math.inf)
    assert state["fractions"][0] == 1.0
    lab.controls["threshold_1"].value = 0.0
    lab.controls["threshold_2"].value = 0.0
    assert lab.state["fractions"][-1] == 1.0 and not lab.errors
    lab.controls["width"].value = 0.5
    assert lab.state["width"] == 0.5 and lab.state["macs"] == dy.exit_macs(trained, 0.5)[-1]
    assert lab.gallery.data[0].z.shape == (3 * 30, 8 * 30)
    assert "DynamicExplorer" in lab._repr_mimebundle_()["text/plain"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "a"])
def test_bad_thresholds_name_the_argument(bad):
    with pytest.raises(ValueError, match="thresholds"):
        dy.choose_exit([torch.zeros(2, 3)] * 3, bad)
    with pytest.raises(ValueError, match="thresholds"):
        dy.EarlyExitNet(channels=SMALL).infer(_x(1), (0.1, bad))


def test_wrong_number_of_thresholds():
    with pytest.raises(ValueError, match="thresholds must give one value per early exit"):
        dy.choose_exit([torch.zeros(2, 3)] * 3, (0.1, 0.2, 0.3))


def test_bad_exit_index_and_width():
    net = dy.EarlyExitNet(channels=SMALL)
    with pytest.raises(ValueError, match="exit"):
        net.path(_x(1), 3)
    with pytest.raises(ValueError, match="exit"):
        dy.ExitPath(net, 5)
    with pytest.raises(ValueError, match="width"):
        net.set_width(0.75)
    with pytest.raises(ValueError, match="width"):
        net.at_width(2.0)
    with pytest.raises(ValueError, match="widths"):
        dy.EarlyExitNet(widths=(0.5,))


def test_bad_rule_and_other_arguments():
    with pytest.raises(ValueError, match="rule"):
        dy.uncertainty(torch.zeros(1, 3), "margin")
    with pytest.raises(ValueError, match="threshold"):
        dy.cascade_outcome(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), -1.0, small_macs=1, big_macs=2)
    with pytest.raises(ValueError, match="exit_weights"):
        dy.joint_loss([torch.zeros(2, 3)] * 3, torch.zeros(2, dtype=torch.long), (1.0, 1.0))
    with pytest.raises(ValueError, match="exit_macs"):
        dy.outcome([torch.zeros(2, 3)] * 3, torch.zeros(2), 0.1, [1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        dy.per_example_latency({"a": torch.nn.Identity()}, _x(2), batch_size=0)


def test_explorer_rejects_an_unknown_control(trained, ds):
    lab = dy.make_explorer(trained, ds, sample=2)
    with pytest.raises(ValueError, match="params"):
        lab.set(threshold_9=0.1)
    with pytest.raises(ValueError, match="net"):
        dy.make_explorer(wb.build("lenet5"), ds)


# ---------------------------------------------------------------- exercises


@pytest.mark.parametrize("check, solution", [(ex.check_softmax_entropy, ref.softmax_entropy),
                                             (ex.check_first_exit, ref.first_exit),
                                             (ex.check_average_macs, ref.average_macs_per_example)])
def test_each_check_passes_the_solution(check, solution):
    assert check(solution).passed


@pytest.mark.parametrize("exercise", [ex._entropy, ex._exit, ex._macs], ids=lambda e: e.name)
def test_each_known_mistake_gets_its_hint(exercise):
    for hint, wrong in exercise.mistakes.items():
        feedback = exercise.check(wrong)
        assert not feedback.passed
        assert hint in feedback.message, (hint, feedback.message)


def test_unattempted_exercise_says_so():
    def stub(*args):
        raise NotImplementedError

    assert not ex.check_first_exit(stub).attempted
