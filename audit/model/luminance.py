"""A weight-free test double: saliency is the mean brightness of each 16-px grid cell.

Deterministic and content-driven, so tests know the winner without model weights (the brightest
region wins).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from audit.model.base import CELL, SaliencyModel
from audit.model.preprocess import CHANNEL_MEANS


def restore_pixels(batch: torch.Tensor) -> torch.Tensor:
    """Add the channel means back: the ``0..255`` RGB values of a mean-subtracted batch.

    Parameters
    ----------
    batch : torch.Tensor, shape (B, 3, H, W)
        Output of :func:`audit.model.preprocess.to_tensor`.

    Returns
    -------
    torch.Tensor, shape (B, 3, H, W)
        float32 RGB in ``0..255``.
    """
    means = torch.tensor(CHANNEL_MEANS, dtype=torch.float32, device=batch.device)
    return batch.float() + means.view(1, 3, 1, 1)


def pool_to_grid(maps: torch.Tensor) -> torch.Tensor:
    """Average ``(B, H, W)`` maps over 16x16 cells; partial edge cells average what they hold.

    Ceil mode gives ``ceil(side / 16)`` cells, which equals the network's four ceil-halvings.
    """
    return F.avg_pool2d(maps[:, None], kernel_size=CELL, stride=CELL, ceil_mode=True)[:, 0]


class Luminance(SaliencyModel):
    """Mean brightness (average of R, G, B, ``0..255``) of each grid cell.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        Where the tensors live.
    batch_size : int
        Images per batch.
    """

    name = "luminance"

    def __init__(self, *, device: str = "auto", batch_size: int = 16) -> None:
        super().__init__(device=device, batch_size=batch_size)

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Score a ``(B, 3, rh, rw)`` mean-subtracted batch.

        Returns
        -------
        torch.Tensor, shape (B, rows, cols)
            Mean brightness per cell.
        """
        return pool_to_grid(restore_pixels(batch).mean(dim=1))
