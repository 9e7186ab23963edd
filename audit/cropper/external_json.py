r"""Any cropper program (cloud crop hints, Cloudinary, Apple Vision, ...) over JSON lines.

The program is started once, from an argument list (never a shell string), and kept running;
cropaudit sends it one request per image on its stdin and reads one reply per request from its
stdout. Errors are per image: a reply that is late, malformed, for another request or reports an
error costs that image only (its message is recorded), never a hang.

Protocol (version 1)
--------------------
Every message is one JSON object on one line (UTF-8, ``\n``-terminated).

Request, written to the program's stdin::

    {"protocol": 1, "id": 7, "image": "/tmp/cropaudit-xyz/7.png", "width": 1034,
     "height": 851, "aspect_ratios": [0.56, 1.0, 2.0],
     "window_sizes": [[1034, 579], [851, 851], [426, 851]]}

* ``id``: an integer, increasing by one per request; the reply must echo it.
* ``image``: path of the image (PNG written by cropaudit, lossless, deleted after the reply;
  or the original file when cropaudit crops a file). ``width`` / ``height``: its size in pixels
  in display orientation; boxes are in that orientation too (a program given an original JPEG
  must apply its EXIF orientation; PNGs written by cropaudit have none).
* ``aspect_ratios``: crop height / width, as Twitter's program. ``window_sizes``: for each
  ratio, the ``[width, height]`` of the largest window of that ratio that fits, as Twitter's
  program sizes it; a program that needs an explicit target size can use these.

Reply, one line on the program's stdout::

    {"id": 7, "crops": [[0, 47, 1034, 579], [92, 0, 851, 851], [304, 0, 426, 851]],
     "point": [517, 336], "info": {"provider": "my-api", "confidence": 0.8}}

* ``crops``: one ``[left, top, width, height]`` per requested ratio, in the request's order, in
  the image's pixels (whole numbers; each box must lie inside the image).
* ``point`` (optional): the focus point ``[x, y]``. ``info`` (optional): a JSON object recorded
  with the image.
* A program that cannot crop an image replies ``{"id": 7, "error": "why"}`` and carries on.

Anything else on stdout is a protocol error for the request being answered. Logs belong on
stderr (its last lines are quoted in error messages). When the program's stdin closes it should
exit. Rules on cropaudit's side: each request waits at most ``timeout`` seconds (plus
``startup_timeout`` for the first request after a start); on a timeout or a crash the program is
stopped (its whole process group) and started again for the next image, up to ``max_restarts``
times in a row without a good reply, after which the remaining images fail at once. Replies to
requests that already timed out are skipped if they arrive later.

Example (``conf/cropper/external_json.yaml``)::

    python -m audit.run cropper=external_json \
        "cropper.command=[python,/path/my_cropper.py,--api-key-file,/path/key]"
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from audit.crop.geometry import Box, Point
from audit.cropper.base import (
    Cropper,
    CropResult,
    check_ratios,
    check_result,
    check_rgb,
    window_size,
)
from audit.exceptions import ModelError

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
#: Longest reply line accepted (bytes); longer lines are a protocol error.
MAX_LINE = 1 << 20
#: How much of the program's stderr is kept for error messages (characters).
STDERR_TAIL = 2000
#: Files above this size are not hashed for the manifest.
_HASH_LIMIT = 256 << 20

_EOF = object()
_MSG_COMMAND = ("cropper.command must be a non-empty list of strings (an argument list, never "
                "a shell string), e.g. [python, /path/my_cropper.py]; got {cmd!r}")
_MSG_FORMAT = "cropper.image_format must be 'png' or 'jpeg', got {fmt!r}"
_MSG_TIMEOUTS = "cropper.{key} must be a number > 0, got {value!r}"


def _is_integral(value: Any) -> bool:
    """Whether a JSON value is a whole number (``3`` or ``3.0``; not ``3.5``, ``true``, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))


class _Overlong:
    """A reply line longer than :data:`MAX_LINE`."""


