"""The workbench on models the notebooks never use: torchvision networks and plain MLPs.

Untrained (``weights=None``: nothing is downloaded); each technique either works on
them or refuses them with one sentence that says what to do instead.
"""

import pytest
import torch
import torchvision
from torch import nn

import workbench as wb
from workbench.quantization.real import to_int8

MLPS = {
    "linear-only": lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 30), nn.Linear(30, 10)),
    "linear-tanh": lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 30), nn.Tanh(), nn.Linear(30, 10)),
    "linear-bn1d-relu": lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 30), nn.BatchNorm1d(30), nn.ReLU(),
                                              nn.Linear(30, 10)),
}


@pytest.mark.parametrize("name", MLPS)
def test_int8_on_mlps_with_nothing_to_fuse(name):
    torch.manual_seed(0)
    model = MLPS[name]().eval()
    X = torch.randn(64, 20)
    q = to_int8(model, X)
    with torch.no_grad():
        ref, out = model(X), q(X)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()           # int8: close, not equal


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_int8_eager_refuses_residual_adds_and_names_the_way_out(arch):
    model = getattr(torchvision.models, arch)(weights=None).eval()
    with pytest.raises(ValueError, match=r"backend='eager' cannot run this model in int8.*backend='pt2e'"):
        to_int8(model, torch.randn(2, 3, 32, 32))


def test_input_that_does_not_fit_is_named():
    with pytest.raises(ValueError, match=r"calibration_X \(3, 28, 28\) does not fit this model, which takes "
                                         r"examples of shape \(1, 28, 28\)"):
        to_int8(wb.build("lenet5"), torch.randn(4, 3, 28, 28))
    with pytest.raises(ValueError, match=r"input_shape \(1, 8, 8\) does not fit"):
        wb.count_macs(wb.build("lenet5"), (1, 8, 8))
    with pytest.raises(ValueError, match="input_shape must be the shape of one example"):
        wb.count_macs(wb.build("lenet5"), None)
    with pytest.raises(ValueError, match="calibration_X holds nan or inf"):
        to_int8(wb.build("lenet5"), torch.full((2, 1, 28, 28), float("nan")))


