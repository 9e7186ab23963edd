"""Model factories named by ``conf/model/*.yaml`` (``_target_``), with the weights fallback.

``fastgaze`` resolves the weights once (explicit path, ``$AUDIT_FASTGAZE_WEIGHTS``, user
cache, pinned download). Where they cannot be had and ``fallback`` names a weight-free model,
that model is built instead, a loud warning is logged, and ``fallback_reason`` is set on it so
the manifest and the report say so. Paper configs set ``fallback: null`` and stop instead.
"""

from __future__ import annotations

import logging

from audit.exceptions import WeightsError
from audit.model.base import SaliencyModel

log = logging.getLogger(__name__)

_FALLBACKS = ("spectral_residual", "center_bias")


def build_weight_free(name: str, *, device: str = "auto", batch_size: int = 16) -> SaliencyModel:
    """Build one of the weight-free baselines by name."""
    if name == "spectral_residual":
        from audit.model.spectral_residual import SpectralResidual

        return SpectralResidual(device=device, batch_size=batch_size)
    if name == "center_bias":
        from audit.model.center_bias import CenterBias

        return CenterBias(device=device, batch_size=batch_size)
    raise ValueError(f"model.fallback must be one of {list(_FALLBACKS)} or null, got {name!r}")


def fastgaze(
    *,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int = 16,
    channels_last: bool = True,
    download: bool = True,
    url: str | None = None,
    fallback: str | None = "spectral_residual",
) -> SaliencyModel:
    """Build FastGaze, or the named weight-free fallback when no weights can be had.

    Parameters
    ----------
    weights : str or None
        Explicit path to ``fastgaze.vxm``; ``None`` tries the environment, cache and download.
    device, batch_size, channels_last
        Passed to :class:`audit.model.fastgaze.FastGaze`.
    download : bool
        Whether the pinned URL may be fetched when nothing local is found.
    url : str or None
        A mirror of the weights file (its SHA-256 must still match); ``None`` = the pinned URL.
    fallback : str or None
        Weight-free model to use instead when the weights are unavailable; ``None`` raises.

    Raises
    ------
    WeightsError
        When the weights are unavailable and ``fallback`` is ``None``.
    """
    from audit.model.fastgaze import FastGaze
    from audit.model.weights import resolve_weights

    try:
        path = resolve_weights(weights, download=download, **({"url": url} if url else {}))
    except WeightsError as exc:
        if fallback is None:
            raise
        model = build_weight_free(fallback, device=device, batch_size=batch_size)
        reason = f"FastGaze weights unavailable, using the weight-free {fallback} model: {exc}"
        banner = "!" * 78
        log.warning("\n%s\n%s\nResults are NOT those of Twitter's cropper.\n%s", banner, reason,
                    banner)
        model.fallback_reason = reason
        return model
    return FastGaze(weights=path, device=device, batch_size=batch_size,
                    channels_last=channels_last)
