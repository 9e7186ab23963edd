"""The FastGaze saliency network (Twitter's ``fastgaze.vxm``) as a PyTorch model.

Built layer by layer from the parsed ``.vxm`` container (:mod:`audit.model.vxm`), as
section 2 of ../shared/docs/fastgaze.md describes: same-padded convolutions with ReLU or
leaky ReLU, 2x2 ceil-mode max pooling, and a trailing blur that the program never applies.
The raw output of the last layer is the score; nothing is normalised.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from audit.exceptions import ModelError, VxmFormatError, WeightsError
from audit.model.base import SaliencyModel
from audit.model.vxm import (
    BlurSpec,
    ConvSpec,
    LayerSpec,
    PoolSpec,
    file_sha256,
    parse_layers,
    read_vxm,
)

log = logging.getLogger(__name__)

_MSG_NO_WEIGHTS = ("FastGaze weights not found at {path}; resolve/download them first "
                   "(audit.model.weights) or set model.weights to the fastgaze.vxm path")
_MSG_BAD_WEIGHTS = "FastGaze weights at {path} are unusable: {err}"


class FastGazeNet(nn.Module):
    """The network of a ``.vxm`` file: convolutions, activations and pools in file order.

    Parameters
    ----------
    layers : sequence of LayerSpec
        From :func:`audit.model.vxm.parse_layers`. Blur layers are kept in ``self.blur``
        for the record but not applied, as in the program.
    """

    def __init__(self, layers: Sequence[LayerSpec]) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        self.blur: list[BlurSpec] = []
        for spec in layers:
            if isinstance(spec, ConvSpec):
                out_c, in_c, kh, kw = spec.weight.shape
                conv = nn.Conv2d(in_c, out_c, (kh, kw), stride=1, padding=(kh // 2, kw // 2))
                with torch.no_grad():
                    conv.weight.copy_(torch.from_numpy(spec.weight.copy()))
                    conv.bias.copy_(torch.from_numpy(spec.bias.copy()))
                modules.append(conv)
                if spec.activation == "relu":
                    modules.append(nn.ReLU())
                else:
                    modules.append(nn.LeakyReLU(negative_slope=spec.alpha))
            elif isinstance(spec, PoolSpec):
                modules.append(nn.MaxPool2d(spec.size, spec.size, ceil_mode=True))
            else:
                self.blur.append(spec)
        self.body = nn.Sequential(*modules)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 3, h, w)`` mean-subtracted RGB to ``(B, 1, rows, cols)`` scores."""
        return self.body(x)


class FastGaze(SaliencyModel):
    """Twitter's FastGaze model, loaded from a resolved ``fastgaze.vxm`` path.

    Parameters
    ----------
    weights : str or Path
        Path of the ``.vxm`` file (already resolved/downloaded; see ``audit.model.weights``).
    device : {"auto", "cpu", "cuda"}
        Where the network runs.
    batch_size : int
        Largest batch of equal-size images.
    channels_last : bool
        Use the channels-last memory format (faster on some GPUs).

    Raises
    ------
    audit.exceptions.WeightsError
        The file is missing.
    audit.exceptions.ModelError
        The file is not a valid FastGaze container.
    """

    name = "fastgaze"

    def __init__(self, *, weights: str | Path, device: str = "auto", batch_size: int = 16,
                 channels_last: bool = False) -> None:
        super().__init__(device=device, batch_size=batch_size)
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(_MSG_NO_WEIGHTS.format(path=path))
        try:
            layers = parse_layers(read_vxm(path))
        except VxmFormatError as exc:
            raise ModelError(_MSG_BAD_WEIGHTS.format(path=path, err=exc)) from exc
        self.weights_path = path
        self.weights_sha256 = file_sha256(path)
        self.channels_last = bool(channels_last)
        if self.device.type == "cuda":
            # TF32 convolutions (PyTorch's cuDNN default) round inputs to 10-bit mantissas,
            # enough to move scores by ~1e-2 and flip near-tie cells; keep full float32.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self.net = FastGazeNet(layers).to(self.device).eval()
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        log.info("FastGaze loaded from %s (sha256 %s) on %s", path, self.weights_sha256[:12],
                 self.device)

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Score a ``(B, 3, rh, rw)`` batch; returns ``(B, rows, cols)`` raw scores."""
        batch = batch.to(self.device, dtype=torch.float32)
        batch = batch.contiguous(memory_format=torch.channels_last if self.channels_last
                                 else torch.contiguous_format)
        with torch.inference_mode():
            return self.net(batch)[:, 0]

    def describe(self) -> dict[str, object]:
        """Manifest entry: base fields plus weights path and memory format."""
        info = super().describe()
        info.update(weights=str(self.weights_path), channels_last=self.channels_last)
        return info
