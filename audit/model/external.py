"""Run an external cropper program (such as Twitter's ``candidate_crops``) as a saliency model.

The program is called with an argument list (never a shell string) built from a template in
which ``{image}`` stands for the image path; its stdout, in the format of section 5 of
``docs/fastgaze.md`` with ``show_all_points``, is parsed back into a :class:`SaliencyMap`.
The program does its own decoding and resizing, so this model takes files or arrays, not
prepared tensors.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image, UnidentifiedImageError

from audit.exceptions import ModelError
from audit.model.base import SaliencyMap, SaliencyModel, grid_shape
from audit.model.preprocess import Prepared

log = logging.getLogger(__name__)

#: Placeholder for the image path in the command template.
IMAGE_PLACEHOLDER = "{image}"
#: The literal argument that makes the program print every grid cell.
SHOW_ALL_POINTS = "show_all_points"
#: How much of the program's stderr goes into an error message.
_STDERR_TAIL = 1500
_ORIENTATION_TAG = 0x0112

_MSG_COMMAND = (
    "model.command must be a non-empty list of strings with an argument containing {ph}, "
    "e.g. ['/path/candidate_crops', '/path/fastgaze.vxm', '{ph}', 'show_all_points']; got {cmd!r}"
)
_MSG_NO_SHOW_ALL = (
    "model.command must pass 'show_all_points' (the grid is rebuilt from the per-cell lines); "
    "got {cmd!r}"
)
_MSG_FORMAT = "model.image_format must be 'png' or 'jpeg', got {fmt!r}"
_MSG_USE_FILES = (
    "ExternalProgram cannot score prepared tensors: the external program decodes and resizes the "
    "image itself. Call predict_file(path) or predict_array(rgb) instead."
)
_MSG_MISSING = "external program {prog!r} could not be started for {image}: {error}"
_MSG_TIMEOUT = "external program {prog!r} timed out after {timeout:g} s on {image}; stderr: {tail}"
_MSG_EXIT = "external program {prog!r} exited with status {code} on {image}; stderr: {tail}"
_MSG_PARSE = "could not parse the output of {prog!r} for {image}: {problem}; stderr: {tail}"
_MSG_IMAGE = "could not read the size of {image} for the external program's grid: {error}"


def _tail(text: str) -> str:
    text = text.strip()
    if not text:
        return "(empty)"
    return text[-_STDERR_TAIL:].replace("\n", " | ")


def image_size(path: str | Path) -> tuple[int, int]:
    """``(W, H)`` of an image file in display orientation (swapped for EXIF orientations 5-8).

    Raises
    ------
    ModelError
        If the file cannot be opened as an image.
    """
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ModelError(_MSG_IMAGE.format(image=path, error=exc)) from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def parse_program_output(
    text: str, image_size: tuple[int, int], resized_size: tuple[int, int]
) -> SaliencyMap:
    """Rebuild the saliency grid from the program's stdout.

    Parameters
    ----------
    text : str
        ``x y`` line, ``left top width height`` lines, then ``x y score`` lines row-major.
    image_size : tuple of int
        ``(W, H)`` of the original image in display orientation.
    resized_size : tuple of int
        ``(rw, rh)`` the program resized to; fixes the expected grid shape.

    Returns
    -------
    SaliencyMap
        Scores (float32) with ``xs``/``ys`` taken from the printed (integer) coordinates.

    Raises
    ------
    ValueError
        If a line is malformed, the cell count differs from the grid shape, or the coordinates
        are not a row-major grid. The message says which.
    """
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("no output")
    head = lines[0]
    if len(head) != 2:
        raise ValueError(f"line 1 should be 'x y', got {' '.join(head)!r}")
    cells: list[tuple[float, float, float]] = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) == 4 and not cells:
            continue  # a crop line; crops are recomputed by audit.crop, not parsed
        if len(fields) != 3:
            raise ValueError(f"line {number} should be 'x y score', got {' '.join(fields)!r}")
        try:
            cells.append((float(fields[0]), float(fields[1]), float(fields[2])))
        except ValueError:
            raise ValueError(f"line {number} has a non-number: {' '.join(fields)!r}") from None
    rows, cols = grid_shape(resized_size)
    if not cells:
        raise ValueError("no per-cell lines; was 'show_all_points' passed?")
    if len(cells) != rows * cols:
        raise ValueError(
            f"{len(cells)} cell lines, expected {rows}x{cols}={rows * cols} for an image of "
            f"{image_size[0]}x{image_size[1]} resized to {resized_size[0]}x{resized_size[1]}"
        )
    arr = np.asarray(cells, dtype=np.float64).reshape(rows, cols, 3)
    xs, ys = arr[0, :, 0], arr[:, 0, 1]
    if not (arr[:, :, 0] == xs[None, :]).all() or not (arr[:, :, 1] == ys[:, None]).all():
        raise ValueError("cell coordinates do not form a row-major grid")
    if np.isnan(arr[:, :, 2]).any():
        raise ValueError("a cell score is NaN")
    return SaliencyMap(
        scores=arr[:, :, 2].astype(np.float32), xs=xs.astype(np.float32),
        ys=ys.astype(np.float32), image_size=tuple(image_size), resized_size=tuple(resized_size),
    )


class ExternalProgram(SaliencyModel):
    """A saliency model backed by an external program with ``candidate_crops``' output format.

    Parameters
    ----------
    command : list of str
        Argument-list template; every ``{image}`` inside an argument is replaced by the image
        path, e.g. ``["/opt/candidate_crops", "/opt/fastgaze.vxm", "{image}", "show_all_points"]``.
        Must contain ``show_all_points``.
    timeout : float
        Seconds the program may run per image.
    device : str
        Kept for the common interface; the program runs where it runs.
    batch_size : int
        Kept for the common interface; images are scored one by one.
    image_format : {"png", "jpeg"}
        How :meth:`predict_array` hands arrays to the program: lossless PNG by default; JPEG
        when the program's JPEG path (DCT-scaled decode) must be reproduced.
    jpeg_quality : int
        Quality of those JPEG files.
    """

    name = "external"
    #: The program resizes by itself: callers must pass files or arrays, not Prepared tensors.
    accepts_prepared = False

    def __init__(
        self, *, command: Sequence[str], timeout: float = 60, device: str = "cpu",
        batch_size: int = 1, image_format: str = "png", jpeg_quality: int = 95,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size)
        cmd = list(command) if isinstance(command, Sequence) and not isinstance(
            command, str) else None
        if not cmd or not all(isinstance(a, str) for a in cmd) or not any(
                IMAGE_PLACEHOLDER in a for a in cmd):
            raise ValueError(_MSG_COMMAND.format(ph=IMAGE_PLACEHOLDER, cmd=command))
        if SHOW_ALL_POINTS not in cmd:
            raise ValueError(_MSG_NO_SHOW_ALL.format(cmd=cmd))
        if image_format not in ("png", "jpeg"):
            raise ValueError(_MSG_FORMAT.format(fmt=image_format))
        if not timeout > 0:
            raise ValueError(f"model.timeout must be > 0 seconds, got {timeout!r}")
        self.command = cmd
        self.timeout = float(timeout)
        self.image_format = image_format
        self.jpeg_quality = int(jpeg_quality)

    def describe(self) -> dict[str, object]:
        """Manifest entry, with the command template."""
        return {**super().describe(), "command": list(self.command), "timeout": self.timeout}

    def score(self, batch: torch.Tensor) -> torch.Tensor:
        """Not supported: see :meth:`predict_file`."""
        raise ModelError(_MSG_USE_FILES)

    def predict(self, images: Sequence[Prepared]) -> list[SaliencyMap]:
        """Not supported: the program must see the original file (it resizes by itself)."""
        raise ModelError(_MSG_USE_FILES)

    def _run(self, path: Path) -> tuple[str, str]:
        # an absolute path can never be mistaken for an option (a file named "-x.jpg")
        args = [a.replace(IMAGE_PLACEHOLDER, str(Path(path).resolve())) for a in self.command]
        prog = args[0]
        log.debug("running %s", args)
        try:
            done = subprocess.run(args, shell=False, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (
                exc.stderr or "")
            raise ModelError(_MSG_TIMEOUT.format(prog=prog, timeout=self.timeout, image=path,
                                                 tail=_tail(err))) from exc
        except OSError as exc:
            raise ModelError(_MSG_MISSING.format(prog=prog, image=path, error=exc)) from exc
        if done.returncode != 0:
            raise ModelError(_MSG_EXIT.format(prog=prog, code=done.returncode, image=path,
                                              tail=_tail(done.stderr)))
        return done.stdout, done.stderr

    def predict_file(self, path: str | Path) -> SaliencyMap:
        """Run the program on an image file and rebuild its grid.

        Parameters
        ----------
        path : str | Path
            The image file, passed to the program as is.

        Returns
        -------
        SaliencyMap
            The program's scores; ``xs``/``ys`` are its printed (truncated) coordinates.

        Raises
        ------
        ModelError
            The program is missing, times out, exits non-zero or prints something unparsable;
            the message names the image and ends with the program's stderr.
        """
        from audit.model.preprocess import fit_size

        path = Path(path)
        stdout, stderr = self._run(path)
        size = image_size(path)
        resized = fit_size(*size, box=self.box)
        try:
            return parse_program_output(stdout, size, resized)
        except ValueError as exc:
            raise ModelError(_MSG_PARSE.format(prog=self.command[0], image=path, problem=exc,
                                               tail=_tail(stderr))) from exc

    def predict_array(self, rgb: npt.NDArray[np.uint8]) -> SaliencyMap:
        """Write an RGB array (display orientation) to a temporary file and run the program.

        PNG keeps the pixels exact; ``image_format="jpeg"`` sends them through the program's
        JPEG path instead (at ``jpeg_quality``).
        """
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"predict_array needs uint8 (H, W, 3) RGB, got {arr.dtype} "
                             f"{arr.shape}")
        suffix = ".png" if self.image_format == "png" else ".jpg"
        with tempfile.TemporaryDirectory(prefix="cropaudit_external_") as tmp:
            path = Path(tmp) / f"image{suffix}"
            img = Image.fromarray(np.ascontiguousarray(arr))
            if self.image_format == "png":
                img.save(path, format="PNG")
            else:
                img.save(path, format="JPEG", quality=self.jpeg_quality)
            return self.predict_file(path)
