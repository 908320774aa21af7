"""Low-rank decomposition: identities, full-rank exactness, TensorLy references, MACs by hand, bad input."""

import pandas as pd
import pytest
import tensorly as tl
import torch
from torch import nn

import workbench as wb
from workbench import lowrank as lr
from workbench.exercises import lowrank as ex
from workbench.lowrank import decompositions as dec
from workbench.lowrank import spectra, timing
from workbench.solutions import lowrank as sol


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _conv(c_in, c_out, k=3, seed=0, **kw):
    torch.manual_seed(seed)
    return nn.Conv2d(c_in, c_out, k, **kw)


# ------------------------------------------------------------------ the SVD identities

@pytest.mark.parametrize("shape", [(30, 20), (20, 30), (300, 784)])
def test_truncation_error_is_root_of_discarded_squares(shape):
    W = torch.randn(*shape, generator=_gen(1), dtype=torch.float64)
    s = torch.linalg.svdvals(W)
    for r in (1, 5, 19):
        err = (W - spectra.truncated(W, r)).norm()
        by_hand = torch.sqrt(sum(s[i] ** 2 for i in range(r, len(s))))
        assert torch.isclose(err, by_hand, rtol=1e-9)
        assert torch.isclose(spectra.truncation_error(s, r), by_hand, rtol=1e-9)


def test_truncation_error_on_a_trained_layer_and_eckart_young():
    W = wb.get_baseline("lenet300", progress=False).classifier[1].weight.detach().double()
    s = torch.linalg.svdvals(W)
    best = (W - spectra.truncated(W, 20)).norm()
    assert torch.isclose(best, spectra.truncation_error(s, 20), rtol=1e-9)
    # any other rank-20 matrix (a random projection of W) is further away: Eckart-Young
    Q, _ = torch.linalg.qr(torch.randn(W.shape[1], 20, generator=_gen(2), dtype=torch.float64))
    assert (W - W @ Q @ Q.T).norm() > best


def test_energy_and_rank_for_energy_against_a_loop():
    s = torch.sort(torch.rand(40, generator=_gen(3)), descending=True).values
    e = spectra.energy(s)
    assert torch.all(e[1:] >= e[:-1]) and abs(float(e[-1]) - 1.0) < 1e-6
    total = float((s.double() ** 2).sum())
    for f in (0.1, 0.5, 0.77, 0.99, 1.0):
        r, kept = 0, 0.0
        while kept / total < f - 1e-9:
            kept += float(s[r].double() ** 2)
            r += 1
        assert spectra.rank_for_energy(s, f) == r == sol.rank_for_energy(s, f)


def test_break_even_rank_separates_cheaper_from_dearer():
    for m, n in ((784, 300), (300, 100), (100, 10), (4, 4)):
        be = spectra.break_even_rank(m, n)
        for r in range(1, min(m, n) + 1):
            assert (lr.layers.weight_count(nn.Linear(n, m), "svd", r) < m * n) == (r < be)
        assert sol.break_even_rank(m, n) == max(r for r in range(1, min(m, n) + 1) if r * (m + n) < m * n)


# ------------------------------------------------------------------ full rank reproduces the layer

def test_full_rank_svd_linear_reproduces_the_layer():
    fc = nn.Linear(30, 12)
    x = torch.randn(8, 30, generator=_gen(4))
    assert torch.allclose(lr.svd_linear(fc, 12)(x), fc(x), atol=1e-5)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=1), dict(kernel_size=(3, 5), padding=(1, 2)),
                                dict(padding=2, dilation=2, bias=False)])
def test_full_rank_spatial_and_tucker_reproduce_the_conv(kw):
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    conv = _conv(6, 10, k, **kw)
    x = torch.randn(2, 6, 11, 11, generator=_gen(5))
    kh, kw_ = conv.kernel_size
    spatial = lr.spatial_conv(conv, min(6 * kh, 10 * kw_))
    tucker = lr.tucker_conv(conv, (10, 6))
    with torch.no_grad():
        assert torch.allclose(spatial(x), conv(x), atol=1e-4)
        assert torch.allclose(tucker(x), conv(x), atol=1e-4)


