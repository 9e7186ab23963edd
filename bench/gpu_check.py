"""CPU vs CUDA check of FastGaze, for someone with a GPU (one prepared script, run by hand).

Runs the golden images and a fixed set of golden-image composites (the study's layout) through
FastGaze on the CPU and on CUDA, then reports: the largest absolute score difference, how many
salient cells (first maximum, row-major) agree, whether the pairwise winners agree, and a
throughput table (composites/s per device and batch size). Exits non-zero when a salient cell
or a winner differs.

    AUDIT_GOLDEN_DIR=../shared/golden AUDIT_FASTGAZE_WEIGHTS=../shared/models/fastgaze.vxm \\
        python bench/gpu_check.py [--composites 64] [--channels-last]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from audit.compare.runner import run_jobs
from audit.compare.sampling import Job
from audit.compare.settings import CompareConfig
from audit.compare.store import ImageStore
from audit.model.fastgaze import FastGaze
from audit.model.preprocess import prepare_file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--composites", type=int, default=64)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.stderr.write("CUDA is not available here; run this on a machine with a GPU\n")
        return 2
    golden = Path(os.environ.get("AUDIT_GOLDEN_DIR", "../shared/golden"))
    weights = Path(os.environ.get("AUDIT_FASTGAZE_WEIGHTS", "../shared/models/fastgaze.vxm"))
    files = sorted(p for p in golden.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    lines = [f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
             f"CUDA {torch.version.cuda}, TF32 conv allowed: "
             f"{torch.backends.cudnn.allow_tf32}"]
    models = {d: FastGaze(weights=weights, device=d, batch_size=16,
                          channels_last=args.channels_last) for d in ("cpu", "cuda")}

    # 1. Golden images one by one.
    prepared = [prepare_file(p) for p in files]
    maps = {d: m.predict(prepared) for d, m in models.items()}
    diff = max(float(np.abs(a.scores - b.scores).max())
               for a, b in zip(maps["cpu"], maps["cuda"], strict=True))
    same_cell = sum(int(a.scores.argmax() == b.scores.argmax())
                    for a, b in zip(maps["cpu"], maps["cuda"], strict=True))
    lines.append(f"golden images: {len(files)}; max |score cpu - cuda| = {diff:.2e}; "
                 f"same salient cell {same_cell}/{len(files)}")

    # 2. Fixed composites at the study's layout; winners and throughput.
    paths = {p.stem: str(p) for p in files}
    ids = list(paths)
    rng = np.random.default_rng(0)
    jobs = []
    for t in range(args.composites):
        a, b = rng.choice(len(ids), 2, replace=False)
        jobs.append(Job(t, 0, "pairwise", t, ("g", "g"), (ids[a], ids[b]), 0))
    config = CompareConfig(chunk_size=64)
    store = ImageStore(paths, config.layout)
    records = {}
    lines += ["", "| device | batch | composites/s |", "|---|---|---|"]
    for device, model in models.items():
        for batch in (1, 8, 32):
            model.batch_size = batch
            run_jobs(jobs[:4], store=store, model=model, config=config, progress=False)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            frames = run_jobs(jobs, store=store, model=model, config=config, progress=False)
            if device == "cuda":
                torch.cuda.synchronize()
            rate = len(jobs) / (time.perf_counter() - t0)
            lines.append(f"| {device} | {batch} | {rate:.1f} |")
            records.setdefault(device, pd.concat(frames, ignore_index=True))
    cpu, gpu = records["cpu"], records["cuda"]
    same_winner = int((cpu["outcome"].to_numpy() == gpu["outcome"].to_numpy()).sum())
    score_diff = float(np.abs(cpu["score_max"] - gpu["score_max"]).max())
    lines.append(f"\ncomposites: {len(jobs)}; same outcome {same_winner}/{len(jobs)}; "
                 f"max |score_max cpu - cuda| = {score_diff:.2e}")
    print("\n".join(lines))  # noqa: T201 - a benchmark script reports on stdout
    ok = same_cell == len(files) and same_winner == len(jobs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
