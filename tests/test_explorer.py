import pytest
import torch

import workbench as wb
from workbench.explorer import pareto_front
from workbench.latency import Latency


def _zero_smallest(model, amount):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                k = int(amount * m.weight.numel())
                if k:
                    m.weight[m.weight.abs() <= m.weight.abs().flatten().kthvalue(k).values] = 0
    return model


@pytest.fixture
def explorer(ds):
    calls = []

    def compress(model, amount, scope="layer"):
        calls.append((amount, scope))
        return _zero_smallest(model, amount)

    ex = wb.Explorer(compress, {"amount": wb.Slider(0.0, 0.9, 0.1, value=0.0),
                                "scope": wb.Dropdown(["layer", "global"])},
                     baseline=wb.get_baseline("lenet300"), data=ds, encoding=["fp32", "csr"], latency="off")
    ex.calls = calls
    return ex


def test_moving_a_control_measures_the_new_setting(explorer):
    explorer.controls["amount"].value = 0.5
    m = explorer.current
    assert m.sparsity == pytest.approx(0.5, abs=0.01) and m.encoding == "csr"
    assert explorer.calls[-1] == (0.5, "layer") and not explorer.errors


def test_revisiting_a_setting_uses_the_cache(explorer):
    explorer.controls["amount"].value = 0.5
    explorer.controls["amount"].value = 0.7
    n = len(explorer.calls)
    explorer.controls["amount"].value = 0.5
    assert len(explorer.calls) == n and explorer.current.sparsity == pytest.approx(0.5, abs=0.01)


def test_set_moves_several_controls_with_one_measurement(explorer):
    n = len(explorer.calls)
    explorer.set(amount=0.3, scope="global")
    assert explorer.calls[n:] == [(0.3, "global")]


def test_plots_and_table_follow_the_measurements(explorer):
    for v in (0.2, 0.6):
        explorer.controls["amount"].value = v
    fig = explorer.figure
    series = fig.data[explorer._series[(("scope", "layer"),)]]
    assert list(series.x) == [0.0, 0.2, 0.6]
    assert list(fig.data[4].x) == [0.6]                                # the current point
    assert len(fig.data[8].x) == 3 and len(fig.data[9].x) >= 1        # the Pareto cloud and front
    assert "csr" in explorer.table.value and "accuracy" in explorer.table.value
    assert list(explorer.history()["amount"]) == [0.0, 0.2, 0.6]


def test_an_exception_shows_in_the_panel_and_the_panel_keeps_working(ds):
    def fragile(model, amount):
        if amount > 0.5:
            raise RuntimeError("too much")
        return _zero_smallest(model, amount)

    ex = wb.Explorer(fragile, {"amount": wb.Slider(0.0, 0.9, 0.1)}, baseline=wb.get_baseline("lenet300"),
                     data=ds, latency="off")
    ex.controls["amount"].value = 0.8
    assert "RuntimeError: too much" in ex.status.value and len(ex.errors) == 1
    ex.controls["amount"].value = 0.2
    assert ex.status.value == "" and ex.current.sparsity == pytest.approx(0.2, abs=0.01)
    with pytest.raises(RuntimeError, match="too much"):
        ex.set(amount=0.9)


def test_batch_size_control_goes_to_latency_not_to_compress(ds):
    seen = []

    def pick(model, name):
        seen.append(name)
        return model

    ex = wb.Explorer(pick, {"batch_size": wb.Slider(options=[1, 4]), "name": wb.Dropdown(["a"])},
                     baseline=wb.get_baseline("lenet5"), data=ds, budget_s=0.01)
    ex.controls["batch_size"].value = 4
    assert seen == ["a"] and set(ex.current.latency) == {4}     # a new batch size re-times, never recompresses
    assert len(ex.history()) == 2


def test_quick_latency_is_measured_interleaved_with_the_baseline(ds, explorer):
    ex = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.5)},
                     baseline=wb.get_baseline("lenet5"), data=ds, budget_s=0.01, batch_size=2)
    point = ex._points[ex._key(ex.params)]
    assert point.baseline_latency.runs == point.measurement.latency[2].runs >= 3
    full = ex.measure_latency()
    assert full.latency[2].runs == 30 and "full timing" in ex.table.value


def test_run_button_mode_trains_only_on_request_and_actions_add_points(ds):
    runs = []

    def train_small(model, width, monitor):
        runs.append(width)
        student = wb.build("lenet300", hidden=(width,))
        wb.train(student, ds, num_epochs=1, batch_size=500, monitor=monitor)
        return student

    def halve(model):
        return _zero_smallest(model, 0.5)

    ex = wb.Explorer(train_small, {"width": wb.Slider(8, 32, 8, value=8)}, baseline=wb.get_baseline("lenet5"),
                     data=ds, run="button", actions={"halve": halve}, latency="off")
    assert runs == [] and "press <b>run</b>" in ex.status.value
    ex.controls["width"].value = 16
    assert runs == [] and "settings changed" in ex.status.value
    ex.update()
    assert runs == [16] and ex.monitor.bar.value == 1.0 and len(ex.monitor.epochs) == 1
    halved = ex.apply("halve")
    assert halved.sparsity == pytest.approx(0.5, abs=0.01) and len(ex.history()) == 2
    assert list(ex.history()["action"].fillna("")) == ["", "halve"]
    ex.reset()
    assert len(ex.history()) == 0 and runs == [16]