def _sha256(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _HASH_LIMIT:
            return None
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def _reader(stream: Any, out: queue.Queue) -> None:
    """Push each stdout line (bytes) into ``out``; an over-long line becomes one marker."""
    try:
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                break
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while True:  # drop the rest of the line
                    rest = stream.readline(MAX_LINE)
                    if not rest or rest.endswith(b"\n"):
                        break
                out.put(_Overlong())
                continue
            out.put(line)
    except (OSError, ValueError):
        pass
    finally:
        out.put(_EOF)


def _drain(stream: Any, tail: collections.deque, lock: threading.Lock) -> None:
    """Keep the last :data:`STDERR_TAIL` characters of stderr (so the pipe never fills)."""
    try:
        for chunk in iter(lambda: stream.read1(4096), b""):
            with lock:
                tail.extend(chunk.decode("utf-8", "replace"))
    except (OSError, ValueError):
        pass


def _kill_group(proc: subprocess.Popen, grace: float) -> None:
    """Stop ``proc`` and its process group: SIGTERM, wait ``grace`` s, then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # children of the program may outlive it; the group goes too
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        log.warning("cropper program pid %d did not exit after SIGKILL", proc.pid)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


class _Process:
    """One running instance of the program, with its reader threads."""

    def __init__(self, command: list[str], grace: float) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True)
        self.lines: queue.Queue = queue.Queue()
        self.tail: collections.deque = collections.deque(maxlen=STDERR_TAIL)
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=_reader, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=_drain, args=(self.proc.stderr, self.tail, self.lock),
                             daemon=True),
        ]
        for t in self.threads:
            t.start()
        self.finalizer = weakref.finalize(self, _kill_group, self.proc, grace)

    def stderr_tail(self) -> str:
        with self.lock:
            text = "".join(self.tail).strip()
        return text.replace("\n", " | ")[-500:] if text else "(empty)"

    def stop(self) -> None:
        self.finalizer()
        for t in self.threads:
            t.join(timeout=2)


class ExternalJSONCropper(Cropper):
    """A user's cropper program speaking the JSON-lines protocol of this module.

    Parameters
    ----------
    command : list of str
        Argument list of the program (``[executable, arg, ...]``); no shell.
    timeout : float
        Seconds each request may take.
    startup_timeout : float
        Extra seconds allowed for the first request after the program starts (loading models).
    max_restarts : int
        Consecutive restarts without a good reply after which the remaining images fail at once.
    image_format : {"png", "jpeg"}
        How in-memory images are handed over (``png`` is lossless).
    jpeg_quality : int
        Quality of ``jpeg`` hand-overs.
    name : str
        Registry name.

    Notes
    -----
    One instance talks to one process; it is not thread-safe, and a forked worker must build its
    own (the pipes are not shared safely).
    """

    kind = "box"
    library = "external program"

    def __init__(self, *, command: Sequence[str], timeout: float = 60.0,
                 startup_timeout: float = 30.0, max_restarts: int = 3,
                 image_format: str = "png", jpeg_quality: int = 95,
                 name: str = "external_json") -> None:
        self.name = name
        if (isinstance(command, (str, bytes)) or not command
                or not all(isinstance(a, str) and a for a in command)):
            raise ValueError(_MSG_COMMAND.format(cmd=command))
        for key, value in (("timeout", timeout), ("startup_timeout", startup_timeout)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(_MSG_TIMEOUTS.format(key=key, value=value))
        if image_format not in ("png", "jpeg"):
            raise ValueError(_MSG_FORMAT.format(fmt=image_format))
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"cropper.max_restarts must be an integer >= 0, got {max_restarts!r}")
        self.command = list(command)
        self.timeout = float(timeout)
        self.startup_timeout = float(startup_timeout)
        self.max_restarts = int(max_restarts)
        self.image_format = image_format
        self.jpeg_quality = int(jpeg_quality)
        self._proc: _Process | None = None
        self._fresh = False
        self._next_id = 1
        self._abandoned: set[int] = set()
        self._restarts = 0
        self._gave_up: str | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        resolved = shutil.which(self.command[0])
        if resolved is None:
            raise ValueError(f"cropper.command: program {self.command[0]!r} not found (not a "
                             f"file and not on PATH); give its full path")
        self._executable = resolved

    # -- process management -------------------------------------------------------------

    def _ensure_started(self) -> _Process:
        if self._gave_up is not None:
            raise ModelError(self._gave_up)
        if self._proc is None:
            try:
                self._proc = _Process([self._executable, *self.command[1:]],
                                      grace=min(2.0, self.timeout))
            except OSError as exc:
                raise ModelError(f"{self.name}: cannot start {self.command[0]!r}: {exc}") from exc
            self._fresh = True
            log.info("%s: started %s (pid %d)", self.name, self.command[0], self._proc.proc.pid)
        return self._proc

    def _fail_process(self, message: str) -> ModelError:
        """Stop the program after a crash or timeout; it restarts for the next image."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._gave_up = (f"{self.name}: program stopped after {self.max_restarts} restarts "
                             f"without a good reply; last error: {message}")
            log.error("%s", self._gave_up)
        return ModelError(message)

    def close(self) -> None:
        """Close the program's stdin, give it a moment to exit, then stop its process group."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.proc.stdin is not None:
                    proc.proc.stdin.close()
                proc.proc.wait(timeout=min(2.0, self.timeout))
            except (OSError, subprocess.TimeoutExpired):
                pass
            proc.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- one request ----------------------------------------------------------------------

    def _request(self, image: str, width: int, height: int, ratios: list[float]) -> CropResult:
        proc = self._ensure_started()
        request_id = self._next_id
        self._next_id += 1
        request = {"protocol": PROTOCOL_VERSION, "id": request_id, "image": image,
                   "width": width, "height": height, "aspect_ratios": ratios,
                   "window_sizes": [list(window_size(width, height, r)) for r in ratios]}
        limit = self.timeout + (self.startup_timeout if self._fresh else 0.0)
        self._fresh = False
        where = f"{self.name}: request {request_id} ({Path(image).name}, {width}x{height})"
        try:
            proc.proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            code = proc.proc.poll()
            raise self._fail_process(f"{where}: the program is not reading its input (exit "
                                     f"status {code}); stderr: {proc.stderr_tail()}") from None
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = proc.lines.get(timeout=max(remaining, 0.0)) if remaining > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                self._abandon(request_id)
                raise self._fail_process(f"{where}: no reply within {limit:g} s (timeout); the "
                                         f"program was stopped; stderr: {proc.stderr_tail()}")
            if line is _EOF:
                code = proc.proc.wait(timeout=5)
                raise self._fail_process(f"{where}: the program exited with status {code} "
                                         f"before replying; stderr: {proc.stderr_tail()}")
            if isinstance(line, _Overlong):
                self._abandon(request_id)
                raise ModelError(f"{where}: reply line longer than {MAX_LINE} bytes")
            try:
                reply = self._parse(line, where)
            except ModelError:
                self._abandon(request_id)  # its real reply may still follow; skip it then
                raise
            got = reply.get("id")
            if isinstance(got, int) and got in self._abandoned:
                self._abandoned.discard(got)
                log.info("%s: late reply to request %d skipped", self.name, got)
                continue
            if got != request_id:
                self._abandon(request_id)
                raise ModelError(f"{where}: reply is for request id {got!r}, expected "
                                 f"{request_id}")
            result = self._result(reply, where, width, height, ratios)
            self._restarts = 0
            return result

    def _abandon(self, request_id: int) -> None:
        """Remember a request that got no valid reply, so a late reply to it is skipped."""
        self._abandoned.add(request_id)
        if len(self._abandoned) > 1000:
            self._abandoned.discard(min(self._abandoned))

    @staticmethod
    def _parse(line: bytes, where: str) -> dict[str, Any]:
        text = line.decode("utf-8", "replace").strip()
        try:
            reply = json.loads(text)
        except json.JSONDecodeError:
            reply = None
        if not isinstance(reply, dict):
            raise ModelError(f"{where}: reply is not a JSON object: {text[:120]!r}")
        return reply

    def _result(self, reply: dict[str, Any], where: str, width: int, height: int,
                ratios: list[float]) -> CropResult:
        if "error" in reply:
            raise ModelError(f"{where}: the program reported an error: "
                             f"{str(reply['error'])[:300]}")
        crops = reply.get("crops")
        if not isinstance(crops, list) or len(crops) != len(ratios):
            n = len(crops) if isinstance(crops, list) else type(crops).__name__
            raise ModelError(f"{where}: 'crops' must be a list of {len(ratios)} "
                             f"[left, top, width, height] boxes, got {n}")
        boxes: dict[float, Box] = {}
        for r, c in zip(ratios, crops, strict=True):
            if not isinstance(c, list) or len(c) != 4 or not all(_is_integral(v) for v in c):
                raise ModelError(f"{where}: crop for ratio {r:g} must be four integers "
                                 f"[left, top, width, height], got {c!r}")
            boxes[r] = Box(*(int(v) for v in c))
        point = None
        if reply.get("point") is not None:
            p = reply["point"]
            if (not isinstance(p, list) or len(p) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v) for v in p)):
                raise ModelError(f"{where}: 'point' must be [x, y] numbers, got {p!r}")
            point = Point(p[0], p[1])
        info = reply.get("info") or {}
        if not isinstance(info, dict):
            raise ModelError(f"{where}: 'info' must be a JSON object, got {info!r}")
        result = CropResult(boxes=boxes, point=point, info=dict(info))
        return check_result(result, (width, height), ratios, where)

    # -- the Cropper interface ------------------------------------------------------------

    def _tmpdir(self) -> Path:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cropaudit-external-")
        return Path(self._tmp.name)

    def crop(self, rgb: npt.NDArray[np.uint8], aspect_ratios: Sequence[float]) -> CropResult:
        """Hand the image over as a temporary file and ask the program for its crops."""
        from PIL import Image

        arr = check_rgb(rgb, self.name)
        ratios = check_ratios(aspect_ratios, self.name)
        h, w = arr.shape[:2]
        path = self._tmpdir() / f"{self._next_id}.{'png' if self.image_format == 'png' else 'jpg'}"
        image = Image.fromarray(np.ascontiguousarray(arr))
        if self.image_format == "png":
            image.save(path, format="PNG", compress_level=1)
        else:
            image.save(path, format="JPEG", quality=self.jpeg_quality)
        try:
            return self._request(str(path), w, h, ratios)
        finally:
            path.unlink(missing_ok=True)

    def crop_file(self, path: str | Path, aspect_ratios: Sequence[float]) -> CropResult:
        """Send the file itself (no re-encoding); its size is read from the header."""
        from audit.model.external import image_size

        ratios = check_ratios(aspect_ratios, self.name)
        w, h = image_size(path)
        return self._request(str(Path(path).resolve()), w, h, ratios)

    def library_version(self) -> str | None:
        """Return the SHA-256 of the program's executable (``None`` if unreadable)."""
        return _sha256(Path(self._executable))

    def settings(self) -> dict[str, Any]:
        """Return the command, the SHA-256 of each argument that is a file, and the limits."""
        files = {a: _sha256(Path(a)) for a in self.command[1:] if Path(a).is_file()}
        return {"command": list(self.command), "executable": self._executable,
                "argument_sha256": files, "protocol": PROTOCOL_VERSION,
                "timeout": self.timeout, "startup_timeout": self.startup_timeout,
                "max_restarts": self.max_restarts, "image_format": self.image_format,
                "jpeg_quality": self.jpeg_quality}

    def output_identity(self) -> dict[str, Any]:
        """Return name, program and argument hashes, and hand-over format (no time limits)."""
        info = self.describe()
        for key in ("timeout", "startup_timeout", "max_restarts"):
            info["settings"].pop(key, None)
        return info


def build(*, command: Sequence[str] | None = None, timeout: float = 60.0,
          startup_timeout: float = 30.0, max_restarts: int = 3, image_format: str = "png",
          jpeg_quality: int = 95, name: str = "external_json") -> ExternalJSONCropper:
    """Build the cropper named by ``conf/cropper/external_json.yaml``."""
    if command is None:
        raise ValueError("cropper.command is required for external_json: the argument list of "
                         "your cropper program, e.g. cropper.command=[python,/path/my_cropper.py]")
    if not isinstance(command, (str, bytes)):
        command = list(command)
    return ExternalJSONCropper(command=command, timeout=timeout,
                               startup_timeout=startup_timeout, max_restarts=max_restarts,
                               image_format=image_format, jpeg_quality=jpeg_quality, name=name)
