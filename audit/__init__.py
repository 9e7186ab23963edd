"""cropaudit: an audit harness for saliency-based image cropping."""

__version__ = "0.1.0"
