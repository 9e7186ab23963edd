"""Milliseconds per image for each cropper on the golden photos and on pairwise composites.

Every cropper in ``conf/cropper/`` is built from its yaml file (``fastgaze`` on CPU with the
weights named by ``$AUDIT_FASTGAZE_WEIGHTS``; ``external_json`` runs the protocol's test program
``tests/cropper/fake_cropper.py``, so its row is the protocol's overhead: PNG hand-over plus one
JSON round trip). Each cropper crops (a) the 44 golden photos at their own sizes and (b) pairwise
composites of consecutive golden photos laid out as the study does (``compose`` with the default
layout, no scaling), at the program's four ratios (0.56, 1, 1.14, 2). Times are wall-clock per
call of ``crop`` (one image at a time; FastGaze also through ``crop_many``, its batched path),
and CPU time of this process (all its threads; on a shared machine the steadier number; it
excludes the external program's own CPU). Decoding is not timed. Writes a Markdown table to
stdout (or ``--out``).

    AUDIT_GOLDEN_DIR=../shared/golden AUDIT_FASTGAZE_WEIGHTS=../shared/models/fastgaze.vxm \\
        python bench/croppers.py [--limit 44] [--croppers fastgaze,center] [--out croppers.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from audit.compare.layout import compose
from audit.compare.settings import LayoutConfig
from audit.cropper.registry import available, build_named
from audit.data.images import load_image

RATIOS = [0.56, 1.0, 1.14, 2.0]
ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "cropper" / "fake_cropper.py"


def build(name: str):
    if name == "fastgaze":
        return build_named(name, overrides={"device": "cpu", "batch_size": 8})
    if name == "external_json":
        return build_named(name, overrides={"command": [sys.executable, str(FAKE), "good"]})
    return build_named(name)


def time_each(cropper, images) -> tuple[list[float], list[float], int]:
    """Wall and CPU (this process, all threads) milliseconds per ``crop`` call, and errors."""
    wall, cpu, errors = [], [], 0
    for rgb in images:
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            cropper.crop(rgb, RATIOS)
        except (ValueError, RuntimeError):
            errors += 1
        cpu.append(1000 * (time.process_time() - c0))
        wall.append(1000 * (time.perf_counter() - w0))
    return wall, cpu, errors


def fmt(wall: list[float], cpu: list[float]) -> str:
    return (f"{np.median(wall):.1f} | {np.percentile(wall, 90):.1f} | "
            f"{np.median(cpu):.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", default=os.environ.get("AUDIT_GOLDEN_DIR"))
    ap.add_argument("--limit", type=int, default=44, help="use the first N golden photos")
    ap.add_argument("--croppers", default=",".join(available()),
                    help="comma-separated names (default: all in conf/cropper/)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args(argv)
    if not args.golden:
        ap.error("set AUDIT_GOLDEN_DIR (or --golden)")
    golden = Path(args.golden)
    files = sorted(p for p in golden.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    photos = [load_image(p) for p in files[:args.limit]]
    composites = [compose([photos[i], photos[i + 1]], LayoutConfig()).pixels
                  for i in range(0, len(photos) - 1, 2)]
    px = np.median([im.shape[0] * im.shape[1] for im in photos]) / 1e6
    cpx = np.median([im.shape[0] * im.shape[1] for im in composites]) / 1e6
    torch.set_num_threads(max(1, torch.get_num_threads()))

    load_start = os.getloadavg()[0]
    rows = []
    for name in args.croppers.split(","):
        with build(name) as cropper:
            cropper.crop(photos[0], RATIOS)  # warm-up (lazy imports, process start)
            *t_photo, e_photo = time_each(cropper, photos)
            *t_comp, e_comp = time_each(cropper, composites)
            rows.append(f"| {name} | {cropper.kind} | {fmt(*t_photo)} | {fmt(*t_comp)} "
                        f"| {e_photo + e_comp} |")
            if name == "fastgaze":
                w0, c0 = time.perf_counter(), time.process_time()
                cropper.crop_many(composites, RATIOS)
                wall = 1000 * (time.perf_counter() - w0) / len(composites)
                cpu = 1000 * (time.process_time() - c0) / len(composites)
                rows.append(f"| fastgaze (crop_many, mean) | saliency | | | | {wall:.1f} | "
                            f"| {cpu:.1f} | 0 |")
    header = (f"{len(photos)} golden photos (median {px:.2f} Mpx), {len(composites)} pairwise "
              f"composites (median {cpx:.2f} Mpx); ratios {RATIOS}; "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"torch threads {torch.get_num_threads()}; "
              f"load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end\n\n"
              "| cropper | kind | photo wall ms median | p90 | CPU ms median "
              "| composite wall ms median | p90 | CPU ms median | errors |\n"
              "|---|---|---|---|---|---|---|---|---|")
    text = header + "\n" + "\n".join(rows) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
