import re
from configparser import ConfigParser
from pathlib import Path

import pytest
import torch

import workbench as wb
from workbench import encodings as E
from workbench.report import format_bytes, format_count


@pytest.fixture(scope="module")
def rows(ds):
    models = {"lenet5": wb.get_baseline("lenet5"), "lenet300": wb.get_baseline("lenet300")}
    return wb.measure_all(models, ds, encoding={"lenet300": "int8"}, latency_batches=(1, 8), repeats=5)


def test_measurement_agrees_with_the_parts(ds, rows):
    lenet5 = wb.get_baseline("lenet5")
    m = rows["lenet5"]
    assert m.params == wb.count_params(lenet5) and m.nonzeros == m.params
    assert m.size_bytes == wb.size_bytes(lenet5, "fp32") and m.encoding == "fp32"
    assert m.macs == wb.count_macs(lenet5, ds.input_shape)
    assert m.accuracy == wb.evaluate(lenet5, ds.X_test, ds.y_test) and m.eval_examples == 1000
    assert set(m.latency) == {1, 8} and m.latency_ms(8) == m.latency[8].median_ms


def test_lossy_accuracy_is_measured_on_the_decoded_model(ds, rows):
    model = wb.get_baseline("lenet300")
    decoded = E.decoded_model(model, E.encode(model, "int8"))
    assert rows["lenet300"].accuracy == wb.evaluate(decoded, ds.X_test, ds.y_test)
    assert rows["lenet300"].size_bytes == wb.size_bytes(model, "int8")


def test_smallest_of_several_encodings_is_chosen(ds):
    model = wb.get_baseline("lenet300")
    with torch.no_grad():
        model.classifier[1].weight[model.classifier[1].weight.abs() < 0.1] = 0
    m = wb.measure(model, ds, encoding=["fp32", "csr"], latency_batches=())
    assert m.encoding == "csr" and m.size_bytes == wb.size_bytes(model, "csr") < wb.size_bytes(model, "fp32")


def test_report_ratios_against_the_baseline(rows):
    table = wb.report(rows, baseline="lenet5").table
    base, other = rows["lenet5"], rows["lenet300"]
    assert table.loc["lenet5", "size_ratio"] == 1.0 and table.loc["lenet5", "delta_pp"] == 0.0
    assert table.loc["lenet300", "size_ratio"] == pytest.approx(base.size_bytes / other.size_bytes)
    assert table.loc["lenet300", "mac_ratio"] == pytest.approx(base.macs / other.macs)
    assert table.loc["lenet300", "speedup_b8"] == pytest.approx(base.latency_ms(8) / other.latency_ms(8))
    assert table.loc["lenet300", "delta_pp"] == pytest.approx(100 * (other.accuracy - base.accuracy))


def test_formatted_timings_are_exactly_what_the_sanitizer_masks(rows):
    text = repr(wb.report(rows)) + wb.report(rows)._repr_html_()
    cfg = ConfigParser()
    cfg.read(Path(__file__).with_name("sanitize.cfg"))
    masked = text
    for section in cfg.sections():
        masked = re.sub(cfg[section]["regex"], cfg[section]["replace"].strip('"'), masked)
    assert re.search(r"\d ms", masked) is None and re.search(r"\d× (faster|slower)", masked) is None
    assert "smaller" in masked or "larger" in masked          # size ratios are kept
    assert re.search(r"\d+\.\d{2}%", masked)                  # accuracies are kept


def test_number_formats():
    assert format_bytes(1_067_080) == "1.07 MB" and format_bytes(999) == "999 B"
    assert format_count(7_452_416) == "7.45 M" and format_count(640) == "640"


def test_bad_report_and_measure_arguments(ds, rows):
    with pytest.raises(ValueError, match="unknown baseline row 'vgg'; baseline must be one of: lenet5, lenet300"):
        wb.report(rows, baseline="vgg")
    with pytest.raises(ValueError, match="rows must hold at least one measurement"):
        wb.report({})
    with pytest.raises(ValueError, match="unknown encoding 'gzip'"):
        wb.measure(wb.build("lenet5"), ds, encoding="gzip", latency_batches=())
    with pytest.raises(ValueError, match=r"latency_batches must be in \[1, inf\], got 0"):
        wb.measure(wb.build("lenet5"), ds, latency_batches=(0,))
