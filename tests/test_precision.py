"""Mixed precision (notebook 08): formats against PyTorch's casts, gradient counts by hand,
loss scaling, autocast training, memory accounting, the explorer and the exercises."""

import math
import struct

import pytest
import torch

import workbench as wb
from workbench import precision as mp
from workbench.exercises import precision as ex
from workbench.precision import cost, gradients, training
from workbench.solutions import precision as ref

DTYPED = [n for n, f in mp.FORMATS.items() if f.dtype is not None]


@pytest.fixture(scope="module")
def ds():
    return wb.load("digits")


def _values():
    torch.manual_seed(0)
    x = torch.randn(4000) * torch.exp2(torch.randint(-30, 18, (4000,)).float())
    return torch.cat([x, torch.tensor([0.0, -0.0, 1.0, -2.0, 65504.0, 65520.0, 448.0, 2.0**-24, 2.0**-25, 3 * 2.0**-26,
                                       float("inf"), -float("inf")])])


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("name", DTYPED)
def test_bit_pattern_matches_pytorchs_storage(name):
    f = mp.get_format(name)
    view = {32: torch.int32, 16: torch.int16, 8: torch.uint8}[f.bits]
    for v in _values()[::37].tolist() + [1.0, -2.0, 2.0**-24]:
        expected = int(torch.tensor([v]).to(f.dtype).view(view).item()) & (2**f.bits - 1)
        assert mp.encode_bits(v, name) == expected, (name, v)


@pytest.mark.parametrize("name", DTYPED)
def test_decoding_by_hand_matches_pytorchs_cast(name):
    f = mp.get_format(name)
    view = {32: torch.int32, 16: torch.int16, 8: torch.uint8}[f.bits]
    patterns = range(2**f.bits) if f.bits <= 16 else [0x3F800000, 0x00000001, 0x7F7FFFFF, 0xC0490FDB, 0x7F800000]
    for bits in patterns:
        raw = bits - 2**f.bits if view != torch.uint8 and bits >= 2 ** (f.bits - 1) else bits
        expected = torch.tensor([raw], dtype=view).view(f.dtype).float().item()
        got = mp.decode_bits(bits, name)
        assert (math.isnan(got) and math.isnan(expected)) or got == expected, (name, hex(bits), got, expected)


def test_format_table_agrees_with_finfo():
    table = mp.format_table()
    for name in DTYPED:
        info = torch.finfo(mp.get_format(name).dtype)
        assert table.loc[name, "max"] == info.max and table.loc[name, "eps"] == info.eps
        assert table.loc[name, "smallest normal"] == info.smallest_normal
    assert table.loc["fp16", "smallest subnormal"] == 2.0**-24
    assert table.loc["bf16", "smallest normal"] == table.loc["fp32", "smallest normal"]   # same range
    assert table.loc["tf32", "eps"] == table.loc["fp16", "eps"]                            # same precision


def test_round_to_matches_the_cast_and_tf32_keeps_10_mantissa_bits():
    x = _values()
    assert torch.equal(mp.round_to(x, "bf16"), x.to(torch.bfloat16).float())
    t = mp.round_to(x[torch.isfinite(x)], "tf32")
    assert (t.view(torch.int32) & 0x1FFF).eq(0).all()                  # low 13 bits gone
    finite = x[torch.isfinite(x) & (x != 0)]
    rel = ((mp.round_to(finite, "tf32") - finite) / finite).abs()
    assert rel.max() <= 2.0**-11                                        # half an ulp at 10 bits
    assert mp.round_to(torch.tensor([1 + 2.0**-11]), "tf32").item() == 1.0    # a tie goes to even


def test_bit_fields_kinds_and_errors():
    assert mp.bit_pattern(-2.0, "fp16") == "1|10000|0000000000"
    assert mp.bit_fields(1e-8, "fp16")["kind"] == "zero"
    assert mp.bit_fields(1e-6, "fp16")["kind"] == "subnormal"
    assert mp.bit_fields(1e5, "fp16")["kind"] == "inf"
    assert mp.bit_fields(1e5, "fp8_e4m3")["kind"] == "saturated"
    d = mp.bit_fields(0.1, "bf16")
    assert d["abs_error"] == abs(d["stored"] - d["value"]) and d["rel_error"] < 2.0**-8


