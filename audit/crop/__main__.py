"""Command line drop-in for Twitter's ``candidate_crops``: ``python -m audit.crop IMAGE ...``.

Parses its arguments like the program (``IMAGE [show_all_points] [RATIO ...]``), prints the
program's stdout format and a ``showAllPoints=`` line on stderr. The model comes from
``--model``/``--weights`` instead of the program's first argument; ``--plot`` also draws the
result. Errors are one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from audit.crop.settings import MAX_RATIO, MIN_RATIO
from audit.exceptions import ImageError, ModelError
from audit.model.base import SaliencyModel

log = logging.getLogger("audit.crop")

PROG = "python -m audit.crop"
MODELS = ("fastgaze", "center_bias", "spectral_residual", "luminance")
_ENV_WEIGHTS = "AUDIT_FASTGAZE_WEIGHTS"
_MSG_BAD_RATIO = "bad aspect ratio {value!r}: ratios are numbers > 0 (height / width), e.g. 0.56"
_MSG_EXTREME_RATIO = (
    "aspect ratio {value!r} lies outside [{lo:g}, {hi:g}]: a crop that narrow is under 1 pixel "
    "on one side of any image up to 10000 px; ratios are height / width, e.g. 0.56 or 2.0")
_MSG_NO_IMAGE = "image file not found: {path}"


class CliError(Exception):
    """A problem the user can fix; reported as one stderr line, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Salient point and crops of one image, printed in the format of Twitter's "
                    "candidate_crops program.",
    )
    p.add_argument("image", help="image file")
    p.add_argument("rest", nargs="*", metavar="[show_all_points] [RATIO ...]",
                   help="the literal show_all_points, then crop aspect ratios (height / width); "
                        "default 0.56 1.0 1.14 2.0 and H/W")
    p.add_argument("--model", choices=MODELS, default=None,
                   help="saliency model (default: fastgaze, or spectral_residual with a warning "
                        "when the FastGaze weights cannot be found)")
    p.add_argument("--weights", default=None, help="path to fastgaze.vxm")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda (default: cpu)")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also draw the image, heat map, point and crops to this file")
    return p


def parse_rest(rest: Sequence[str]) -> tuple[bool, list[float] | None]:
    """Split the program-style positionals into ``(show_all_points, ratios or None)``.

    Raises
    ------
    CliError
        If a ratio is not a finite number inside ``[MIN_RATIO, MAX_RATIO]``.
    """
    show = bool(rest) and rest[0] == "show_all_points"
    ratios: list[float] = []
    for text in rest[1:] if show else rest:
        try:
            value = float(text)
        except ValueError:
            raise CliError(_MSG_BAD_RATIO.format(value=text)) from None
        if not (math.isfinite(value) and value > 0):
            raise CliError(_MSG_BAD_RATIO.format(value=text))
        if not MIN_RATIO <= value <= MAX_RATIO:
            raise CliError(_MSG_EXTREME_RATIO.format(value=text, lo=MIN_RATIO, hi=MAX_RATIO))
        ratios.append(value)
    return show, ratios or None


def _resolve_weights(explicit: str | None) -> Path:
    try:
        from audit.model.weights import resolve_weights
    except ImportError:  # pragma: no cover - only before the weights module exists
        found = explicit or os.environ.get(_ENV_WEIGHTS)
        if not found or not Path(found).is_file():
            raise ModelError(
                f"FastGaze weights not found; pass --weights PATH or set {_ENV_WEIGHTS}"
            ) from None
        return Path(found)
    return resolve_weights(explicit)


def build_model(name: str | None, *, weights: str | None, device: str) -> SaliencyModel:
    """Build the model the CLI asked for; ``None`` means FastGaze with a loud fallback."""
    if name in (None, "fastgaze"):
        try:
            path = _resolve_weights(weights)
        except ModelError as exc:
            if name == "fastgaze" or weights is not None:
                raise
            log.warning("FastGaze weights unavailable, using spectral_residual instead (NOT "
                        "Twitter's model): %s", str(exc).splitlines()[0])
            name = "spectral_residual"
        else:
            from audit.model.fastgaze import FastGaze

            return FastGaze(weights=path, device=device)
    if name == "center_bias":
        from audit.model.center_bias import CenterBias

        return CenterBias(device=device)
    if name == "luminance":
        from audit.model.luminance import Luminance

        return Luminance(device=device)
    from audit.model.spectral_residual import SpectralResidual

    return SpectralResidual(device=device)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 error)."""
    args = _parser().parse_intermixed_args(argv)
    try:
        show, ratios = parse_rest(args.rest)
        image = Path(args.image)
        if not image.is_file():
            raise CliError(_MSG_NO_IMAGE.format(path=image))
        model = build_model(args.model, weights=args.weights, device=args.device)

        from audit.crop.candidate import candidate_crops, format_program_output

        result = candidate_crops(image, model, ratios)
        # Printed once the result exists, so a failed run leaves exactly one stderr line.
        print(f"showAllPoints={int(show)}", file=sys.stderr)
        sys.stdout.write(format_program_output(result, show_all_points=show))
        sys.stdout.flush()
        if args.plot:
            _plot(image, result, Path(args.plot))
    except (CliError, ImageError, ModelError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    return 0


def _plot(image: Path, result: object, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from audit.crop.plot import plot_crops
    from audit.data.images import load_image

    fig = plot_crops(load_image(image), result)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    log.info("plot written to %s", out)


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    sys.exit(run())


if __name__ == "__main__":
    main()
