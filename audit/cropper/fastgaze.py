"""Twitter's cropper: the FastGaze saliency map under the program's rule (kind ``saliency``).

In a run, the cropper wraps the run's already-built model (the ``model`` group, with its
weights fallback), so the crops are exactly those of :func:`audit.crop.candidate.place_crops`
and the runner keeps its batched fast path over :attr:`SaliencyCropper.model`. Built alone
(benchmarks, notebooks), it loads FastGaze itself from the keys below and never downloads.
"""

from __future__ import annotations

from audit.cropper.base import SaliencyCropper
from audit.model.base import SaliencyModel


def build(
    *,
    model: SaliencyModel | None = None,
    name: str = "fastgaze",
    weights: str | None = None,
    device: str = "auto",
    batch_size: int = 16,
    channels_last: bool = True,
    download: bool = False,
    fallback: str | None = None,
) -> SaliencyCropper:
    """Build the cropper named by ``conf/cropper/fastgaze.yaml``.

    Parameters
    ----------
    model : SaliencyModel, optional
        The run's model (supplied by the registry); when given, the other keys are unused.
    name : str
        Registry name.
    weights, device, batch_size, channels_last, download, fallback
        Used only when ``model`` is ``None``: passed to :func:`audit.model.factory.fastgaze`
        (weights from ``weights``, ``$AUDIT_FASTGAZE_WEIGHTS`` or the user cache; no download
        unless ``download`` is true; no weight-free stand-in unless ``fallback`` names one).

    Raises
    ------
    audit.exceptions.WeightsError
        Built alone without weights and without a fallback.
    """
    if model is None:
        from audit.model.factory import fastgaze

        model = fastgaze(weights=weights, device=device, batch_size=batch_size,
                         channels_last=channels_last, download=download, fallback=fallback)
    return SaliencyCropper(model, name=name)