def test_unknown_format_and_bad_bits_are_refused():
    with pytest.raises(ValueError, match="fmt"):
        mp.round_to(torch.ones(2), "fp12")
    with pytest.raises(ValueError, match="fmt"):
        mp.bit_fields(1.0, "int8")
    with pytest.raises(ValueError, match="bits"):
        mp.decode_bits(2**16, "fp16")
    with pytest.raises(ValueError, match="value"):
        mp.bit_fields("1.0", "fp16")


# ---------------------------------------------------------------- gradients and scaling
def test_flush_fractions_against_a_count_by_hand():
    g = _values()
    g = g[torch.isfinite(g)]
    for name in ("fp16", "bf16", "fp8_e5m2", "fp8_e4m3"):
        f = mp.get_format(name)
        for scale in (1.0, 2.0**10):
            nonzero = [v for v in g.tolist() if v != 0]
            under = over = 0
            for v in nonzero:
                stored = torch.tensor([v * scale]).to(f.dtype).float().item()
                if not math.isfinite(stored) or abs(v * scale) >= gradients.overflow_threshold(f):
                    over += 1
                elif stored == 0:
                    under += 1
            fr = mp.flush_fractions(g, name, scale)
            assert fr["underflow"] == under / len(nonzero) and fr["overflow"] == over / len(nonzero), (name, scale)


def test_flush_counter_equals_the_cast_on_real_gradients(ds):
    grads = mp.record_gradients(wb.get_baseline("lenet5"), ds, batches=1)
    assert set(grads) == {"weights", "activations"}
    assert grads["weights"].numel() == wb.count_params(wb.get_baseline("lenet5"))
    for kind, g in grads.items():
        counter = gradients.FlushCounter(g)
        for name in mp.FORMATS:
            for k in (0, 7, 16, 24, 32):
                assert counter.fractions(name, 2.0**k) == mp.flush_fractions(g, name, 2.0**k), (kind, name, k)


def test_thresholds_hold_at_exact_ties():
    sub = 2.0**-24
    g = torch.tensor([sub / 2, sub / 2 * (1 + 2.0**-20), 2.0**-14 - sub / 2, 65520.0, 65519.0])
    fr = mp.flush_fractions(g, "fp16")
    assert fr == gradients.FlushCounter(g).fractions("fp16")
    assert fr["underflow"] == 1 / 5 and fr["overflow"] == 1 / 5 and fr["subnormal"] == 1 / 5


def test_loss_scaling_moves_underflow_to_overflow():
    g = torch.tensor([1e-9, 1e-7, 1e-3, 0.5, 8.0])
    sweep = mp.scale_sweep(g, "fp16", range(0, 33, 4))
    assert sweep["underflow"].is_monotonic_decreasing and sweep["overflow"].is_monotonic_increasing
    safe = mp.largest_safe_scale(g, "fp16")
    assert mp.flush_fractions(g, "fp16", safe)["overflow"] == 0
    assert mp.flush_fractions(g, "fp16", 2 * safe)["overflow"] > 0
    assert mp.flush_fractions(g, "bf16")["underflow"] == 0               # bf16 has fp32's range


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf")])
def test_bad_scale_is_refused(scale):
    with pytest.raises(ValueError, match="scale"):
        mp.flush_fractions(torch.ones(3), "fp16", scale)
    with pytest.raises(ValueError, match="scale"):
        gradients.FlushCounter(torch.ones(3)).fractions("fp16", scale)


def test_all_zero_gradients_are_refused():
    with pytest.raises(ValueError, match="grads"):
        mp.flush_fractions(torch.zeros(3), "fp16")
    with pytest.raises(ValueError, match="grads"):
        mp.largest_safe_scale(torch.zeros(3))


def test_log2_histogram_counts_every_nonzero():
    g = _values()
    g = g[torch.isfinite(g)]
    edges, counts = mp.log2_histogram(g, low=-60, high=30)
    assert int(counts.sum()) == int((g != 0).sum()) and len(edges) == len(counts) + 1


# ---------------------------------------------------------------- the scaler and training
def test_grad_scaler_backs_off_on_inf_and_skips_the_step():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = mp.make_scaler("dynamic", init_scale=1024.0)
    before = model.weight.detach().clone()
    loss = model(torch.ones(1, 2)).sum() * float("inf")
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 512.0 and torch.equal(model.weight, before)