def test_unshared_modules_compute_the_same_and_each_call_has_its_own_module():
    from workbench.quantization.real import _unshare_modules

    model = torchvision.models.resnet18(weights=None).eval()
    gm = _unshare_modules(model)
    targets = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert len(targets) == len(set(targets))              # BasicBlock's one ReLU, called twice, is now two
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(gm(x), model(x))
    mlp = MLPS["linear-tanh"]()
    assert _unshare_modules(mlp) is mlp                   # nothing shared: the model itself


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_int8_pt2e_on_torchvision_models(arch):
    """PT2E's x86 quantizer refused ResNet-18 ("Input partition has more than one output node")."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    X = torch.randn(4, 3, 32, 32)
    q = to_int8(model, X, backend="pt2e", batch_size=4)
    with torch.no_grad():
        ref, out = model(X), q(X)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    scale = ref.abs().max()
    assert (out - ref).abs().max() <= 0.1 * scale + 1e-6   # int8: close, not equal


ENCODED = [(arch, enc) for arch in ("resnet18", "mobilenet_v2") for enc in ("fp32", "fp16", "csr", "int8")]
ENCODED += [pytest.param("resnet18", enc, marks=pytest.mark.slow) for enc in ("codebook", "huffman")]


@pytest.mark.parametrize("arch,encoding", ENCODED)
def test_every_encoding_round_trips_torchvision_models(arch, encoding):
    model = getattr(torchvision.models, arch)(weights=None).eval()
    blob = wb.encode(model, encoding, bits=4)
    back = wb.encodings.decoded_model(model, blob).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref, out = model(x), back(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert wb.encodings.is_lossless(blob) == (encoding in ("fp32", "csr"))
    if wb.encodings.is_lossless(blob):
        assert torch.equal(out, ref)


def test_labels_of_any_integer_width_work_and_bad_labels_are_named(ds):
    import dataclasses

    from workbench.distillation.losses import kd_loss

    z, v = torch.randn(4, 10), torch.randn(4, 10)
    y = torch.tensor([1, 2, 3, 4])
    assert torch.equal(kd_loss(z, v, y.int()), kd_loss(z, v, y)) and torch.equal(kd_loss(z, v, y.short()),
                                                                                   kd_loss(z, v, y))
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 9\], got 10"):
        kd_loss(z, v, torch.tensor([1, 2, 3, 10]))
    with pytest.raises(ValueError, match="y must hold integer class indices, got dtype float32"):
        kd_loss(z, v, y.float())
    small = dataclasses.replace(ds, X_train=ds.X_train[:64], y_train=ds.y_train[:64].int(), y_val=ds.y_val.int())
    history = wb.train(wb.build("lenet300"), small, num_epochs=1, progress=False)      # int32 labels: widened
    assert len(history.records) == 1 and 0.0 <= history.final["val_acc"] <= 1.0
    broken = dataclasses.replace(small, y_train=small.y_train.long() + 10)
    with pytest.raises(ValueError, match=r"data.y_train must hold class indices in \[0, 9\]"):
        wb.train(wb.build("lenet300"), broken, num_epochs=1, progress=False)
    assert wb.evaluate(wb.build("lenet300"), ds.X_test[:8], ds.y_test[:8].to(torch.int16)) >= 0.0


# ---------------------------------------------------------------- structured pruning on any model
@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v2"])
def test_structured_pruning_on_torchvision_models_keeps_a_floor_per_layer(arch):
    from workbench import pruning as pr
    from workbench.pruning.structured import MAX_LAYER_AMOUNT, channel_keep

    model = getattr(torchvision.models, arch)(weights=None).eval()
    with pytest.raises(ValueError, match="input_shape must be given, the shape"):
        pr.channel_scores(model, "l1")
    scores = pr.channel_scores(model, "l1", input_shape=(3, 32, 32))
    keep = channel_keep(scores, 0.5, "global")
    assert min(k.float().mean().item() for k in keep.values()) >= 1 - MAX_LAYER_AMOUNT - 1e-9
    before = wb.count_params(model)
    pr.remove_channels(model, keep, input_shape=(3, 32, 32))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1000)
    assert wb.count_params(model) < before


def test_grouped_convolutions_are_refused_before_anything_is_touched():
    from workbench import pruning as pr

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1, groups=4),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"layer '2' is a grouped convolution \(groups=4"):
        pr.channel_scores(model, "l1", input_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="grouped convolution"):
        pr.remove_channels(model, {"0": torch.ones(16, dtype=torch.bool)}, input_shape=(3, 8, 8))
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_a_failure_mid_surgery_leaves_the_model_whole(monkeypatch):
    from workbench import pruning as pr
    from workbench.pruning import structured

    model = wb.build("vgg")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    keep = structured.channel_keep(pr.channel_scores(model, "l1"), 0.5)
    calls = {"n": 0}
    real = structured.prune_in_channels

    def fail_on_second(*args, **kwargs):                  # the first layer is already cut when this raises
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("forced failure mid-way")
        return real(*args, **kwargs)

    monkeypatch.setattr(structured, "prune_in_channels", fail_on_second)
    with pytest.raises(RuntimeError, match="forced failure"):
        pr.remove_channels(model, keep)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_nan_scales_and_masks_that_are_not_zero_or_one_are_refused():
    from workbench.pruning.masks import apply_masks
    from workbench.quantization import affine

    x = torch.tensor([0.1, 0.2])
    for scale in (float("nan"), float("inf"), 0.0, -1.0):
        with pytest.raises(ValueError, match="scale must be > 0 and finite"):
            affine.quantize(x, torch.tensor(scale), torch.tensor(0))
    with pytest.raises(ValueError, match="zero_point must be finite"):
        affine.quantize(x, torch.tensor(0.1), torch.tensor(float("nan")))
    with pytest.raises(ValueError, match="x holds nan or inf"):
        affine.quantize(torch.tensor([float("nan")]), torch.tensor(0.1), torch.tensor(0))
    with pytest.raises(ValueError, match="lo and hi must be finite"):
        affine.qparams(torch.tensor(float("-inf")), torch.tensor(1.0))
    model = wb.build("lenet300")
    w = model.classifier[1].weight
    for bad in (0.5, 2.0, float("nan")):
        with pytest.raises(ValueError, match="must hold only 0 and 1"):
            apply_masks(model, {"classifier.1.weight": torch.full_like(w, bad)})
    apply_masks(model, {"classifier.1.weight": torch.ones_like(w)})          # 0/1 floats are fine
