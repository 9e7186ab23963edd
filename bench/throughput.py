"""Throughput benchmark of the comparison stage against the network's own roofline (run by hand).

Measures, on this machine: single-image network latency vs input size; pairwise trial
throughput at the study's settings (no scaling, top-aligned, two images per composite) on
composites of the golden JPEGs; the conv roofline (the same FastGaze layers on random inputs of
exactly the pipeline's sizes and batches, nothing else); their ratio; peak RSS; a projection for
the paper-size run (65,000 composites); and a cold vs warm saliency_stats run through the
per-image cache. Writes a Markdown report to stdout (or ``--out``).

    AUDIT_GOLDEN_DIR=../shared/golden AUDIT_FASTGAZE_WEIGHTS=../shared/models/fastgaze.vxm \\
        python bench/throughput.py [--composites 64] [--out perf.md]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audit.compare.layout import compose
from audit.compare.runner import run_jobs
from audit.compare.sampling import Job
from audit.compare.settings import CompareConfig, LayoutConfig
from audit.compare.single import MapCache, score_images
from audit.compare.store import ImageStore
from audit.model.fastgaze import FastGaze
from audit.model.preprocess import prepare_array

PAPER_COMPOSITES = 65_000


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def conv_gflop(net: torch.nn.Module, w: int, h: int) -> float:
    """FLOPs (2 per multiply-add) of the network's convolutions on one ``w`` x ``h`` input."""
    total = 0.0
    for m in net.body:
        if isinstance(m, torch.nn.Conv2d):
            kh, kw = m.kernel_size
            total += 2 * m.in_channels * m.out_channels * kh * kw * w * h
        elif isinstance(m, torch.nn.MaxPool2d):
            w, h = -(-w // 2), -(-h // 2)
    return total / 1e9


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def latency_table(model: FastGaze) -> list[str]:
    rows = ["| input (w x h) | GFLOP | network ms (batch 1, best of 3) | GFLOP/s |",
            "|---|---|---|---|"]
    for w, h in [(320, 320), (320, 240), (320, 213), (320, 160), (320, 107), (320, 54)]:
        x = torch.randn(1, 3, h, w) * 60
        if model.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            model.net(x)
            t = best_of(lambda x=x: model.net(x))
        g = conv_gflop(model.net, w, h)
        rows.append(f"| {w} x {h} | {g:.2f} | {t * 1e3:.0f} | {g / t:.0f} |")
    return rows


def golden_pairs(golden: Path, n: int, seed: int = 0) -> tuple[dict[str, str], list[Job]]:
    files = sorted(p for p in golden.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    paths = {p.stem: str(p) for p in files}
    ids = list(paths)
    rng = np.random.default_rng(seed)
    jobs = []
    for t in range(n):
        a, b = rng.choice(len(ids), 2, replace=False)
        jobs.append(Job(t, 0, "pairwise", t, ("g", "g"), (ids[a], ids[b]), 0))
    return paths, jobs


def roofline(model: FastGaze, sizes: list[tuple[int, int]], batch: int) -> float:
    """Seconds for the network alone on random inputs of these sizes, batched as predict does."""
    by_size: dict[tuple[int, int], int] = {}
    for s in sizes:
        by_size[s] = by_size.get(s, 0) + 1
    batches = []
    for (w, h), count in by_size.items():
        for start in range(0, count, batch):
            x = torch.randn(min(batch, count - start), 3, h, w) * 60
            if model.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            batches.append(x)

    def go() -> None:
        with torch.inference_mode():
            for x in batches:
                model.net(x)
    go()
    return best_of(go, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--composites", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    golden = Path(os.environ.get("AUDIT_GOLDEN_DIR", "../shared/golden"))
    weights = Path(os.environ.get("AUDIT_FASTGAZE_WEIGHTS", "../shared/models/fastgaze.vxm"))
    out: list[str] = []
    say = out.append
    say(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}")

    paths, jobs = golden_pairs(golden, args.composites)
    layout = LayoutConfig()  # the study: no scaling, top-aligned, no padding

    # Preparation: compact exact store vs building the full composite (old path).
    full = ImageStore(paths, layout, max_bytes=2**34)
    t = time.perf_counter()
    for j in jobs:
        prepare_array(compose([full.get(i) for i in j.images], layout).pixels)
    old_cold = time.perf_counter() - t
    old_warm = best_of(lambda: [prepare_array(compose([full.get(i) for i in j.images],
                                                      layout).pixels) for j in jobs], 1)
    store = ImageStore(paths, layout, max_bytes=2**34)
    t = time.perf_counter()
    for i in paths:
        store.prepare([i, i])
    entry_build = time.perf_counter() - t
    new_warm = best_of(lambda: [store.prepare(j.images) for j in jobs], 2)
    prepared = [store.prepare(j.images)[0] for j in jobs]
    sizes = [p.resized_size for p in prepared]
    full_mb = sum(a.nbytes for a in (full.get(i) for i in paths)) / 2**20
    say("")
    say("| preparation (per composite unless noted) | ms |")
    say("|---|---|")
    say(f"| decode + compact entry per image (cold, {len(paths)} images) | "
        f"{entry_build / len(paths) * 1e3:.0f} |")
    say(f"| compact exact store, warm | {new_warm / len(jobs) * 1e3:.1f} |")
    say(f"| full composite + resize (old path), warm | {old_warm / len(jobs) * 1e3:.1f} |")
    say(f"| full composite + resize (old path), cold | {old_cold / len(jobs) * 1e3:.1f} |")
    say(f"\ncached pixels: compact {store.cached_bytes / 2**20:.0f} MiB vs full decodes "
        f"{full_mb:.0f} MiB for the {len(paths)} golden images; fallbacks {store.fallbacks}")
    full = None  # release the full decodes before timing the model

    say("\n| setting | pipeline s | roofline s | pipeline / roofline | composites/s | GFLOP/s |")
    say("|---|---|---|---|---|---|")
    results = {}
    for cl in (False, True):
        model = FastGaze(weights=weights, device="cpu", batch_size=args.batch, channels_last=cl)
        gflop = sum(conv_gflop(model.net, w, h) for w, h in sizes)
        for workers in (0, 1):
            cfg = CompareConfig(chunk_size=32, layout=layout, workers=workers)
            run_jobs(jobs[:4], store=store, model=model, config=cfg, progress=False)
            # Alternate pipeline and roofline, best of 3 each: the machine may be shared.
            pipe = roof = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                run_jobs(jobs, store=store, model=model, config=cfg, progress=False)
                pipe = min(pipe, time.perf_counter() - t)
                roof = min(roof, roofline(model, sizes, args.batch))
            results[(cl, workers)] = (pipe, roof)
            say(f"| channels_last={cl}, workers={workers}, batch {args.batch} | {pipe:.2f} | "
                f"{roof:.2f} | {roof / pipe:.0%} | {len(jobs) / pipe:.2f} | {gflop / pipe:.0f} |")
    best = min(results, key=lambda k: results[k][0])
    pipe, roof = results[best]
    # A pipeline run scores through the cropper layer and also writes records_crops (the
    # fastgaze crop at each ratio, symmetry check, what each crop keeps): same jobs, same model.
    from audit.cropper.base import SaliencyCropper

    model = FastGaze(weights=weights, device="cpu", batch_size=args.batch, channels_last=best[0])
    cfg = CompareConfig(chunk_size=32, layout=layout, workers=best[1])
    with_crops = [SaliencyCropper(model)]
    timed = {"records only (croppers=None)": None, "records + records_crops": with_crops}
    say("\n| same best setting | pipeline s (best of 3, alternated) | composites/s |")
    say("|---|---|---|")
    best_t = {k: float("inf") for k in timed}
    run_jobs(jobs[:4], store=store, model=model, config=cfg, progress=False,
             croppers=with_crops, aspect_ratios=[0.56, 1.0, 1.14, 2.0])
    for _ in range(3):
        for label, croppers in timed.items():
            t = time.perf_counter()
            run_jobs(jobs, store=store, model=model, config=cfg, progress=False,
                     croppers=croppers, aspect_ratios=[0.56, 1.0, 1.14, 2.0])
            best_t[label] = min(best_t[label], time.perf_counter() - t)
    for label, sec in best_t.items():
        say(f"| {label} | {sec:.2f} | {len(jobs) / sec:.2f} |")
    per = pipe / len(jobs)
    decode_per_image = entry_build / len(paths)
    say(f"\nnetwork input per composite: mean {np.mean([w * h for w, h in sizes]) / 1e6:.3f} MP, "
        f"{gflop / len(jobs):.2f} GFLOP")
    for n_images in (len(paths), 3000):
        hours = (PAPER_COMPOSITES * per + n_images * decode_per_image) / 3600
        say(f"projection, paper-size run ({PAPER_COMPOSITES} composites, {n_images} source "
            f"images, best setting channels_last={best[0]} workers={best[1]}): {hours:.2f} h")
    say(f"\nlatency vs input size (channels_last={model.channels_last}):\n")
    out.extend(latency_table(model))

    # saliency_stats: cold vs warm through the per-image cache.
    with tempfile.TemporaryDirectory() as tmp:
        ids = list(paths)
        files = [paths[i] for i in ids]
        shas = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]
        cache = MapCache(Path(tmp))
        t = time.perf_counter()
        score_images(ids, files, shas, model, cache=cache, progress=False)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        score_images(ids, files, shas, model, cache=cache, progress=False)
        warm = time.perf_counter() - t
    say(f"\nsaliency_stats over {len(ids)} images: first {cold:.2f} s, second {warm:.3f} s "
        f"({warm / cold:.1%} of the first)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    say(f"peak RSS (ru_maxrss, this process): {rss:.0f} MiB")
    text = "\n".join(out)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)  # noqa: T201 - a benchmark script reports on stdout


if __name__ == "__main__":
    main()