def test_static_scaler_unscales_before_the_update():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    b.load_state_dict(a.state_dict())
    X, y = torch.randn(4, 3), torch.randn(4, 1)
    opt_a, opt_b = torch.optim.SGD(a.parameters(), lr=0.1), torch.optim.SGD(b.parameters(), lr=0.1)
    ((a(X) - y) ** 2).mean().backward()
    opt_a.step()
    s = training.StaticScaler(2.0**10)
    s.scale(((b(X) - y) ** 2).mean()).backward()
    s.step(opt_b)
    assert torch.allclose(a.weight, b.weight) and not s.found_inf


def test_autocast_runs_matmuls_in_16_bits_and_the_loss_in_fp32(ds):
    table = mp.autocast_dtypes(wb.build("lenet5"), ds.X_val[:4], "bf16")
    assert table.loc["features.0", "output dtype"] == "bfloat16"
    assert table.loc["loss", "output dtype"] == "float32"
    fp32 = mp.autocast_dtypes(wb.build("lenet5"), ds.X_val[:4], "fp32")
    assert set(fp32["output dtype"]) == {"float32"}


def test_train_mixed_keeps_fp32_master_weights_and_records_every_step(ds):
    model = wb.build("lenet5")
    h = mp.train_mixed(model, ds, precision="fp16", scaling="dynamic", num_epochs=1, max_steps=6, init_scale=2.0**24)
    assert len(h.losses) == len(h.scales) == 6 and h.skipped >= 1          # 2^24 overflows at first
    assert h.scales[0] == 2.0**24 and min(h.scales) < 2.0**24
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert h.label == "fp16 + dynamic scaling" and 0 <= h.final_val_acc <= 1


def test_train_mixed_fp32_equals_plain_training(ds):
    a, b = wb.build("lenet5"), wb.build("lenet5")
    mp.train_mixed(a, ds, precision="fp32", num_epochs=1, max_steps=3)
    torch.manual_seed(0)
    opt = torch.optim.Adam(b.parameters(), lr=2e-3)
    for i, (X, y) in enumerate(ds.loader("train", batch_size=64, seed=0)):
        if i == 3:
            break
        opt.zero_grad()
        torch.nn.functional.cross_entropy(b(X), y).backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q)


def test_training_arguments_are_checked(ds):
    with pytest.raises(ValueError, match="precision"):
        mp.train_mixed(wb.build("lenet5"), ds, precision="fp8")
    with pytest.raises(ValueError, match="scaling"):
        mp.train_mixed(wb.build("lenet5"), ds, scaling="auto")
    with pytest.raises(ValueError, match="scale"):
        mp.make_scaler("static", init_scale=0)


# ---------------------------------------------------------------- cost
def test_step_memory_counts_parameters_and_shrinks_activations(ds):
    X, y = ds.X_train[:32], ds.y_train[:32]
    n = wb.count_params(wb.build("lenet5"))
    fp32 = mp.step_memory(wb.build("lenet5"), X, y, "fp32")
    bf16 = mp.step_memory(wb.build("lenet5"), X, y, "bf16")
    assert fp32["weights"] == fp32["gradients"] == 4 * n == bf16["weights"]
    assert fp32["optimizer state"] == 8 * n
    assert bf16["activations"] < fp32["activations"]
    assert fp32["total"] == sum(v for k, v in fp32.items() if k != "total")


def test_time_training_steps_interleaves_every_precision(ds):
    out = mp.time_training_steps(lambda: wb.build("lenet300"), ds, ("fp32", "bf16"), repeats=2, warmup=0,
                                 batch_size=8)
    assert sorted(out) == ["bf16", "fp32"] and all(v.runs == 2 and v.batch_size == 8 for v in out.values())
    with pytest.raises(ValueError, match="precision"):
        mp.time_training_steps(lambda: wb.build("lenet300"), ds, ("fp64",))


def test_low_precision_inference_halves_the_bytes(ds):
    base = wb.get_baseline("lenet5")
    half = mp.LowPrecision(wb.get_baseline("lenet5"), torch.bfloat16)
    assert 0.49 < len(wb.encode(half, "fp32")) / len(wb.encode(base, "fp32")) < 0.51
    assert abs(wb.evaluate(half, ds.X_test, ds.y_test) - wb.evaluate(base, ds.X_test, ds.y_test)) < 0.02
    blob = wb.encode(base, "bf16")
    assert torch.equal(wb.decode(blob)["features.0.weight"], base.features[0].weight.detach().bfloat16().float())
    with pytest.raises(ValueError, match="dtype"):
        mp.LowPrecision(base, torch.int8)


def test_cpu_support_reports_what_pytorch_says():
    s = mp.cpu_support()
    assert s["bf16 native (oneDNN)"] == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


