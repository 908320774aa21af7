import pytest
import torch

import workbench as wb
from workbench.models import MODELS


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_every_model_runs_on_every_dataset_shape(name, shape):
    if name == "lenet5" and shape[1] < 16:
        with pytest.raises(ValueError, match=r"image_size must be at least 16 for lenet5 .*got 8"):
            wb.build(name, shape)
        return
    model = wb.build(name, shape, num_classes=7)
    assert model(torch.randn(2, *shape)).shape == (2, 7)


def test_parameter_counts_match_the_papers():
    assert wb.count_params(wb.build("lenet300")) == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert wb.count_params(wb.build("lenet5")) == 61706          # LeCun et al. 1998's LeNet-5


@pytest.mark.parametrize("name", list(MODELS))
def test_config_rebuilds_the_same_architecture(name):
    model = wb.build(name, width=0.5)
    again = wb.build(**model.config)
    assert again.config == model.config
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]


def test_seed_fixes_initial_weights():
    a, b = wb.build("lenet5", seed=3), wb.build("lenet5", seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_width_multiplier_scales_channels():
    assert wb.build("vgg", width=0.5).config["channels"] == (16, 32, 64)
    assert wb.build("lenet300", width=2).config["hidden"] == (600, 200)


def test_resnet_blocks_have_projection_shortcuts():
    model = wb.build("resnet")
    assert all(isinstance(b.shortcut, torch.nn.Sequential) for b in model.layers)


def test_mobilenet_uses_depthwise_convolutions():
    convs = [m for m in wb.build("mobilenet").modules() if isinstance(m, torch.nn.Conv2d)]
    assert sum(c.groups == c.in_channels > 1 for c in convs) == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'alexnet'; name must be one of: lenet300, lenet5, vgg"):
        wb.build("alexnet")
    with pytest.raises(ValueError, match=r"width must be in \(0, 8\], got 0"):
        wb.build("vgg", width=0)
    with pytest.raises(ValueError, match=r"input_shape must be \(C, H, W\)"):
        wb.build("vgg", (28, 28))
    with pytest.raises(ValueError, match="input_shape must be square for vgg"):
        wb.build("vgg", (1, 28, 20))
    with pytest.raises(ValueError, match=r"strides must have one entry per block \(5\), got 2"):
        wb.build("mobilenet", strides=(1, 2))


def test_torchvision_reference_without_download():
    model = wb.models.torchvision_model("resnet18", num_classes=10)
    assert model.fc.out_features == 10
    with pytest.raises(ValueError, match="unknown torchvision model 'resnet19'"):
        wb.models.torchvision_model("resnet19")
