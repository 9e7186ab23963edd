"""Croppers: one module per cropper, found by name through :mod:`audit.cropper.registry`.

Mirrors ``conf/cropper/``; the interface is in :mod:`audit.cropper.base`.
"""