def test_tucker_layer_matches_tensorlys_reconstruction():
    conv = _conv(16, 24, 3, padding=1)
    core, factors = dec.tucker2(conv.weight, (8, 5))
    tl.set_backend("pytorch")
    kernel = tl.tenalg.multi_mode_dot(core, factors, modes=[0, 1])
    ref = nn.Conv2d(16, 24, 3, padding=1)
    with torch.no_grad():
        ref.weight.copy_(kernel)
        ref.bias.copy_(conv.bias)
        x = torch.randn(2, 16, 9, 9, generator=_gen(6))
        assert torch.allclose(lr.tucker_conv(conv, (8, 5), (core, factors))(x), ref(x), atol=1e-4)


def test_cp_layer_matches_tensorlys_reconstruction():
    conv = _conv(8, 12, 3, stride=2, padding=1)
    weights, factors = dec.cp(conv.weight, 6)
    kernel = tl.cp_to_tensor((weights, factors))
    ref = nn.Conv2d(8, 12, 3, stride=2, padding=1)
    with torch.no_grad():
        ref.weight.copy_(kernel)
        ref.bias.copy_(conv.bias)
        x = torch.randn(2, 8, 10, 10, generator=_gen(7))
        assert torch.allclose(lr.cp_conv(conv, 6, (weights, factors))(x), ref(x), atol=1e-4)


def test_cp_of_an_exact_low_rank_kernel_is_exact():
    # a kernel built from 3 rank-one terms: CP at rank 3 nearly recovers it (ALS, so not to machine precision)
    g = _gen(8)
    factors = [torch.randn(d, 3, generator=g) for d in (6, 4, 3, 3)]
    kernel = tl.cp_to_tensor((torch.ones(3), factors))
    w, fs = dec.cp(kernel, 3, n_iter_max=500)
    w1, fs1 = dec.cp(kernel, 1, n_iter_max=500)
    assert spectra.relative_error(dec.cp_to_kernel(w, fs), kernel) < 0.05
    assert spectra.relative_error(dec.cp_to_kernel(w1, fs1), kernel) > 0.2


# ------------------------------------------------------------------ counts by hand

def test_macs_and_weights_of_factored_layers_by_hand():
    H = W = 12
    conv = _conv(8, 16, 3, padding=1)
    shape = (8, H, W)
    r = 4
    cases = {
        "spatial": (lr.spatial_conv(conv, r), r * 8 * 3 * H * W + 16 * r * 3 * H * W, r * (8 * 3 + 16 * 3)),
        "tucker": (lr.tucker_conv(conv, (6, r)), (8 * r + r * 6 * 9 + 6 * 16) * H * W, 8 * r + r * 6 * 9 + 6 * 16),
        "cp": (lr.cp_conv(conv, r), (r * 8 + r * 3 + r * 3 + r * 16) * H * W, r * (8 + 3 + 3 + 16)),
    }
    for method, (layer, macs, weights) in cases.items():
        assert wb.count_macs(layer, shape) == macs, method
        assert wb.count_params(layer) - 16 == weights == lr.weight_count(conv, method, layer.rank), method
    fc = nn.Linear(784, 300)
    two = lr.svd_linear(fc, 50)
    assert wb.count_macs(two, (784,)) == 50 * (784 + 300)
    assert wb.count_params(two) == 50 * (784 + 300) + 300


def test_strided_spatial_macs_by_hand():
    conv = _conv(4, 6, 3, stride=2, padding=1)
    layer = lr.spatial_conv(conv, 3)
    # vertical k x 1 at stride (2, 1): 6 x 12 outputs; horizontal 1 x k at stride (1, 2): 6 x 6 outputs
    assert wb.count_macs(layer, (4, 12, 12)) == 3 * 4 * 3 * 6 * 12 + 6 * 3 * 3 * 6 * 6


