import pytest
import torch

import workbench as wb
from workbench import baselines, checkpoint


@pytest.mark.parametrize("name", list(wb.MODELS))
def test_committed_baseline_loads_and_reproduces_its_recorded_accuracy(ds, name):
    path = baselines.baseline_path(name)
    assert path.exists(), f"{path} should be committed"
    model = wb.get_baseline(name)
    recorded = wb.baseline_info(name)["test_accuracy"]
    assert round(wb.evaluate(model, ds.X_test, ds.y_test), 4) == recorded
    assert recorded > 0.94


def test_each_call_returns_an_independent_copy():
    a, b = wb.get_baseline("lenet5"), wb.get_baseline("lenet5")
    with torch.no_grad():
        a.features[0].weight.zero_()
    assert b.features[0].weight.abs().sum() > 0


def test_missing_baseline_is_trained_on_demand_and_saved(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(baselines.RECIPES, "lenet300", baselines.Recipe(num_epochs=1))
    monkeypatch.setattr(baselines, "_memory", {})
    model = wb.get_baseline("lenet300", "digits8x8", progress=False)
    assert "training it now" in capsys.readouterr().out
    path = tmp_path / "baselines" / "digits8x8" / "lenet300.safetensors"
    assert path.exists() and checkpoint.read_metadata(path)["dataset"] == "digits8x8"
    assert model.config["in_features"] == 64


def test_corrupt_baseline_is_reported_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(baselines, "_memory", {})
    path = baselines.baseline_path("lenet5")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(checkpoint.ChecksumError):
        wb.get_baseline("lenet5")
    assert path.read_bytes().startswith(b"\x08")


def test_bad_names():
    with pytest.raises(ValueError, match="unknown model 'resnet50'"):
        wb.get_baseline("resnet50")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        wb.get_baseline("lenet5", "svhn")
