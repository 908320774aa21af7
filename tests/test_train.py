import pytest
import torch
import torch.nn.functional as F

import workbench as wb
from helpers import Mask
from workbench.widgets import TrainingMonitor


def _small():
    return wb.build("lenet300", hidden=(32,), seed=0)


def test_same_call_same_numbers(ds):
    h1 = wb.train(_small(), ds, num_epochs=2, progress=False)
    h2 = wb.train(_small(), ds, num_epochs=2, progress=False)
    assert [r["loss"] for r in h1.records] == [r["loss"] for r in h2.records]
    assert [r["val_acc"] for r in h1.records] == [r["val_acc"] for r in h2.records]


def test_training_learns(ds):
    model = _small()
    before = wb.evaluate(model, ds.X_val, ds.y_val)
    history = wb.train(model, ds, num_epochs=2, progress=False)
    assert history.records[1]["loss"] < history.records[0]["loss"]
    assert history.final["val_acc"] > before + 0.5
    assert not model.training


def test_evaluate_matches_argmax_reference(ds):
    model = wb.get_baseline("lenet5")
    with torch.no_grad():
        reference = (model(ds.X_test).argmax(1) == ds.y_test).float().mean().item()
    assert wb.evaluate(model, ds.X_test, ds.y_test, batch_size=128) == pytest.approx(reference)


def test_predict_restores_training_mode(ds):
    model = _small().train()
    wb.predict(model, ds.X_val[:10])
    assert model.training


def test_custom_loss_penalty_and_step_hook(ds):
    calls = {"loss": 0, "step": 0}

    def loss_fn(logits, y, X):
        calls["loss"] += 1
        assert X.shape[1:] == ds.input_shape
        return F.cross_entropy(logits, y)

    def on_step(model, step):
        calls["step"] = step

    model = _small()
    wb.train(model, ds, num_epochs=1, batch_size=500, loss_fn=loss_fn, on_step=on_step,
             penalty=lambda m: 1e-4 * sum(p.abs().sum() for p in m.parameters()), progress=False)
    assert calls == {"loss": 7, "step": 7}          # 3,500 examples / 500


def test_cosine_schedule_ends_near_zero(ds):
    model = _small()
    seen = []
    wb.train(model, ds, num_epochs=1, batch_size=500, schedule="cosine", progress=False,
             on_step=lambda m, s: seen.append(s))
    assert len(seen) == 7


def test_monitor_receives_steps_and_epochs(ds):
    monitor = TrainingMonitor("test")
    wb.train(_small(), ds, num_epochs=2, batch_size=700, monitor=monitor)
    assert monitor.done == 10 and len(monitor.epochs) == 2 and monitor.bar.value == 1.0
    assert list(monitor.figure.data[0].x) == [1, 2]


def test_parametrized_mask_survives_fine_tuning(ds):
    from torch.nn.utils import parametrize

    model = wb.get_baseline("lenet300")
    layer = model.classifier[1]
    mask = (torch.rand_like(layer.weight) > 0.9).float()
    parametrize.register_parametrization(layer, "weight", Mask(mask))
    wb.fine_tune(model, ds, num_epochs=1, progress=False)
    assert torch.equal(layer.weight == 0, mask == 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_epochs": -1}, r"num_epochs must be in \[0, inf\], got -1"),
    ({"lr": 0}, r"lr must be in \(0, 10\], got 0"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'; optimizer must be one of: adam, sgd"),
    ({"schedule": "step"}, "unknown schedule 'step'"),
    ({"batch_size": 0}, r"batch_size must be in \[1, inf\], got 0"),
])
def test_bad_training_arguments(ds, kwargs, message):
    with pytest.raises(ValueError, match=message):
        wb.train(_small(), ds, progress=False, **kwargs)


def test_evaluate_bad_inputs(ds):
    with pytest.raises(ValueError, match="X and y must have the same length, got 3 and 2"):
        wb.evaluate(_small(), ds.X_val[:3], ds.y_val[:2])
    with pytest.raises(ValueError, match="X must hold at least one example"):
        wb.evaluate(_small(), ds.X_val[:0], ds.y_val[:0])


def test_device_choice():
    assert wb.get_device("cpu").type == "cpu"
    assert wb.get_device().type in {"cpu", "cuda", "mps"}