# ------------------------------------------------------------------ the model-level decomposer

def test_decomposer_caches_and_leaves_the_baseline_alone():
    base = wb.get_baseline("lenet5", progress=False)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    d = lr.Decomposer(base)
    a = d.decompose("tucker", ranks={"features.3": (8, 4)})
    b = d.decompose("tucker", ranks={"features.3": (8, 4)})
    assert len(d._tucker) == 1
    assert torch.equal(a.features[3][1].weight, b.features[3][1].weight)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    x = torch.randn(3, 1, 28, 28, generator=_gen(9))
    full = d.decompose("svd", ranks={"classifier.1": 120}, only_if_smaller=False)
    with torch.no_grad():
        assert torch.allclose(full(x), base(x), atol=1e-4)


def test_only_if_smaller_keeps_layers_above_the_break_even_dense():
    base = wb.get_baseline("lenet300", progress=False)
    d = lr.Decomposer(base)
    above = d.decompose("svd", ranks={"classifier.1": 250})               # break-even 217
    assert isinstance(above.classifier[1], nn.Linear)
    forced = d.decompose("svd", ranks={"classifier.1": 250}, only_if_smaller=False)
    assert wb.count_params(forced) > wb.count_params(base)
    assert d.ranks("svd", 1.0)["classifier.1"] == 300


