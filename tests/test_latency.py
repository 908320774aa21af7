import pytest
import torch

import workbench as wb


def test_measure_latency_reports_median_spread_and_context():
    lat = wb.measure_latency(wb.build("lenet5"), (1, 28, 28), batch_size=4, repeats=7, warmup=2, threads=1)
    assert lat.runs == 7 == len(lat.samples_ms) and lat.batch_size == 4 and lat.threads == 1
    assert lat.q1_ms <= lat.median_ms <= lat.q3_ms and lat.device == "cpu"
    assert sorted(lat.samples_ms)[3] == pytest.approx(lat.median_ms)
    assert "ms (IQR" in str(lat) and "threads=1" in str(lat)


def test_thread_count_and_mode_are_restored():
    before = torch.get_num_threads()
    model = wb.build("lenet5").train()
    wb.measure_latency(model, (1, 28, 28), repeats=3, threads=1)
    assert torch.get_num_threads() == before and model.training


def test_budget_caps_the_runs_but_keeps_three():
    lat = wb.measure_latency(wb.build("vgg"), (1, 28, 28), batch_size=16, repeats=1000, budget_s=1e-6)
    assert lat.runs == 3


def test_compare_interleaves_every_model_equally():
    out = wb.compare_latency({"a": wb.build("lenet300"), "b": wb.build("lenet5")}, (1, 28, 28), repeats=5)
    assert out["a"].runs == out["b"].runs == 5


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"batch_size must be in \[1, inf\], got 0"),
    ({"repeats": 0}, r"repeats must be in \[1, inf\], got 0"),
    ({"budget_s": 0}, r"budget_s must be in \(0, inf\], got 0"),
    ({"threads": 0}, r"threads must be in \[1, 1024\], got 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        wb.measure_latency(wb.build("lenet5"), (1, 28, 28), **kwargs)


def test_empty_inputs():
    with pytest.raises(ValueError, match="input_shape must give the shape of one example"):
        wb.measure_latency(wb.build("lenet5"), ())
    with pytest.raises(ValueError, match="models must hold at least one model"):
        wb.compare_latency({}, (1, 28, 28))


# ---------------------------------------------------------------- quick timings for live panels
def test_quick_compare_interleaves_on_one_thread_and_restores_it():
    before = torch.get_num_threads()
    model = wb.build("lenet5").train()
    out = wb.latency.quick_compare({"a": wb.build("lenet300"), "b": model}, (1, 28, 28), batch_size=2,
                                   budget_s=1e-6, min_rounds=6)
    assert out["a"].runs == out["b"].runs == 6 and out["a"].threads == 1 and out["a"].batch_size == 2
    assert torch.get_num_threads() == before and model.training
    for lat in out.values():
        assert lat.q1_ms <= lat.median_ms <= lat.q3_ms and lat.method == "min of block medians"
        assert lat.median_ms >= min(lat.samples_ms)


def test_min_of_block_medians_ignores_a_burst_of_load():
    from workbench.latency import _blocks_min_median

    quiet, burst = [1.0] * 6, [10.0] * 3
    assert _blocks_min_median(quiet + burst, 3) == 1.0          # the burst lifts one block only
    assert _blocks_min_median(burst[:1] + quiet, 3) == 1.0
    assert _blocks_min_median([2.0], 3) == 2.0
    assert sorted([1.0, 5.0, 9.0])[1] == 5.0 and _blocks_min_median([1.0, 5.0, 9.0], 1) == 5.0  # one block: median


def test_median_latency_of_timings():
    lats = [wb.Latency(m, m - 0.5, m + 0.5, 4, 8, 1, "cpu") for m in (2.0, 20.0, 2.2, 2.1)]
    mid = wb.latency.median_latency(lats)
    assert mid.median_ms == 2.1 and mid.runs == 16 and mid.batch_size == 8
    assert mid.q1_ms <= mid.median_ms <= mid.q3_ms < 20.0
    with pytest.raises(ValueError, match="timings"):
        wb.latency.median_latency([])


@pytest.mark.parametrize("kwargs, message", [
    ({"min_rounds": 0}, r"min_rounds must be in \[1, inf\], got 0"),
    ({"max_rounds": 2, "min_rounds": 5}, r"max_rounds must be in \[5, inf\], got 2"),
    ({"blocks": 0}, r"blocks must be in \[1, 20\], got 0"),
    ({"threads": 0}, r"threads must be in \[1, 1024\], got 0"),
])
def test_quick_compare_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        wb.latency.quick_compare({"m": wb.build("lenet5")}, (1, 28, 28), **kwargs)
