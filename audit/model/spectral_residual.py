"""A weight-free content model: Hou & Zhang's (2007) spectral-residual saliency on the 16-px grid.

The image is turned to grayscale and downscaled; saliency is the squared magnitude of the inverse
FFT of ``exp(log amplitude - its local average + i phase)``, blurred, brought back to the resized
size and averaged per grid cell. It needs no weights, so it is the fallback when FastGaze's are
unavailable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from audit.model.base import SaliencyModel
from audit.model.luminance import pool_to_grid, restore_pixels

#: ITU-R BT.601 luma weights for R, G, B.
_LUMA = (0.299, 0.587, 0.114)
#: Amplitude floor, relative to the mean amplitude, added before the log.
_AMP_FLOOR = 1e-3
_MSG_POSITIVE = "model.{key} must be {what}, got {value!r}"


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, 1, H, W)`` maps, edges replicated."""
    k = _gaussian_kernel(sigma, maps.device)
    r = k.numel() // 2
    out = F.pad(maps, (r, r, 0, 0), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1))
    out = F.pad(out, (0, 0, r, r), mode="replicate")
    return F.conv2d(out, k.view(1, 1, -1, 1))


class SpectralResidual(SaliencyModel):
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007), averaged over the 16-px grid.

    Parameters
    ----------
    scale : int
        Longer side of the downscaled grayscale image the FFT runs on (the paper uses 64).
    avg_size : int
        Side of the box filter that estimates the average log spectrum (odd; the paper uses 3).
    blur_sigma : float
        Gaussian blur of the saliency map, in downscaled pixels.
    device : {"auto", "cpu", "cuda"}
        Where the tensors live.
    batch_size : int
        Images per batch.

    Notes
    -----
    Each map is divided by its maximum, so scores lie in ``[0, 1]``; a flat image scores 0.
    """

    name = "spectral_residual"

    def __init__(
        self, *, scale: int = 64, avg_size: int = 3, blur_sigma: float = 2.5,
        device: str = "auto", batch_size: int = 16,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size)
        if not (isinstance(scale, int) and scale >= 8):
            raise ValueError(_MSG_POSITIVE.format(key="scale", what="an int >= 8", value=scale))
        if not (isinstance(avg_size, int) and avg_size >= 1 and avg_size % 2 == 1):
            raise ValueError(_MSG_POSITIVE.format(key="avg_size", what="an odd int >= 1",
                                                  value=avg_size))
        if not (isinstance(blur_sigma, (int, float)) and math.isfinite(blur_sigma)
                and blur_sigma > 0):
            raise ValueError(_MSG_POSITIVE.format(key="blur_sigma", what="a number > 0",
                                                  value=blur_sigma))
        self.scale, self.avg_size, self.blur_sigma = scale, avg_size, float(blur_sigma)

    def describe(self) -> dict[str, object]:
        """Manifest entry, with the method's parameters."""
        return {**super().describe(), "scale": self.scale, "avg_size": self.avg_size,
                "blur_sigma": self.blur_sigma}

    def saliency_maps(self, batch: torch.Tensor) -> torch.Tensor:
        """Full-resolution spectral-residual maps of a mean-subtracted batch.

        Parameters
        ----------
        batch : torch.Tensor, shape (B, 3, rh, rw)
            Output of :func:`audit.model.preprocess.to_tensor`.

        Returns
        -------
        torch.Tensor, shape (B, rh, rw)
            Saliency in ``[0, 1]`` per resized pixel.
        """
        _, _, rh, rw = batch.shape
        luma = torch.tensor(_LUMA, dtype=torch.float32, device=batch.device).view(1, 3, 1, 1)
        gray = (restore_pixels(batch) * luma).sum(dim=1, keepdim=True) / 255.0
        f = self.scale / max(rh, rw)
        small_size = (max(1, round(rh * f)), max(1, round(rw * f)))
        small = F.interpolate(gray, size=small_size, mode="area")

        spectrum = torch.fft.fft2(small)
        amp = spectrum.abs()
        # Synthetic images have exact spectral zeros; a floor relative to the spectrum keeps
        # their log from dominating the residual (without it a lone square is missed).
        log_amp = torch.log(amp + _AMP_FLOOR * amp.mean(dim=(2, 3), keepdim=True) + 1e-12)
        p = self.avg_size // 2
        # The spectrum is periodic, so its local average wraps around.
        local = F.avg_pool2d(F.pad(log_amp, (p, p, p, p), mode="circular"), self.avg_size, 1)
        residual = torch.exp(log_amp - local) * torch.exp(1j * torch.angle(spectrum))
        sal = torch.fft.ifft2(residual).abs() ** 2
        sal = _blur(sal.float(), self.blur_sigma)

        full = F.interpolate(sal, size=(rh, rw), mode="bilinear", align_corners=False)[:, 0]
        peak = full.amax(dim=(1, 2), keepdim=True)
        # A flat image has no residual; report zeros rather than amplified round-off.
        flat = gray.amax(dim=(1, 2, 3)) - gray.amin(dim=(1, 2, 3)) < 1e-6
        full = torch.where(peak > 0, full / peak.clamp_min(1e-30), torch.zeros_like(full))
        full[flat] = 0.0
        return full

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Score a ``(B, 3, rh, rw)`` batch.

        Returns
        -------
        torch.Tensor, shape (B, rows, cols)
            Mean spectral-residual saliency per 16-px cell.
        """
        return pool_to_grid(self.saliency_maps(batch))