def test_energy_picks_ranks_per_layer():
    base = wb.get_baseline("lenet5", progress=False)
    d = lr.Decomposer(base)
    for method in lr.METHODS:
        for name, rank in d.ranks(method, 0.7).items():
            spectra_ = d.spectra(name, method)
            ranks = rank if isinstance(rank, tuple) else (rank,)
            assert len(ranks) == len(spectra_)
            for r, s in zip(ranks, spectra_.values()):
                assert float(lr.energy(s)[r - 1]) >= 0.7 - 1e-6
                assert r == 1 or float(lr.energy(s)[r - 2]) < 0.7


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call, match", [
    (lambda: lr.svd_linear(nn.Linear(10, 4), 0), "rank"),
    (lambda: lr.svd_linear(nn.Linear(10, 4), 5), "rank"),
    (lambda: lr.spatial_conv(nn.Conv2d(2, 3, 3), 7), "rank"),
    (lambda: lr.tucker_conv(nn.Conv2d(2, 3, 3), (4, 2)), "ranks"),
    (lambda: lr.tucker_conv(nn.Conv2d(2, 3, 3), (3,)), "ranks"),
    (lambda: lr.cp_conv(nn.Conv2d(2, 3, 3), 0), "rank"),
    (lambda: lr.svd_linear(nn.Conv2d(2, 3, 3), 1), "layer"),
    (lambda: lr.tucker_conv(nn.Linear(2, 3), (1, 1)), "layer"),
    (lambda: lr.spatial_conv(nn.Conv2d(4, 4, 3, groups=4), 1), "layer"),
    (lambda: lr.cp_conv(nn.Conv2d(4, 4, 1), 1), "layer"),
    (lambda: lr.rank_for_energy(torch.ones(3), 0.0), "energy"),
    (lambda: lr.rank_for_energy(torch.ones(3), 1.5), "energy"),
    (lambda: lr.energy(torch.ones(2, 2)), "s must"),
    (lambda: lr.truncated(torch.ones(3), 1), "W must"),
    (lambda: lr.break_even_rank(0, 3), "m"),
    (lambda: lr.decompose(wb.build("lenet300"), "svd"), "exactly one of energy"),
    (lambda: lr.decompose(wb.build("lenet300"), "qr", energy=0.5), "method"),
    (lambda: lr.decompose(wb.build("lenet300"), "svd", energy=0.0), "energy"),
    (lambda: lr.decompose(wb.build("lenet300"), "tucker", ranks={"classifier.1": (2, 2)}), "method"),
    (lambda: lr.decompose(wb.build("lenet300"), "tucker", energy=0.5), "finds no layer"),
    (lambda: lr.decompose(wb.build("lenet5"), "tucker", ranks={"classifier.1": (2, 2)}), "layer"),
    (lambda: spectra.unfold(torch.ones(3, 3), 0), "kernel"),
    (lambda: timing.conv_sweep(channels=()), "channels"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ timing helpers (no timing assertions)

def test_crossover_reads_sweeps():
    sizes = pd.DataFrame({"speedup": [0.5, 1.2, 0.9, 1.3]}, index=pd.Index([8, 16, 32, 64], name="channels"))
    assert timing.crossover(sizes) == 64
    never = pd.DataFrame({"speedup": [0.5, 0.9]}, index=pd.Index([8, 16], name="channels"))
    assert timing.crossover(never) is None
    ranks = pd.DataFrame({"speedup": [3.0, 1.5, 0.8, 1.1]}, index=pd.Index([10, 50, 100, 150], name="rank"))
    assert timing.crossover(ranks) == 50


def test_sweeps_count_macs_and_format():
    table = timing.conv_sweep(channels=(4, 8), size=5, batch_size=2, repeats=3)
    assert table.loc[8, "dense_macs"] == 8 * 8 * 9 * 25
    assert table.loc[8, "factored_macs"] == (8 * 4 + 4 * 4 * 9 + 4 * 8) * 25
    text = timing.formatted(table).to_string()
    assert " ms" in text and ("× faster" in text or "× slower" in text)
    lin = timing.linear_sweep(40, 20, ranks=(5, 10), batch_size=2, repeats=3)
    assert list(lin["factored_macs"]) == [5 * 60, 10 * 60]


# ------------------------------------------------------------------ explorer and exercises

def test_explorer_moves_spectrum_and_errors():
    from workbench.lowrank.explorer import make_explorer

    explorer = make_explorer(latency="off")
    m = explorer.set(method="svd", energy=0.6, layer="all")
    assert m.params < 61706 and not explorer.errors
    explorer.set(method="tucker", energy=0.7, layer="features.3")
    assert "features.3" in explorer.spectrum.figure.layout.title.text
    assert len(explorer.spectrum.figure.layout.shapes) == 2                 # two cuts: output and input ranks
    with pytest.raises(ValueError, match="layer"):
        explorer.set(method="svd")                                          # svd cannot factor a conv
    assert explorer.set(method="tucker", energy=1.0, layer="all").params == 61706   # nothing smaller: dense


@pytest.mark.slow
def test_explorer_fine_tune_action():
    from workbench.lowrank.explorer import make_explorer

    explorer = make_explorer(latency="off")
    before = explorer.set(method="svd", energy=0.5)
    after = explorer.apply("fine-tune")
    assert after.params == before.params and after.macs == before.macs      # training keeps the shapes
    assert after.accuracy > before.accuracy


def test_exercises_accept_the_solutions():
    assert ex.check_break_even_rank(sol.break_even_rank)
    assert ex.check_rank_for_energy(sol.rank_for_energy)
    assert ex.check_low_rank_linear(sol.low_rank_linear)


@pytest.mark.parametrize("exercise", [ex._break_even, ex._energy, ex._linear], ids=lambda e: e.name)
def test_each_listed_mistake_gets_its_hint(exercise):
    for hint, wrong in exercise.mistakes.items():
        feedback = exercise.check(wrong)
        assert not feedback and hint in feedback.message, (hint, feedback.message)


def test_exercise_stub_is_not_attempted():
    def stub(*args):
        raise NotImplementedError

    feedback = ex.check_low_rank_linear(stub)
    assert not feedback.passed and not feedback.attempted
