"""Tests of workbench.quantization: the affine rule, calibration, fake quantization, binary
weights, packing, integer-only inference, real int8, the explorer and the exercises."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

import workbench as wb
from workbench import encodings
from workbench.exercises import quantization as ex
from workbench.quantization import affine, analysis, binary, calibration, fake, integer, packing, real
from workbench.solutions import quantization as sol


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _channels(seed: int = 0, shape=(16, 8, 3, 3)) -> torch.Tensor:
    """Weights whose output channels have very different ranges (as real layers do)."""
    w = torch.randn(*shape, generator=_gen(seed))
    return w * torch.logspace(-2, 0, shape[0]).view(-1, *[1] * (len(shape) - 1))


@pytest.fixture(scope="module")
def ds():
    return wb.load("digits")


@pytest.fixture(scope="module")
def lenet5():
    return wb.get_baseline("lenet5")


# ---------------------------------------------------------------- affine: ranges and bad input

def test_qrange_known_values():
    assert affine.qrange(8, symmetric=True) == (-127, 127)
    assert affine.qrange(8, symmetric=False) == (0, 255)
    assert affine.qrange(2, symmetric=True) == (-1, 1)          # ternary
    assert affine.qrange(1, symmetric=False) == (0, 1)
    assert affine.qrange(32, symmetric=False) == (0, 2**32 - 1)


@pytest.mark.parametrize("bits", [0, 33, -1])
def test_bits_outside_1_to_32_are_refused(bits):
    with pytest.raises(ValueError, match=r"bits must be in \[1, 32\], got"):
        affine.qrange(bits)
    with pytest.raises(ValueError, match=r"bits must be in \[1, 32\]"):
        affine.scale_zero_point(torch.ones(3), bits)


@pytest.mark.parametrize("bits", [2.0, True, "8"])
def test_bits_must_be_an_integer(bits):
    with pytest.raises(ValueError, match=r"bits must be an integer in \[1, 32\]"):
        affine.qrange(bits)


def test_symmetric_one_bit_is_refused_with_a_pointer_to_binary():
    with pytest.raises(ValueError, match=r"bits must be in \[2, 32\] for symmetric quantization, got 1"):
        affine.qrange(1, symmetric=True)


def test_model_bits_allow_1_to_16_and_32_only():
    for bits in fake.BITS:
        assert fake.check_model_bits("bits", bits) == bits
    with pytest.raises(ValueError, match=r"bits must be in \[1, 16\] or 32 \(float\), got 24"):
        fake.WeightQuantizer(24)
    with pytest.raises(ValueError, match=r"bits must be in \[1, 32\], got 0"):
        fake.ActivationQuantizer(0)


def test_empty_tensor_has_no_range_but_quantizes_to_empty():
    with pytest.raises(ValueError, match="x must hold at least one value"):
        affine.scale_zero_point(torch.empty(0))
    with pytest.raises(ValueError, match="x must hold at least one value"):
        calibration.calibrate_range(torch.empty(0, 3), "percentile")
    q = affine.quantize(torch.empty(0), torch.tensor(0.1), torch.tensor(0))
    assert q.shape == (0,) and q.dtype == torch.int64
    assert affine.dequantize(q, torch.tensor(0.1), torch.tensor(0)).shape == (0,)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("axis", [None, 0])
def test_all_zero_tensor_is_exact(symmetric, axis):
    x = torch.zeros(4, 5)
    scale, zp = affine.scale_zero_point(x, 8, symmetric=symmetric, axis=axis)
    assert torch.all(scale == 1.0) and torch.all(zp == 0)
    back = affine.fake_quantize(x, scale, zp, 8, symmetric=symmetric, axis=axis)
    assert torch.equal(back, x)


@pytest.mark.parametrize("value", [3.7, -0.25, 1e-4])
@pytest.mark.parametrize("symmetric", [True, False])
def test_constant_tensor_is_stored_exactly_up_to_float_rounding(value, symmetric):
    x = torch.full((7,), value)
    scale, zp = affine.scale_zero_point(x, 8, symmetric=symmetric)
    back = affine.fake_quantize(x, scale, zp, 8, symmetric=symmetric)
    assert torch.allclose(back, x, rtol=1e-6, atol=0)
    assert affine.quantize(x, scale, zp, 8, symmetric=symmetric).unique().numel() == 1


def test_axis_and_scale_checks():
    with pytest.raises(ValueError, match=r"axis must be in \[0, 1\], got 2"):
        affine.scale_zero_point(torch.ones(2, 3), axis=2)
    with pytest.raises(ValueError, match="scale must be > 0"):
        affine.quantize(torch.ones(3), torch.tensor(0.0), torch.tensor(0))
    with pytest.raises(ValueError, match="lo must not exceed hi"):
        affine.qparams(torch.tensor(1.0), torch.tensor(-1.0))


# ---------------------------------------------------------------- affine: invariants and references

@pytest.mark.parametrize("bits", [2, 3, 4, 8, 12, 16])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("axis", [None, 0])
def test_error_inside_the_range_is_at_most_half_a_step(bits, symmetric, axis):
    x = _channels(bits) + (0.0 if symmetric else 0.3)
    scale, zp = affine.scale_zero_point(x, bits, symmetric=symmetric, axis=axis)
    err = (affine.fake_quantize(x, scale, zp, bits, symmetric=symmetric, axis=axis) - x).abs()
    half = affine._bcast(scale, x, axis) / 2
    assert torch.all(err <= half + x.abs() * 2**-23)       # half a step, plus float32's own rounding


def test_32_bit_grid_computes_in_float64():
    x = torch.randn(100, generator=_gen(1), dtype=torch.float64)
    scale, zp = affine.scale_zero_point(x, 32, symmetric=False)
    err = (affine.fake_quantize(x, scale, zp, 32, symmetric=False) - x).abs()
    assert err.max() <= scale / 2 * (1 + 1e-6)


def test_clipped_values_go_to_the_nearest_end():
    q = affine.quantize(torch.tensor([-9.0, 9.0]), torch.tensor(0.1), torch.tensor(0), 4)
    assert q.tolist() == [-7, 7]
    e = affine.quantization_error(torch.tensor([0.0, 9.0]), torch.tensor(0.1), torch.tensor(0), 4)
    assert e.clipped_fraction == 0.5 and e.rounding_mse == 0.0
    assert e.clipping_mse == pytest.approx((9.0 - 0.7) ** 2 / 2, rel=1e-6)


def test_matches_pytorch_quantize_per_tensor():
    x = torch.randn(1000, generator=_gen(2)) * 3
    scale, zp = affine.scale_zero_point(x, 8, symmetric=False)
    ours = affine.quantize(x, scale, zp, 8, symmetric=False)
    theirs = torch.quantize_per_tensor(x, float(scale), int(zp), torch.quint8).int_repr().to(torch.int64)
    assert torch.equal(ours, theirs)


def test_matches_pytorch_fake_quantize_per_channel():
    w = _channels(3)
    scale, zp = affine.scale_zero_point(w, 4, symmetric=True, axis=0)
    ours = affine.fake_quantize(w, scale, zp, 4, symmetric=True, axis=0)
    theirs = torch.fake_quantize_per_channel_affine(w, scale.float(), zp.int(), 0, -7, 7)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-7)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("seed", range(3))
def test_per_channel_never_worse_than_per_tensor(bits, seed):
    w = _channels(seed, shape=(32, 64))
    per = {}
    for name, axis in affine.GRANULARITIES.items():
        scale, zp = affine.scale_zero_point(w, bits, axis=axis)
        err = affine.fake_quantize(w, scale, zp, bits, axis=axis) - w
        per[name] = err
    # the worst error of every channel is bounded by its own (smaller) half step ...
    scale_c, _ = affine.scale_zero_point(w, bits, axis=0)
    scale_t, _ = affine.scale_zero_point(w, bits)
    assert torch.all(scale_c <= scale_t * (1 + 1e-6))
    assert torch.all(per["per-channel"].abs().amax(dim=1) <= scale_c / 2 * (1 + 1e-5))
    # ... and the mean squared error is never larger
    assert per["per-channel"].pow(2).mean() <= per["per-tensor"].pow(2).mean()


def test_per_channel_never_worse_on_real_weights(lenet5):
    for name, layer in calibration.quantizable_layers(lenet5).items():
        t = analysis.error_table(layer.weight.detach(), bits=[2, 4, 8])
        assert (t.loc["per-channel", "mse"] <= t.loc["per-tensor", "mse"] * (1 + 1e-9)).all(), name


def test_levels_count_and_spacing():
    lv = affine.levels(0.5, 0, 3, symmetric=True)
    assert len(lv) == 7 and torch.allclose(lv.diff(), torch.full((6,), 0.5))
    assert len(affine.levels(0.1, 3, 4, symmetric=False)) == 16
    with pytest.raises(ValueError, match="bits must be at most 16"):
        affine.levels(0.1, 0, 20)


# ---------------------------------------------------------------- calibration

def test_calibrators_clip_as_intended():
    x = torch.cat([torch.rand(4000, generator=_gen(4)), torch.tensor([50.0])])
    lo, hi = calibration.minmax_range(x, 4, symmetric=False)
    assert (lo, hi) == (x.min(), x.max())
    _, hi_p = calibration.percentile_range(x, 4, symmetric=False, percentile=99.9)
    assert hi_p < 1.0 and (x > hi_p).float().mean() <= 0.001 + 1e-9
    y = torch.cat([torch.randn(10_000, generator=_gen(4)), torch.tensor([40.0])])
    _, hi_m = calibration.mse_range(y, 4)
    assert 2.0 < hi_m < 40.0


def test_mse_range_is_never_worse_than_minmax():
    for seed in range(3):
        x = torch.randn(5000, generator=_gen(seed)) ** 3         # heavy tails
        mse = {}
        for method in ("minmax", "mse"):
            lo, hi = calibration.calibrate_range(x, method, 4)
            scale, zp = affine.qparams(lo, hi, 4)
            mse[method] = affine.quantization_error(x, scale, zp, 4).mse
        assert mse["mse"] <= mse["minmax"]


def test_per_channel_calibration_shapes():
    w = _channels(5)
    for method in calibration.CALIBRATIONS:
        lo, hi = calibration.calibrate_range(w, method, 4, axis=0)
        assert lo.shape == hi.shape == (16,) and torch.all(hi >= 0) and torch.allclose(lo, -hi)


def test_calibration_bad_input():
    with pytest.raises(ValueError, match="unknown calibration 'max'; method must be one of: minmax, percentile, mse"):
        calibration.calibrate_range(torch.ones(3), "max")
    with pytest.raises(ValueError, match=r"percentile must be in \[50, 100\], got 20"):
        calibration.percentile_range(torch.ones(3), percentile=20)
    with pytest.raises(ValueError, match="X must hold at least one calibration example, got 0"):
        calibration.collect_inputs(nn.Linear(3, 2), torch.empty(0, 3))
    with pytest.raises(ValueError, match="unknown layer 'conv9'"):
        calibration.quantizable_layers(wb.build("lenet5"), skip=["conv9"])


def test_collect_inputs_sees_what_each_layer_gets(lenet5, ds):
    acts = calibration.collect_inputs(lenet5, ds.X_val[:10])
    assert torch.equal(acts["features.0"], ds.X_val[:10])
    assert acts["classifier.1"].shape == (10, 400) and acts["classifier.1"].min() >= 0   # after ReLU + pool


# ---------------------------------------------------------------- fake quantization and the STE

@pytest.mark.parametrize("zp", [0, 3])
def test_ste_matches_pytorch_fake_quantize_forward_and_gradient(zp):
    x = torch.linspace(-2, 3, 41, requires_grad=True)
    ours = fake.fake_quantize_ste(x, torch.tensor(0.2), torch.tensor(zp), 4, symmetric=False)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    x2 = x.detach().clone().requires_grad_(True)
    theirs = torch.fake_quantize_per_tensor_affine(x2, 0.2, zp, 0, 15)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x2)
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.equal(g_ours, g_theirs)


def test_ste_per_channel_matches_pytorch():
    w = _channels(6).requires_grad_(True)
    scale, zp = affine.scale_zero_point(w.detach(), 3, axis=0)
    scale = scale * 0.7                                              # so some weights are clipped
    ours = fake.fake_quantize_ste(w, scale, zp, 3, axis=0)
    (g_ours,) = torch.autograd.grad((ours * torch.arange(w.numel()).view_as(w)).sum(), w)
    w2 = w.detach().clone().requires_grad_(True)
    theirs = torch.fake_quantize_per_channel_affine(w2, scale, zp.int(), 0, -3, 3)
    (g_theirs,) = torch.autograd.grad((theirs * torch.arange(w.numel()).view_as(w)).sum(), w2)
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.equal(g_ours, g_theirs)
    assert 0 < int((g_ours == 0).sum()) < w.numel()                  # clipped ones get no gradient


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 16])
def test_activation_quantizer_matches_the_ste_function(bits):
    x = torch.rand(5000, generator=_gen(bits)) * 5
    q = fake.ActivationQuantizer(bits).calibrate(x)
    ref = fake.fake_quantize_ste(x, q.scale, q.zero_point, bits, symmetric=False)
    steps = ((q(x) - ref).abs() / q.scale).round()
    assert steps.max() <= 1 and (steps == 0).float().mean() > 0.999


def test_weight_quantizer_grid_and_identity():
    w = _channels(7)
    q4 = fake.WeightQuantizer(4)(w)
    assert all(torch.unique(row).numel() <= 15 for row in q4.reshape(16, -1))
    assert torch.equal(fake.WeightQuantizer(32)(w), w)
    assert torch.allclose(fake.WeightQuantizer(16)(w), w, atol=float(w.abs().max()) / 32767)
    signs = fake.WeightQuantizer(1)(w)
    assert all(torch.unique(row.abs()).numel() == 1 for row in signs.reshape(16, -1))   # XNOR: one alpha a channel


def test_quantize_model_wraps_weights_and_inputs(lenet5, ds):
    m = fake.quantize_model(copy.deepcopy(lenet5), ds.X_val[:50], weight_bits=3, activation_bits=4, skip=["features.0"])
    assert set(fake.weight_quantizers(m)) == {"features.3", "classifier.1", "classifier.3", "classifier.5"}
    assert not hasattr(m.features[0], "input_quantizer")
    w = m.classifier[1].weight
    assert all(torch.unique(row).numel() <= 7 for row in w)
    seen = {}
    h = m.classifier[3].register_forward_hook(lambda mod, args, out: seen.update(x=args[0]))
    m(ds.X_val[:20])
    h.remove()
    assert torch.unique(seen["x"]).numel() <= 16                  # 4-bit inputs
    assert wb.evaluate(lenet5, ds.X_val, ds.y_val) > 0.9          # the original is untouched


def test_frozen_quantization_equals_the_parametrized_one(lenet5, ds):
    kw = dict(weight_bits=3, activation_bits=5, calibration="percentile")
    live = fake.quantize_model(copy.deepcopy(lenet5), ds.X_val[:100], **kw)
    frozen = fake.quantize_model(copy.deepcopy(lenet5), ds.X_val[:100], freeze=True, **kw)
    assert not fake.weight_quantizers(frozen)
    assert torch.equal(frozen.classifier[1].weight, live.classifier[1].weight)
    assert torch.equal(frozen(ds.X_test[:50]), live(ds.X_test[:50]))


def test_quantize_model_bad_input(lenet5):
    with pytest.raises(ValueError, match="calibration_X must be given to quantize activations"):
        fake.quantize_model(copy.deepcopy(lenet5), weight_bits=8, activation_bits=8)
    with pytest.raises(ValueError, match="unknown layer 'fc9'"):
        fake.quantize_model(copy.deepcopy(lenet5), weight_bits={"fc9": 4}, activation_bits=32)
    with pytest.raises(ValueError, match="unknown granularity 'per-row'"):
        fake.quantize_model(copy.deepcopy(lenet5), granularity="per-row", activation_bits=32)


def test_qat_gradient_reaches_latent_weights(lenet5, ds):
    m = fake.quantize_model(copy.deepcopy(lenet5), ds.X_val[:50], weight_bits=2, activation_bits=8).train()
    loss = nn.functional.cross_entropy(m(ds.X_train[:32]), ds.y_train[:32])
    loss.backward()
    latent = m.classifier[1].parametrizations.weight.original
    assert latent.grad is not None and latent.grad.abs().sum() > 0


def test_weight_levels_match_the_quantizer():
    w = _channels(8)
    for gran in affine.GRANULARITIES:
        for bits in (2, 3, 4):
            lv = fake.weight_levels(w, bits, granularity=gran, channel=3)
            q = fake.WeightQuantizer(bits, granularity=gran)(w)
            used = torch.unique(q[3] if gran == "per-channel" else q)
            assert all(torch.isclose(lv, u).any() for u in used)
    assert fake.weight_levels(w, 32) is None and fake.weight_levels(w, 16) is None


# ---------------------------------------------------------------- binary weights

def test_xnor_alpha_is_the_optimal_scale():
    w = _channels(9, shape=(4, 50))
    b = binary.sign(w)
    alpha = w.abs().mean(dim=1, keepdim=True)
    best = (w - alpha * b).pow(2).sum()
    for eps in (-0.01, 0.01):
        assert best < (w - (alpha + eps) * b).pow(2).sum()
    assert torch.allclose(binary.binarize(w, "xnor"), alpha * b)


def test_binarizers_known_answers_and_order_of_error():
    w = _channels(10, shape=(8, 200))
    assert torch.equal(binary.sign(torch.tensor([-1.0, 0.0, 2.0])), torch.tensor([-1.0, 1.0, 1.0]))
    t = binary.binarize(w, "ternary")
    assert all(torch.unique(row.abs()).numel() <= 2 and (row == 0).any() for row in t)
    err = {m: (binary.binarize(w, m) - w).norm() for m in binary.BINARIZERS}
    assert err["horq2"] < err["xnor"] <= err["binaryconnect"]
    with pytest.raises(ValueError, match="unknown binarizer 'sign'"):
        binary.binarize(w, "sign")
    with pytest.raises(ValueError, match="w must hold at least one weight"):
        binary.binarize(torch.empty(0, 3))


def test_binary_ste_cancels_gradient_beyond_one_and_clip_latent():
    w = torch.tensor([[0.5, -2.0, 0.1]], requires_grad=True)
    (g,) = torch.autograd.grad(binary.binarize_ste(w).sum(), w)
    assert g.tolist() == [[1.0, 0.0, 1.0]]
    m = binary.binarize_model(nn.Sequential(nn.Linear(3, 2)), "xnor")
    with torch.no_grad():
        m[0].parametrizations.weight.original.fill_(3.0)
    binary.clip_latent(m)
    assert m[0].parametrizations.weight.original.max() == 1.0


# ---------------------------------------------------------------- packing: real bytes that decode back

@pytest.mark.parametrize("make", [
    lambda w: binary.binarize(w, "xnor"), lambda w: binary.binarize(w, "binaryconnect"),
    lambda w: binary.binarize(w, "ternary"), lambda w: binary.binarize(w, "horq2"),
    lambda w: fake.WeightQuantizer(4)(w), lambda w: fake.WeightQuantizer(8, granularity="per-tensor")(w),
    lambda w: fake.WeightQuantizer(16)(w), lambda w: fake.WeightQuantizer(3, calibration="mse")(w),
    lambda w: w])
def test_packed_roundtrip(make):
    w = make(_channels(11, shape=(24, 72))).detach()
    back = encodings.decode(encodings.encode({"w": w}, "packed"))["w"]
    assert torch.allclose(back, w, rtol=1e-6, atol=0)


def test_packed_sizes_are_the_bits_plus_scales():
    w = binary.binarize(_channels(12, shape=(64, 288)), "xnor")
    blob = encodings.encode({"w": w}, "packed")
    entry = encodings.header(blob)["tensors"][0]
    assert entry["size"] == 64 * 4 + 64 * 288 // 8                 # one fp32 step a row + 1 bit a weight
    w4 = fake.WeightQuantizer(4, granularity="per-tensor")(_channels(12, shape=(64, 288)))
    assert packing.bits_per_weight(encodings.encode({"w": w4}, "packed"))["w"] == pytest.approx(4, abs=0.01)
    float_bits = packing.bits_per_weight(encodings.encode({"w": _channels(12, shape=(64, 288))}, "packed"))
    assert float_bits["w"] == 32.0                                  # float weights stay fp32


def test_binary_mlp_is_25x_smaller_than_fp32():
    m = binary.binarize_model(wb.get_baseline("lenet300"), "xnor")
    ratio = encodings.size_bytes(wb.get_baseline("lenet300"), "fp32") / encodings.size_bytes(m, "packed")
    assert ratio >= 25


# ---------------------------------------------------------------- integer-only inference (Jacob et al. 2018)

@pytest.mark.parametrize("M", [0.5, 0.99999, 0.3, 1e-3, 3.7e-6])
def test_quantize_multiplier(M):
    M0, shift = integer.quantize_multiplier(M)
    assert 2**30 <= M0 < 2**31
    assert M0 * 2.0**-31 * 2.0**-shift == pytest.approx(M, rel=2**-30)


def test_quantize_multiplier_range():
    with pytest.raises(ValueError, match=r"M must be in \(0, 1\), got 1"):
        integer.quantize_multiplier(1.0)


def test_fixed_point_rounding_matches_exact_rounding():
    a = torch.randint(-2**30, 2**30, (2000,), generator=_gen(13))
    M0 = torch.tensor(1_500_000_000)
    exact = a.double() * float(M0) / 2**31
    ref = torch.sign(exact) * torch.floor(exact.abs() + 0.5)               # ties away from zero
    assert torch.equal(integer.rounding_doubling_high_mul(a, M0), ref.to(torch.int64))
    shifted = integer.rounding_right_shift(a, torch.tensor(5))
    ref = torch.sign(a.double()) * torch.floor(a.double().abs() / 32 + 0.5)
    assert torch.equal(shifted, ref.to(torch.int64))


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_integer_layer_equals_fake_quant_within_one_step(relu, kind):
    torch.manual_seed(14)
    layer = nn.Conv2d(6, 8, 3, padding=1) if kind == "conv" else nn.Linear(40, 12)
    x = torch.randn(16, 6, 10, 10) if kind == "conv" else torch.randn(64, 40)
    il = integer.integer_layer(layer, x, relu=relu)
    out = integer.compare_with_fake(il, x)
    assert out["max_steps"] <= 1 and out["equal_fraction"] > 0.95
    acc = il.accumulate(il.quantize_input(x))
    assert acc.dtype == torch.int32 and il.weight_q.dtype == torch.int8


def test_integer_layer_matches_pytorch_quantized_conv():
    torch.manual_seed(15)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    x = torch.relu(torch.randn(8, 4, 9, 9))
    il = integer.integer_layer(conv, x, relu=False)
    qw = torch.quantize_per_channel(conv.weight.detach(), il.weight_scale.double(), torch.zeros(6, dtype=torch.int64),
                                    0, torch.qint8)
    qconv = torch.ao.nn.quantized.Conv2d(4, 6, 3, padding=1)
    qconv.set_weight_bias(qw, conv.bias.detach())
    qconv.scale, qconv.zero_point = il.y_scale, il.y_zero_point
    qx = torch.quantize_per_tensor(x, il.x_scale, il.x_zero_point, torch.quint8)
    theirs = qconv(qx).int_repr().to(torch.int64)
    ours = il(il.quantize_input(x))
    assert (ours - theirs).abs().max() <= 1
    assert (ours == theirs).float().mean() > 0.95


def test_fold_batchnorm_keeps_outputs(ds):
    vgg = wb.get_baseline("vgg")
    folded = integer.fold_batchnorm(vgg)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(ds.X_val[:16]), vgg(ds.X_val[:16]), atol=1e-4)


def test_integer_layer_bad_input():
    with pytest.raises(ValueError, match="layer must be a Conv2d or Linear, got ReLU"):
        integer.integer_layer(nn.ReLU(), torch.randn(2, 3))


# ---------------------------------------------------------------- real int8 (PyTorch's kernels)

def test_fusion_groups():
    assert real.fusion_groups(wb.build("vgg"))[:2] == [["features.0", "features.1", "features.2"],
                                                       ["features.4", "features.5", "features.6"]]
    assert real.fusion_groups(wb.build("lenet5")) == [["features.0", "features.1"], ["features.3", "features.4"],
                                                      ["classifier.1", "classifier.2"],
                                                      ["classifier.3", "classifier.4"]]


def test_real_int8_agrees_with_fake_quant_on_99_percent(lenet5, ds):
    int8 = real.to_int8(lenet5, ds.X_val)
    first = int8.module.features[0]
    assert type(first).__name__ == "ConvReLU2d" and type(first).__module__.startswith("torch.ao.nn.intrinsic.quantized")
    fq = fake.quantize_model(copy.deepcopy(lenet5), ds.X_val, weight_bits=8, activation_bits=8)
    agree = (wb.predict(int8, ds.X_test).argmax(1) == wb.predict(fq, ds.X_test).argmax(1)).float().mean()
    assert agree >= 0.99
    assert real.size_on_disk(int8) < real.size_on_disk(lenet5) / 3


def test_to_int8_bad_input(lenet5):
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'; backend must be one of: eager, pt2e"):
        real.to_int8(lenet5, torch.zeros(2, 1, 28, 28), backend="tensorrt")
    with pytest.raises(ValueError, match="calibration_X must hold at least one example, got 0"):
        real.to_int8(lenet5, torch.zeros(0, 1, 28, 28))


# ---------------------------------------------------------------- analysis

def test_layer_sensitivity_and_calibration_table(lenet5, ds):
    small = dataclasses_replace(ds)
    t = analysis.layer_sensitivity(lenet5, small, weight_bits=2, calibration_examples=50)
    assert list(t.index) == list(calibration.quantizable_layers(lenet5)) and (t.accuracy <= 1).all()
    c = analysis.calibration_table(torch.cat([torch.rand(20_000, generator=_gen(16)), torch.tensor([30.0])]), 4)
    assert c.loc["minmax", "clipped_fraction"] == 0 and c.loc["percentile", "hi"] < 30


def dataclasses_replace(ds):
    import dataclasses

    return dataclasses.replace(ds, X_val=ds.X_val[:100], y_val=ds.y_val[:100])


# ---------------------------------------------------------------- explorer

def test_explorer_moves_change_accuracy_size_and_histogram(ds):
    from workbench.quantization.explorer import make_explorer

    e = make_explorer(ds, calibration_examples=100)
    assert set(e.controls) == {"weight_bits", "activation_bits", "granularity", "calibration"}
    assert e.controls["weight_bits"].options == (1, 2, 3, 4, 5, 6, 7, 8, 16, 32)
    size8 = e.current.size_bytes
    e.controls["weight_bits"].value = 2
    assert e.current.size_bytes < size8 / 3
    assert "2-bit" in e.histogram.layout.title.text and len(e.histogram.data[2].x) == 3
    e.set(weight_bits=32, activation_bits=32)
    assert e.current.size_bytes > 4 * 61_706 and "fp32" in e.histogram.layout.title.text
    assert not e.errors
    assert e._repr_mimebundle_()["text/plain"] == "Quantization explorer panel — run this cell to open it"


# ---------------------------------------------------------------- exercises

def test_reference_solutions_pass_and_stubs_are_not_attempted():
    assert ex.check_scale_zero_point(sol.scale_zero_point).passed
    assert ex.check_fake_quantize(sol.fake_quantize).passed
    assert ex.check_choose_bits(sol.choose_bits).passed

    def stub(*args):
        raise NotImplementedError

    for check in (ex.check_scale_zero_point, ex.check_fake_quantize, ex.check_choose_bits):
        fb = check(stub)
        assert not fb.passed and not fb.attempted and "not attempted yet" in str(fb)


def test_exercise_feedback_names_the_mistake():
    no_ste = lambda x, s, z, lo, hi: (torch.clamp(torch.round(x / s) + z, lo, hi) - z) * s
    assert "torch.round has zero gradient" in str(ex.check_fake_quantize(no_ste))
    no_mask = lambda x, s, z, lo, hi: x + ((torch.clamp(torch.round(x / s) + z, lo, hi) - z) * s - x).detach()
    assert "clipped values must get no gradient" in str(ex.check_fake_quantize(no_mask))
    fb = ex.check_scale_zero_point(lambda x, b: ((float(x.max()) - float(x.min())) / 2**b, 0))
    assert not fb.passed and "got" in str(fb) and "expected" in str(fb)
    assert "most *bytes*" in str(ex.check_choose_bits(ex._greedy_by_count))
    with pytest.raises(ValueError, match="budget_bytes 10 cannot be met"):
        sol.choose_bits({"a": 100, "b": 100, "c": 100}, 10)
    assert math.isfinite(sol.scale_zero_point(torch.zeros(3))[0])
    assert np.isclose(sol.scale_zero_point(torch.tensor([-1.0, 3.0]), 2)[0], 4 / 3)


def test_dynamic_int8_converts_linear_layers_only_and_stays_close():
    model = wb.models.build("lenet5").eval()
    q = real.dynamic_int8(model)
    kinds = {type(m).__name__ for m in q.modules()}
    assert "Conv2d" in kinds and "Linear" in kinds             # convs stay fp32; Linear is the quantized class
    assert q.classifier[1]._get_name() == "DynamicQuantizedLinear"
    assert isinstance(model.classifier[1], nn.Linear) and type(model.classifier[1]) is nn.Linear   # the original is untouched
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, out = model(x), q(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()     # int8 weights: close, not equal
    assert not torch.equal(out, ref)
    assert real.size_on_disk(q) < real.size_on_disk(model) / 2
