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