def test_stable_plain_text_for_notebooks(explorer):
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == "Explorer panel — run this cell to open it" == wb.explorer.PLACEHOLDER
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_bad_explorer_arguments(ds):
    base = wb.get_baseline("lenet5")
    with pytest.raises(ValueError, match="compress must be a function"):
        wb.Explorer(None, {"a": wb.Slider(0.0, 1.0, 0.1)}, baseline=base, data=ds)
    with pytest.raises(ValueError, match="controls must name at least one control"):
        wb.Explorer(lambda m: m, {}, baseline=base, data=ds)
    with pytest.raises(ValueError, match="unknown latency 'always'"):
        wb.Explorer(lambda m, a: m, {"a": wb.Slider(0.0, 1.0, 0.1)}, baseline=base, data=ds, latency="always")
    with pytest.raises(ValueError, match="unknown control 'b'; x must be one of: a"):
        wb.Explorer(lambda m, a: m, {"a": wb.Slider(0.0, 1.0, 0.1)}, baseline=base, data=ds, x="b")


def test_slider_specs_validate():
    with pytest.raises(ValueError, match=r"high must be in \(1, inf\], got 0"):
        wb.Slider(1.0, 0.0, 0.1)
    with pytest.raises(ValueError, match="value must be one of options"):
        wb.Slider(options=[1, 2], value=3)
    assert type(wb.Slider(1, 8, 1).build("bits")).__name__ == "IntSlider"
    assert type(wb.Slider(options=[1, 2, 32]).build("bits")).__name__ == "SelectionSlider"


def test_pareto_front():
    assert pareto_front([(1, 90), (2, 95), (3, 94), (0.5, 80)]) == [(0.5, 80), (1, 90), (2, 95)]
    assert pareto_front([]) == []


# ---------------------------------------------------------------- timings that read as a trend
def _lat(ms, batch=1, spread=0.1):
    return Latency(ms, ms - spread, ms + spread, 5, batch, 1, "cpu")


def test_quick_timing_uses_one_thread_and_restores_the_setting(ds):
    before = torch.get_num_threads()
    ex = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.5)},
                     baseline=wb.get_baseline("lenet5"), data=ds, budget_s=0.01, batch_size=2)
    lat = ex.current.latency[2]
    assert lat.threads == 1 and lat.method == "min of block medians" and lat.runs >= 5
    assert lat.q1_ms <= lat.median_ms <= lat.q3_ms and torch.get_num_threads() == before
    assert len(ex._base_timings[2]) >= 2          # the baseline also timed alone, once, when the panel opens
    ex2 = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.5)},
                      baseline=wb.get_baseline("lenet5"), data=ds, budget_s=0.01, threads=None)
    assert ex2.current.latency[32].threads == before
    with pytest.raises(ValueError, match="threads"):
        wb.Explorer(lambda m, a: m, {"a": wb.Slider(0.0, 1.0, 0.5)}, baseline=wb.get_baseline("lenet5"),
                    data=ds, threads=0)


def test_the_baseline_figure_is_the_median_of_its_timings_and_stays_put(ds, monkeypatch):
    ex = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.25)},
                     baseline=wb.get_baseline("lenet5"), data=ds, latency="off", batch_size=1)
    ex.latency_mode = "quick"
    base_ms = iter([1.0, 9.0, 1.05, 1.1, 1.2])                # one timing hit by a burst of load (re-timed)
    monkeypatch.setattr(ex, "_time", lambda model, params, full, budget_s=None: (_lat(0.5), _lat(next(base_ms))))
    shown = []
    for v in (0.25, 0.5, 0.75, 1.0):
        ex.controls["amount"].value = v
        shown.append(ex.baseline_latency(1).median_ms)
    assert shown == [1.0, 1.05, 1.05, 1.1]                    # never 9.0
    assert ex.load_factor(ex._points[ex._key({"amount": 0.5})]) == pytest.approx(9.0 / 1.1)
    assert list(ex.figure.data[2].y)[0] == 1.1                 # the dashed baseline line
    assert len(ex.figure.data[10].x) == 4                      # its spread band
    ex.controls["amount"].value = 0.5                          # the disturbed point says so
    assert "Other load slowed this timing" in ex.table.value


