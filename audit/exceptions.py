"""Exceptions and warnings shared across cropaudit.

Each error carries enough context (which file, which key, how to fix) to be acted on
without reading a traceback.
"""

from __future__ import annotations


class AuditDataWarning(UserWarning):
    """Data was dropped or changed on the way in (small groups, missing images, ...)."""


class ImageError(ValueError):
    """An image could not be read or is unsuitable; the message names the file and the problem."""


class ModelError(RuntimeError):
    """A saliency model could not be built or failed on an input."""


class WeightsError(ModelError):
    """Model weights could not be found, downloaded or verified."""


class VxmFormatError(ValueError):
    """A ``.vxm`` model file is corrupt or not a FastGaze container."""
