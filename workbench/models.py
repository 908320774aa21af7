"""The models the seed papers use, sized for a CPU, built by name.

Every model records the arguments that rebuild it in ``model.config`` (a dict), so a
model whose layers were physically pruned can be saved and rebuilt from its new
channel counts::

    >>> model = build("lenet5")
    >>> model.config["channels"], sum(p.numel() for p in model.parameters())
    ((6, 16), 61706)
    >>> build(**model.config).config == model.config
    True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._checks import check_choice, check_int, check_number, checked


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: how to build a model and where it comes from."""

    build: Callable[..., nn.Module]
    summary: str
    paper: str


def _scale(channels: Sequence[int], width: float) -> tuple[int, ...]:
    return tuple(max(1, round(c * width)) for c in channels)


class LeNet300(nn.Module):
    """LeNet-300-100: a 784-300-100-10 multilayer perceptron.

    The fully connected network Han et al. (2015) prune to 8% of its weights.
    """

    def __init__(self, in_features: int = 784, hidden: Sequence[int] = (300, 100), num_classes: int = 10):
        super().__init__()
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], num_classes))
        self.classifier = nn.Sequential(*layers)
        self.config = dict(name="lenet300", in_features=in_features, hidden=tuple(hidden),
                           num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return self.classifier(x)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998): two 5x5 conv layers with pooling, three FC layers."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, channels: Sequence[int] = (6, 16),
                 hidden: Sequence[int] = (120, 84), num_classes: int = 10):
        super().__init__()
        if image_size < 16:
            raise ValueError(f"image_size must be at least 16 for lenet5 (two 5x5 convs, two poolings), "
                             f"got {image_size}")
        c1, c2 = channels
        # padding 2 keeps LeNet's 32x32 geometry for 28x28 digits
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        side = (image_size // 2 - 4) // 2
        h1, h2 = hidden
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * side * side, h1), nn.ReLU(),
            nn.Linear(h1, h2), nn.ReLU(), nn.Linear(h2, num_classes),
        )
        self.config = dict(name="lenet5", in_channels=in_channels, image_size=image_size,
                           channels=tuple(channels), hidden=tuple(hidden), num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def conv_bn_relu(c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    """Conv (no bias: the BN shift replaces it) + BatchNorm + ReLU, the unit of every CNN here."""
    return [nn.Conv2d(c_in, c_out, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU()]


class SmallVGG(nn.Module):
    """A VGG-style plain CNN: 3x3 conv-BN-ReLU stacks with max pooling, then a linear classifier.

    The plain chain Li et al. (2016) prune filter by filter; each conv feeds the next
    directly, so removing a filter removes one input channel of the next layer.
    ``channels`` gives each conv's filters; a max-pool follows the convs listed in ``pool_after``.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, channels: Sequence[int] = (32, 64, 128),
                 pool_after: Sequence[int] = (0, 1, 2), num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(channels):
            layers += conv_bn_relu(c_in, c_out)
            if i in pool_after:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in, num_classes))
        self.config = dict(name="vgg", in_channels=in_channels, image_size=image_size,
                           channels=tuple(channels), pool_after=tuple(pool_after), num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs and a shortcut added before the last ReLU.

    The addition couples the block's output channels with its input (or with the 1x1
    shortcut conv): pruning a filter here means pruning it in both branches.
    """

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet-8 (He et al. 2016): a stem conv and three stages of one basic block each.

    ``channels`` = (stem, stage 1, stage 2, stage 3); ``mid`` optionally gives each
    block's inner width (it differs from the output once the inner conv is pruned).
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, channels: Sequence[int] = (16, 16, 32, 64),
                 mid: Sequence[int] | None = None, num_classes: int = 10):
        super().__init__()
        stem, *stages = channels
        mid = tuple(mid) if mid is not None else tuple(stages)
        self.stem = nn.Sequential(*conv_bn_relu(in_channels, stem))
        blocks, c_in = [], stem
        for c_mid, c_out in zip(mid, stages):
            blocks.append(BasicBlock(c_in, c_mid, c_out, stride=2))  # 28 -> 14 -> 7 -> 4
            c_in = c_out
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in, num_classes))
        self.config = dict(name="resnet", in_channels=in_channels, image_size=image_size,
                           channels=tuple(channels), mid=mid, num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.layers(self.stem(x))))


