"""Male-gaze check: whether the most salient point lands on the head and crops keep the head.

Modules: :mod:`~audit.gaze.regions` (the study's salient-region recipe and image selection),
:mod:`~audit.gaze.faces` (face and head boxes), :mod:`~audit.gaze.head` (per-image outcomes and
per-group summaries), :mod:`~audit.gaze.review` (a static page for human review and its CSV),
:mod:`~audit.gaze.settings` (``GazeConfig``).
"""
