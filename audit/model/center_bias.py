"""A weight-free centre-prior saliency model: one Gaussian bump over the grid for every image.

Useful as a baseline (a cropper that ignores content cannot be biased by it) and as a test double.
"""

from __future__ import annotations

import math

import torch

from audit.model.base import CELL, SaliencyModel, grid_shape

_MSG_SIGMA = "model.sigma must be a finite number > 0 (fraction of the image side), got {sigma!r}"


class CenterBias(SaliencyModel):
    """Gaussian centre prior: ``exp(-(u^2 + v^2) / (2 sigma^2))`` at each cell centre.

    ``u`` and ``v`` are the cell centre's offsets from the image centre divided by the resized
    width and height, so ``sigma`` is a fraction of each side and the bump follows the image's
    aspect ratio.

    Parameters
    ----------
    sigma : float
        Standard deviation as a fraction of the image side.
    device : {"auto", "cpu", "cuda"}
        Where the tensors live.
    batch_size : int
        Images per batch.
    """

    name = "center_bias"

    def __init__(self, *, sigma: float = 0.25, device: str = "auto", batch_size: int = 16) -> None:
        super().__init__(device=device, batch_size=batch_size)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(_MSG_SIGMA.format(sigma=sigma))
        self.sigma = float(sigma)

    def describe(self) -> dict[str, object]:
        """Manifest entry, with ``sigma``."""
        return {**super().describe(), "sigma": self.sigma}

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Score a ``(B, 3, rh, rw)`` batch; the content is ignored.

        Returns
        -------
        torch.Tensor, shape (B, rows, cols)
            The prior at each cell centre (``min(16c + 8, side - 1)`` in resized pixels), 1 at
            the image centre.
        """
        b, _, rh, rw = batch.shape
        rows, cols = grid_shape((rw, rh))
        kw = {"device": batch.device, "dtype": torch.float32}
        xs = torch.clamp(torch.arange(cols, **kw) * CELL + CELL // 2, max=rw - 1)
        ys = torch.clamp(torch.arange(rows, **kw) * CELL + CELL // 2, max=rh - 1)
        # Pixel centres run 0.5 .. side - 0.5, so the image centre is side / 2 - 0.5.
        u = (xs - (rw - 1) / 2) / rw
        v = (ys - (rh - 1) / 2) / rh
        prior = torch.exp(-(v[:, None] ** 2 + u[None, :] ** 2) / (2 * self.sigma**2))
        return prior.expand(b, rows, cols).clone()