class SmallMobileNet(nn.Module):
    """A MobileNet-style net (Howard et al. 2017): depthwise 3x3 + pointwise 1x1 blocks.

    ``channels`` = (stem, block outputs...); ``strides`` gives each block's stride.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28,
                 channels: Sequence[int] = (16, 32, 64, 64, 128, 128),
                 strides: Sequence[int] = (2, 2, 1, 2, 1), num_classes: int = 10):
        super().__init__()
        stem, *outs = channels
        if len(strides) != len(outs):
            raise ValueError(f"strides must have one entry per block ({len(outs)}), got {len(strides)}")
        layers = conv_bn_relu(in_channels, stem)
        c_in = stem
        for c_out, s in zip(outs, strides):
            layers += conv_bn_relu(c_in, c_in, 3, s, groups=c_in)  # depthwise: one filter per channel
            layers += conv_bn_relu(c_in, c_out, 1)                 # pointwise: mixes channels
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in, num_classes))
        self.config = dict(name="mobilenet", in_channels=in_channels, image_size=image_size,
                           channels=tuple(channels), strides=tuple(strides), num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)))


MODELS: dict[str, ModelInfo] = {
    "lenet300": ModelInfo(LeNet300, "LeNet-300-100 MLP", "LeCun et al. 1998; Han et al. 2015"),
    "lenet5": ModelInfo(LeNet5, "LeNet-5 CNN", "LeCun et al. 1998"),
    "vgg": ModelInfo(SmallVGG, "VGG-style plain CNN with BatchNorm", "Simonyan & Zisserman 2015; Li et al. 2016"),
    "resnet": ModelInfo(SmallResNet, "ResNet-8 with residual connections", "He et al. 2016"),
    "mobilenet": ModelInfo(SmallMobileNet, "MobileNet-style depthwise-separable CNN", "Howard et al. 2017"),
}

_DEFAULT_CHANNELS = {"lenet300": "hidden", "lenet5": "channels", "vgg": "channels",
                     "resnet": "channels", "mobilenet": "channels"}


@checked
def build(name: str, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, *,
          width: float = 1.0, seed: int | None = 0, **config) -> nn.Module:
    """Build a model by name for inputs of ``input_shape`` = (C, H, W).

    ``width`` multiplies every layer's channel count (MobileNet's width multiplier);
    ``seed`` fixes the initial weights; other keyword arguments go to the model class
    (they are what ``model.config`` records, so ``build(**model.config)`` rebuilds it).

    >>> build("vgg", width=0.5).config["channels"]
    (16, 32, 64)
    """
    check_choice("name", name, MODELS, what="model")
    if not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) != 3:
        shown = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else repr(input_shape)
        raise ValueError(f"input_shape must be (C, H, W), got {shown}")
    check_number("width", width, 0.0, 8.0, low_inclusive=False)
    check_int("num_classes", num_classes, 2)
    c, h, w = (check_int("input_shape", int(s), 1) for s in input_shape)
    cls = MODELS[name].build
    if name == "lenet300":
        config.setdefault("in_features", c * h * w)
    else:
        if h != w:
            raise ValueError(f"input_shape must be square for {name}, got {h}x{w}")
        config.setdefault("in_channels", c)
        config.setdefault("image_size", h)
    if width != 1.0:
        key = _DEFAULT_CHANNELS[name]
        default = inspect.signature(cls).parameters[key].default
        config[key] = _scale(config.get(key, default), width)
        if name == "resnet" and "mid" in config and config["mid"] is not None:
            config["mid"] = _scale(config["mid"], width)
    if seed is not None:
        torch.manual_seed(seed)
    return cls(num_classes=num_classes, **config)


def torchvision_model(name: str = "resnet18", *, num_classes: int = 1000, pretrained: bool = False) -> nn.Module:
    """A torchvision reference architecture, for comparing size, MACs and latency.

    Untrained unless ``pretrained=True``, which downloads ImageNet weights when online
    and otherwise says so in one line and returns the untrained model.

    >>> sum(p.numel() for p in torchvision_model("resnet18").parameters())
    11689512
    """
    import torchvision.models as tvm

    check_choice("name", name, tvm.list_models(module=tvm), what="torchvision model")
    if not pretrained:
        return tvm.get_model(name, weights=None, num_classes=num_classes)
    try:
        return tvm.get_model(name, weights="DEFAULT")
    except (OSError, RuntimeError) as err:
        print(f"pretrained weights for {name} could not be downloaded ({type(err).__name__}); "
              "using random weights: size, MACs and latency are unaffected.")
        return tvm.get_model(name, weights=None, num_classes=num_classes)
