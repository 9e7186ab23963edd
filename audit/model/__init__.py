"""Saliency models: the FastGaze port, weight-free baselines and an external-program adapter.

All share :class:`audit.model.base.SaliencyModel`; configs build them through
:mod:`audit.model.factory` or their own class (``conf/model/*.yaml``).
"""