def test_latency_plot_and_table_show_the_spread(ds):
    ex = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.5)},
                     baseline=wb.get_baseline("lenet5"), data=ds, budget_s=0.01, batch_size=2)
    ex.controls["amount"].value = 0.5
    first = ex._series[()]
    bars = ex.figure.data[first + 2].error_y
    lat = ex.current.latency[2]
    assert bars.array[-1] == pytest.approx(lat.q3_ms - lat.median_ms)
    assert bars.arrayminus[-1] == pytest.approx(lat.median_ms - lat.q1_ms)
    assert "spread b2" in ex.table.value and f"{lat.q1_ms:.3f}–{lat.q3_ms:.3f} ms" in ex.table.value
    assert "lowest of 3 block medians" in ex.table.value


def test_a_larger_batch_faster_than_a_smaller_one_is_retimed(ds, monkeypatch):
    ex = wb.Explorer(lambda model, name: model, {"batch_size": wb.Slider(options=[1, 8, 32]),
                                                 "name": wb.Dropdown(["a"])},
                     baseline=wb.get_baseline("lenet5"), data=ds, latency="off")
    ex.latency_mode = "quick"
    calls = []
    timings = {1: [100.0, 0.4], 8: [0.9, 0.3], 32: [10.0]}      # batch 1 first hit by a burst of load

    def fake_time(model, params, full, budget_s=None):
        b = params["batch_size"]
        calls.append((b, budget_s))
        ms = timings[b][sum(c[0] == b for c in calls) - 1]
        return _lat(ms, b), _lat(ms, b)

    monkeypatch.setattr(ex, "_time", fake_time)
    ex.reset()                                                 # batch 1: 100 ms
    ex.controls["batch_size"].value = 32                       # 10 ms: the batch-1 point is re-timed
    assert calls == [(1, None), (32, None), (1, 2 * ex.budget_s)]
    assert ex.history().set_index("batch_size")["latency_ms"].to_dict() == {1: 0.4, 32: 10.0}
    ex.controls["batch_size"].value = 8                        # 0.9 ms > 0.4 ms at batch 1: consistent
    assert len(calls) == 4


def test_empty_plots_say_what_to_press(ds):
    spec = {"amount": wb.Slider(0.0, 1.0, 0.5)}
    base = wb.get_baseline("lenet5")

    def hints(ex):
        return {a.name: (a.text if a.visible else None) for a in ex.figure.layout.annotations if a.name}

    button = wb.Explorer(lambda model, amount: model, spec, baseline=base, data=ds, latency="button")
    assert "measure latency" in hints(button)["hint latency"] and hints(button)["hint accuracy"] is None
    button.measure_latency()
    assert hints(button)["hint latency"] is None
    off = wb.Explorer(lambda model, amount: model, spec, baseline=base, data=ds, latency="off")
    assert "not timed" in hints(off)["hint latency"]
    run = wb.Explorer(lambda model, amount: model, spec, baseline=base, data=ds, run="button", latency="off")
    assert "press <b>run</b>" in hints(run)["hint accuracy"]
    run.update()
    assert hints(run)["hint accuracy"] is None


def test_controls_and_table_wrap_instead_of_overlapping(explorer):
    row = explorer.panel.children[0]
    assert row.layout.flex_flow == "row wrap" and row.children == (explorer.controls_box, explorer.table)
    buttons = explorer.controls_box.children[-1]
    assert buttons.layout.flex_flow == "row wrap" and all(b.layout.width == "auto" for b in buttons.children)


def test_public_names_stay_importable():
    from workbench import explorer

    for name in ("Explorer", "pareto_front", "model_explorer", "LATENCY_MODES", "RUN_MODES", "MEASURE_PARAMS"):
        assert hasattr(explorer, name)
    assert wb.explorer.model_explorer is wb.model_explorer.model_explorer


def test_model_explorer_times_every_batch_size_it_shows(ds):
    ex = wb.explorer.model_explorer(ds, ["lenet300", "lenet5"], budget_s=0.01)
    for b in (1, 4, 32):
        ex.controls["batch_size"].value = b
    assert set(ex.history()["batch_size"]) == {1, 4, 32} and not ex.errors
    assert list(ex.figure.data[2].x) == [1, 4, 32]            # the baseline line follows the batch axis


def test_a_timing_hit_by_load_is_retimed_once(ds, monkeypatch):
    ex = wb.Explorer(lambda model, amount: model, {"amount": wb.Slider(0.0, 1.0, 0.25)},
                     baseline=wb.get_baseline("lenet5"), data=ds, latency="off", batch_size=1)
    ex.latency_mode = "quick"
    runs = iter([(0.5, 1.0), (0.5, 1.0), (0.5, 1.1), (9.0, 8.0), (0.6, 1.0)])   # 4th: the whole run was hit
    budgets = []

    def fake_time(model, params, full, budget_s=None):
        budgets.append(budget_s)
        m, b = next(runs)
        return _lat(m), _lat(b)

    monkeypatch.setattr(ex, "_time", fake_time)
    for v in (0.25, 0.5, 0.75):
        ex.controls["amount"].value = v
    assert budgets == [None] * 3
    ex.controls["amount"].value = 1.0
    assert budgets[3:] == [None, 2 * ex.budget_s] and ex.current.latency[1].median_ms == 0.6
