"""Run the FastGaze port on every golden case and tabulate agreement with Twitter's program.

Usage::

    AUDIT_GOLDEN_DIR=../shared/golden AUDIT_FASTGAZE_WEIGHTS=../shared/models/fastgaze.vxm \\
        python bench/fidelity.py [--out bench/fidelity.md] [--no-ablation]

Columns: grid shape ok, predicted vs golden salient cell, rank of the golden cell in our
scores, our max vs the figure's approximate max, near-tie flag, and (ablation) whether a
full decode + box reductions, i.e. without libjpeg's DCT-scaled decode, still finds the cell.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from audit.data.images import load_image
from audit.model.base import grid_shape
from audit.model.fastgaze import FastGaze
from audit.model.preprocess import prepare_array, prepare_file

TOL = 0.05


def _cell(scores: np.ndarray) -> tuple[int, int]:
    r, c = divmod(int(np.argmax(scores)), scores.shape[1])
    return r, c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", default=os.environ.get("AUDIT_GOLDEN_DIR"))
    ap.add_argument("--weights", default=os.environ.get("AUDIT_FASTGAZE_WEIGHTS"))
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument("--no-ablation", action="store_true", help="skip the full-decode column")
    args = ap.parse_args(argv)
    if not args.golden or not args.weights:
        ap.error("set AUDIT_GOLDEN_DIR and AUDIT_FASTGAZE_WEIGHTS (or --golden/--weights)")
    golden = Path(args.golden)
    model = FastGaze(weights=args.weights, device="cpu", batch_size=1)

    rows, n_grid, n_cell, n_max, n_strict, n_full = [], 0, 0, 0, 0, 0
    strict_total, max_err, t_model = 0, 0.0, []
    for path in sorted(golden.glob("*.json")):
        case = json.loads(path.read_text())
        prepared = prepare_file(golden / case["input"]["file"])
        t0 = time.perf_counter()
        smap = model.predict([prepared])[0]
        t_model.append(time.perf_counter() - t0)
        scores = smap.scores
        gold = (case["salient_cell"]["row"], case["salient_cell"]["col"])
        pred = _cell(scores)
        grid_ok = (scores.shape == tuple(case["grid_rows_cols"])
                   and grid_shape(prepared.resized_size) == scores.shape)
        gold_score = scores[gold] if grid_ok else np.nan
        rank = int((scores > gold_score).sum()) + 1 if grid_ok else -1
        err = float(scores.max()) - case["approx_max_score"]
        full_ok = ""
        if not args.no_ablation:
            full = model.predict([prepare_array(load_image(golden / case["input"]["file"]))])[0]
            full_ok = "yes" if _cell(full.scores) == gold else "no"
            n_full += full_ok == "yes"
        n_grid += grid_ok
        n_cell += pred == gold
        n_max += abs(err) <= TOL
        max_err = max(max_err, abs(err))
        if not case["near_tie"]:
            strict_total += 1
            n_strict += pred == gold
        rows.append(f"| {case['case']} | {'yes' if grid_ok else 'NO'} | {pred} | {gold} | {rank} "
                    f"| {scores.max():.3f} | {case['approx_max_score']:.2f} | {err:+.3f} "
                    f"| {'yes' if case['near_tie'] else 'no'} | {full_ok} |")
    n = len(rows)
    header = ("| case | grid ok | predicted cell | golden cell | rank of golden | max score "
              "| approx max | diff | near tie | full decode cell ok |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
    summary = (f"\ncases: {n}; grid shape ok: {n_grid}/{n}; exact salient cell: {n_cell}/{n} "
               f"(not near-tie: {n_strict}/{strict_total}); max within {TOL}: {n_max}/{n} "
               f"(largest |diff| {max_err:.3f})"
               + (f"; full decode + box reductions instead of DCT scaling: {n_full}/{n} cells"
                  if not args.no_ablation else "")
               + f"\nnetwork time per image (CPU, batch 1): median "
               f"{1000 * float(np.median(t_model)):.0f} ms\n")
    text = header + "\n" + "\n".join(rows) + "\n" + summary
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text)
    return 0 if n_grid == n_cell == n_max == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
