"""Face-detector recall per Monk Skin Tone on the synthetic portraits (issue 12 §4).

Every portrait is drawn once and rendered in each of the ten MST tones (the generator's
counterfactual mode), so tones differ only in skin pixels: a recall that changes with the tone is
the detector's bias, not the sample's. A face counts as found when a detected box holds the
generator's head centre and its width is between 0.5 and 3 times the drawn head's width. Every
detector whose model ships inside an installed package is measured (nothing downloads).

Run ``python bench/detectors.py [--portraits 60]``; prints a Markdown table (recall per MST
tone, per band, the worst-to-best band ratio) for ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from audit.data.settings import MST_TONES, SyntheticConfig
from audit.data.synthetic import TONE_BANDS, _rng, draw_params, render_portrait
from audit.gaze.faces import DETECTORS, make_detector

log = logging.getLogger("bench.detectors")
#: A detector qualifies as the head judge when every tone band's recall is at least this ...
QUALIFY_RECALL = 0.8
#: ... and the worst band's recall is at least this share of the best band's.
QUALIFY_RATIO = 0.9


def found(boxes: list, p: object) -> bool:
    """Whether one box holds the drawn head centre at a plausible size."""
    width = 2 * p.head_rx
    return any(b.contains(p.head_x, p.head_y) and 0.5 * width <= b.width <= 3 * width
               for b in boxes)


def measure(n_portraits: int, seed: int) -> dict[str, dict[str, float]]:
    """Recall per detector and tone, plus false boxes per image and seconds per image."""
    config = SyntheticConfig(n_portraits=n_portraits, counterfactual=True)
    rng = _rng(seed, config)
    params = [draw_params(rng, hair=("short", "long")[i % 2], min_side=config.min_side,
                          max_side=config.max_side) for i in range(n_portraits)]
    renders = {t: [render_portrait(p, t).image for p in params] for t in MST_TONES}
    out: dict[str, dict[str, float]] = {}
    for name in DETECTORS:
        det = make_detector(name)
        row: dict[str, float] = {}
        false_boxes = 0
        start = time.perf_counter()
        for tone in MST_TONES:
            hits = 0
            for p, img in zip(params, renders[tone], strict=True):
                boxes = det.detect(img)
                ok = found(boxes, p)
                hits += ok
                false_boxes += len(boxes) - int(ok)
            row[tone] = hits / n_portraits
        row["seconds_per_image"] = (time.perf_counter() - start) / (10 * n_portraits)
        row["false_per_image"] = false_boxes / (10 * n_portraits)
        for band, tones in TONE_BANDS.items():
            row[band] = float(np.mean([row[t] for t in tones]))
        bands = [row[b] for b in TONE_BANDS]
        row["min_band"] = min(bands)
        row["band_ratio"] = min(bands) / max(bands) if max(bands) > 0 else float("nan")
        row["qualifies"] = float(min(bands) >= QUALIFY_RECALL
                                 and row["band_ratio"] >= QUALIFY_RATIO)
        out[name] = row
        log.info("%s: %s", name, {k: round(v, 3) for k, v in row.items()})
    return out


def markdown(results: dict[str, dict[str, float]], n: int) -> str:
    """The results as a Markdown table."""
    tones = list(MST_TONES)
    head = ["detector", *[t.replace("mst", "MST ") for t in tones], "light", "medium", "dark",
            "dark/light", "false/img", "s/img", "qualifies"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [name, *[f"{r[t]:.2f}" for t in tones],
                 *[f"{r[b]:.2f}" for b in TONE_BANDS],
                 f"{r['dark'] / r['light']:.2f}" if r["light"] else "n/a",
                 f"{r['false_per_image']:.2f}", f"{r['seconds_per_image']:.3f}",
                 "yes" if r["qualifies"] else "no"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"\n{n} portraits × 10 tones = {10 * n} images per detector. Qualifies: "
                 f"recall >= {QUALIFY_RECALL} in every band and worst/best band >= "
                 f"{QUALIFY_RATIO}.")
    return "\n".join(lines)


def main() -> None:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portraits", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(markdown(measure(args.portraits, args.seed), args.portraits))


if __name__ == "__main__":
    main()