# ---------------------------------------------------------------- explorer
@pytest.mark.slow
def test_explorer_moves_and_trains(ds):
    from workbench.precision.explorer import make_explorer

    lab = make_explorer(ds, batches=1, steps=4)
    s = lab.set(format="fp16", value=1e-6)
    assert s["kind"] == "subnormal" and s["bits"] == mp.encode_bits(1e-6, "fp16")
    low = lab.set(log2_scale=0)["activations underflow"]
    high = lab.set(log2_scale=16)["activations underflow"]
    assert high < low
    assert lab.set(format="bf16")["activations underflow"] == 0
    def hint_shown() -> bool:
        return next(a.visible for a in lab.losses.layout.annotations if a.name == "hint loss") is not False

    assert hint_shown()                               # the empty loss plot says which button fills it
    lab.train(precision="bf16", scaling="none")
    lab.train(precision="fp16", scaling="dynamic")
    assert len(lab.runs) == 2 and len(lab.losses.data) == 2 and len(lab.runs[1].losses) == 4 and not hint_shown()
    lab.clear_runs()
    assert not lab.runs and not lab.losses.data and not lab.errors and hint_shown()
    with pytest.raises(ValueError, match="params"):
        lab.set(bits=3)


# ---------------------------------------------------------------- exercises
def test_reference_solutions_pass_and_match_pytorch():
    for check, fn in [(ex.check_decode_fp16, ref.decode_fp16), (ex.check_largest_safe_scale, ref.largest_safe_scale),
                      (ex.check_round_to_bf16, ref.round_to_bf16)]:
        assert check(fn).passed, str(check(fn))
    for bits in range(0, 2**16, 97):
        assert ref.decode_fp16(bits) == mp.decode_bits(bits, "fp16") or math.isnan(ref.decode_fp16(bits))
    for v in _values()[::11].tolist():
        expected = torch.tensor([v]).bfloat16().float().item()
        assert struct.pack("<f", ref.round_to_bf16(v)) == struct.pack("<f", expected), v
    assert ref.largest_safe_scale([3.0]) == mp.largest_safe_scale(torch.tensor([3.0]))


def test_every_known_mistake_gets_its_own_hint():
    for exercise in (ex._decode, ex._scale, ex._bf16):
        for hint, wrong in exercise.mistakes.items():
            feedback = exercise.check(wrong)
            assert not feedback.passed and feedback.message.endswith(f"Hint: {hint}"), (exercise.name, str(feedback))


def test_stub_is_not_attempted():
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert not ex.check_decode_fp16(stub).attempted


def test_lost_updates_against_a_count_by_hand():
    torch.manual_seed(0)
    w = torch.randn(2000) * 0.1
    u = torch.randn(2000) * 10.0 ** torch.randint(-7, -1, (2000,)).float()
    for fmt in ("fp32", "bf16", "fp16"):
        f = mp.get_format(fmt)
        stored = w.to(f.dtype)
        lost = sum(1 for a, b in zip(stored.tolist(), u.tolist())
                   if torch.tensor([a + b]).to(f.dtype).item() == a)
        assert mp.lost_updates(w, u, fmt) == lost / 2000, fmt
    assert mp.lost_updates(w, u, "bf16") > mp.lost_updates(w, u, "fp16") > mp.lost_updates(w, u, "fp32")
    with pytest.raises(ValueError, match="shape"):
        mp.lost_updates(w, u[:5])


def test_train_recipes_share_initial_weights_and_the_table_measures_gaps(ds):
    runs = mp.train_recipes(ds, ["fp32", "bf16"], num_epochs=1, max_steps=2)
    table = mp.accuracy_table(runs, ds)
    assert table.loc["fp32", "Δ vs fp32 (pp)"] == 0
    acc = {k: wb.evaluate(m, ds.X_test, ds.y_test) for k, (m, _) in runs.items()}
    assert table.loc["bf16", "Δ vs fp32 (pp)"] == pytest.approx(100 * (acc["bf16"] - acc["fp32"]))
    with pytest.raises(ValueError, match="recipes"):
        mp.train_recipes(ds, ["fp64"])


def test_speed_ratio_words_both_directions():
    assert mp.speed_ratio(10.0, 5.0) == "2.00× faster" and mp.speed_ratio(10.0, 40.0) == "4.00× slower"
    with pytest.raises(ValueError, match="reference_ms"):
        mp.speed_ratio(0.0, 1.0)
