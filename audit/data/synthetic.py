"""Generate clearly synthetic cartoon portraits with skin colours from the Monk Skin Tone scale.

Input: :class:`~audit.data.settings.SyntheticConfig` and a seed. Output: PNG files cached under
``<cache_dir>/<config-hash>/`` and a table with ``id, image_path, sha256, skin_tone, tone_band,
hair, portrait`` and geometry columns. These images are drawings, not photos of people.

Each portrait is first drawn as a *label map* (background, skin, hair, eyes, mouth, clothing, ...)
and then coloured through a palette. Two renders of one portrait in different tones therefore
differ only where the label is skin (:func:`render_portrait` returns that mask), which is what
the counterfactual design needs. Group-level sets draw every portrait independently from the same
distributions, with tone bands and hair styles exactly balanced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from audit.data.settings import MST_TONES, SyntheticConfig

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1  # bump when drawing changes, so caches are not reused
#: Monk Skin Tone reference colours, MST 1..10 (Ellis Monk / Google, skintone.google).
MST_HEX = dict(zip(MST_TONES, (
    "f6ede4", "f3e7db", "f7ead0", "eadaba", "d7bd96",
    "a07e56", "825c43", "604134", "3a312a", "292420",
), strict=True))
#: Tone bands used as groups: light = MST 1-3, medium = 4-7, dark = 8-10.
TONE_BANDS = {
    "light": ("mst01", "mst02", "mst03"),
    "medium": ("mst04", "mst05", "mst06", "mst07"),
    "dark": ("mst08", "mst09", "mst10"),
}
HAIR_STYLES = ("short", "long")
SYNTHETIC_COLUMNS = (
    "id", "image_path", "sha256", "skin_tone", "tone_band", "skin_hex", "hair", "portrait",
    "width", "height", "head_x", "head_y", "head_rx", "head_ry",
)

# Region labels of the label map; only SKIN and SKIN_SHADE take the tone's colour.
BG, SKIN, SKIN_SHADE, HAIR, EYE_WHITE, PUPIL, MOUTH, CLOTHES, TRIM = range(9)
_HAIR_COLOURS = ((24, 20, 18), (74, 48, 30), (150, 110, 60), (200, 170, 110), (120, 120, 125),
                 (140, 60, 30))
_CLOTHES_COLOURS = ((40, 70, 140), (30, 110, 80), (150, 40, 50), (90, 90, 100), (200, 160, 40),
                    (110, 60, 140), (230, 230, 230))
_BG_COLOURS = ((180, 200, 220), (210, 210, 200), (160, 190, 160), (220, 190, 170),
               (120, 130, 150), (235, 235, 240))


def tone_band(tone: str) -> str:
    """Band (``light|medium|dark``) of an MST tone name (``mst01``..``mst10``)."""
    for band, tones in TONE_BANDS.items():
        if tone in tones:
            return band
    raise ValueError(f"unknown skin tone {tone!r}; expected one of {list(MST_TONES)}")


def hex_rgb(value: str) -> tuple[int, int, int]:
    """``"a07e56"`` -> ``(160, 126, 86)``."""
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@dataclass(frozen=True)
class PortraitParams:
    """Everything about a portrait except its skin tone (pixel units, x right, y down)."""

    width: int
    height: int
    head_x: float
    head_y: float
    head_rx: float
    head_ry: float
    hair: str
    hair_colour: tuple[int, int, int]
    clothes_colour: tuple[int, int, int]
    bg_top: tuple[int, int, int]
    bg_bottom: tuple[int, int, int]
    gaze: float  # pupil offset as a fraction of the eye width
    shoulder_scale: float
    mouth_scale: float


@dataclass(frozen=True)
class Rendered:
    """One rendered portrait.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), uint8
        RGB pixels.
    skin_mask : ndarray, shape (H, W), bool
        Pixels whose colour depends on the skin tone.
    labels : ndarray, shape (H, W), uint8
        Region label of every pixel.
    """

    image: npt.NDArray[np.uint8]
    skin_mask: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.uint8]


def draw_params(
    rng: np.random.Generator, *, hair: str, min_side: int, max_side: int
) -> PortraitParams:
    """Draw one portrait's tone-independent parameters."""
    width = int(rng.integers(min_side, max_side + 1))
    height = int(rng.integers(min_side, max_side + 1))
    base = min(width, height)
    rx = base * float(rng.uniform(0.12, 0.19))
    ry = rx * float(rng.uniform(1.15, 1.35))
    margin_x = rx * 1.3 + 2
    hx = float(np.clip(width / 2 + rng.uniform(-0.22, 0.22) * width, margin_x, width - margin_x))
    hy = float(np.clip(height * rng.uniform(0.28, 0.45), ry * 1.2 + 2, height - ry * 2.2))
    pick = rng.integers
    return PortraitParams(
        width=width, height=height, head_x=hx, head_y=hy, head_rx=rx, head_ry=ry, hair=hair,
        hair_colour=_HAIR_COLOURS[int(pick(len(_HAIR_COLOURS)))],
        clothes_colour=_CLOTHES_COLOURS[int(pick(len(_CLOTHES_COLOURS)))],
        bg_top=_BG_COLOURS[int(pick(len(_BG_COLOURS)))],
        bg_bottom=_BG_COLOURS[int(pick(len(_BG_COLOURS)))],
        gaze=float(rng.uniform(-0.25, 0.25)),
        shoulder_scale=float(rng.uniform(2.2, 3.0)),
        mouth_scale=float(rng.uniform(0.35, 0.6)),
    )


def _label_map(p: PortraitParams) -> npt.NDArray[np.uint8]:
    canvas = Image.new("L", (p.width, p.height), BG)
    draw = ImageDraw.Draw(canvas)  # mode "L" draws without anti-aliasing: labels stay exact
    x, y, rx, ry = p.head_x, p.head_y, p.head_rx, p.head_ry
    if p.hair == "long":  # hair behind head and shoulders
        draw.rounded_rectangle((x - rx * 1.25, y - ry * 0.4, x + rx * 1.25, y + ry * 2.0),
                               radius=rx * 0.5, fill=HAIR)
        draw.ellipse((x - rx * 1.2, y - ry * 1.15, x + rx * 1.2, y + ry * 0.6), fill=HAIR)
    sw = rx * p.shoulder_scale
    draw.rounded_rectangle((x - sw, y + ry * 1.35, x + sw, p.height + rx * 2),
                           radius=rx * 0.9, fill=CLOTHES)
    draw.rectangle((x - rx * 0.42, y + ry * 0.55, x + rx * 0.42, y + ry * 1.45), fill=SKIN_SHADE)
    draw.polygon([(x - rx * 0.5, y + ry * 1.35), (x, y + ry * 1.75), (x + rx * 0.5, y + ry * 1.35)],
                 fill=SKIN_SHADE)  # collar opening
    draw.line([(x - rx * 0.5, y + ry * 1.35), (x, y + ry * 1.75), (x + rx * 0.5, y + ry * 1.35)],
              fill=TRIM, width=max(2, int(rx * 0.08)))
    if p.hair == "short":
        draw.ellipse((x - rx * 1.08, y - ry * 1.12, x + rx * 1.08, y + ry * 0.2), fill=HAIR)
        for side in (-1, 1):  # ears show with short hair only
            draw.ellipse((x + side * rx * 0.92 - rx * 0.16, y - ry * 0.15,
                          x + side * rx * 0.92 + rx * 0.16, y + ry * 0.2), fill=SKIN)
    draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=SKIN)
    draw.chord((x - rx * 1.04, y - ry * 1.06, x + rx * 1.04, y + ry * 0.5), 195, 345, fill=HAIR)
    ew, eh = rx * 0.22, ry * 0.09
    for side in (-1, 1):
        ex, ey = x + side * rx * 0.4, y - ry * 0.05
        draw.ellipse((ex - ew, ey - eh, ex + ew, ey + eh), fill=EYE_WHITE)
        px, pr = ex + p.gaze * ew, eh * 0.9
        draw.ellipse((px - pr, ey - pr, px + pr, ey + pr), fill=PUPIL)
        draw.line([(ex - ew, ey - eh * 2.6), (ex + ew, ey - eh * 2.9)], fill=HAIR,
                  width=max(1, int(rx * 0.06)))
    draw.line([(x, y + ry * 0.0), (x - rx * 0.08, y + ry * 0.25), (x + rx * 0.04, y + ry * 0.27)],
              fill=SKIN_SHADE, width=max(1, int(rx * 0.05)))
    mw, mh = rx * p.mouth_scale, ry * 0.07
    draw.ellipse((x - mw / 2, y + ry * 0.48 - mh, x + mw / 2, y + ry * 0.48 + mh), fill=MOUTH)
    return np.asarray(canvas, dtype=np.uint8)


def render_portrait(params: PortraitParams, tone: str) -> Rendered:
    """Colour a portrait's label map with skin tone ``tone`` (``mst01``..``mst10``).

    Returns
    -------
    Rendered
        Image, skin mask and labels. For fixed ``params`` only pixels in ``skin_mask`` change
        with ``tone``.
    """
    if tone not in MST_HEX:
        raise ValueError(f"unknown skin tone {tone!r}; expected one of {list(MST_TONES)}")
    labels = _label_map(params)
    skin = np.array(hex_rgb(MST_HEX[tone]), dtype=np.float64)
    palette = np.zeros((9, 3), dtype=np.uint8)
    palette[SKIN] = skin.round().astype(np.uint8)
    palette[SKIN_SHADE] = (skin * 0.82).round().astype(np.uint8)
    palette[HAIR] = params.hair_colour
    palette[EYE_WHITE] = (245, 245, 240)
    palette[PUPIL] = (30, 30, 35)
    palette[MOUTH] = (150, 50, 60)
    palette[CLOTHES] = params.clothes_colour
    palette[TRIM] = tuple(int(c * 0.6) for c in params.clothes_colour)
    image = palette[labels]
    t = np.linspace(0.0, 1.0, params.height)[:, None, None]
    gradient = (np.array(params.bg_top) * (1 - t) + np.array(params.bg_bottom) * t)
    gradient = np.broadcast_to(gradient.round().astype(np.uint8), image.shape)
    background = labels == BG
    image[background] = gradient[background]
    return Rendered(image=image, skin_mask=np.isin(labels, (SKIN, SKIN_SHADE)), labels=labels)


def _rng(seed: int, config: SyntheticConfig) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(config.seed_offset), 7]))


def plan_portraits(config: SyntheticConfig, *, seed: int) -> pd.DataFrame:
    """Decide every image to render (no drawing).

    Group mode (``counterfactual=False``): for each tone band present in ``config.tones``,
    ``n_portraits`` independent portraits; tones cycle through the band's tones and hair
    alternates short/long, so bands and hair styles are balanced. Counterfactual mode:
    ``n_portraits`` portraits, each rendered in every tone of ``config.tones``.

    Returns
    -------
    pd.DataFrame
        Columns ``id, portrait, skin_tone, tone_band, hair, params`` (params: PortraitParams).
    """
    rng = _rng(seed, config)
    rows = []
    draw = {"min_side": config.min_side, "max_side": config.max_side}
    if config.counterfactual:
        for i in range(config.n_portraits):
            hair = HAIR_STYLES[i % 2]
            params = draw_params(rng, hair=hair, **draw)
            for tone in config.tones:
                rows.append({"id": f"p{i:03d}_{tone}", "portrait": f"p{i:03d}",
                             "skin_tone": tone, "tone_band": tone_band(tone), "hair": hair,
                             "params": params})
    else:
        for band, band_tones in TONE_BANDS.items():
            tones = [t for t in band_tones if t in config.tones]
            if not tones:
                continue
            for i in range(config.n_portraits):
                hair = HAIR_STYLES[i % 2]
                params = draw_params(rng, hair=hair, **draw)
                ident = f"{band}_{i:03d}"
                rows.append({"id": ident, "portrait": ident, "skin_tone": tones[i % len(tones)],
                             "tone_band": band, "hair": hair, "params": params})
    return pd.DataFrame(rows)


def config_hash(config: SyntheticConfig, *, seed: int) -> str:
    """Short hash of everything that changes the images (names the cache folder)."""
    key = asdict(config)
    key.pop("cache_dir")
    key.update(seed=int(seed), version=GENERATOR_VERSION)
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _png_bytes(image: npt.NDArray[np.uint8]) -> bytes:
    import io

    info = PngInfo()
    info.add_text("Comment", "Synthetic drawing made by cropaudit; not a photo of a person.")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generate_synthetic(config: SyntheticConfig, *, root: Path, seed: int) -> pd.DataFrame:
    """Render (or reuse cached) synthetic portraits and return their table.

    Parameters
    ----------
    config : SyntheticConfig
        Generator settings.
    root : Path
        Project root; ``config.cache_dir`` is relative to it unless absolute.
    seed : int
        Run seed; same seed and config give byte-identical PNGs.

    Returns
    -------
    pd.DataFrame
        Columns :data:`SYNTHETIC_COLUMNS`; ``image_path`` absolute; ``head_*`` give the head
        ellipse (centre and radii, pixels, x first).
    """
    folder = Path(root) / config.cache_dir / config_hash(config, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.json"
    known: dict[str, str] = {}
    if index_path.is_file():
        known = json.loads(index_path.read_text(encoding="utf-8"))
    plan = plan_portraits(config, seed=seed)
    rows = []
    n_rendered = 0
    for rec in plan.to_dict("records"):
        path = folder / f"{rec['id']}.png"
        p: PortraitParams = rec["params"]
        digest = known.get(rec["id"])
        if digest is None or not path.is_file() or _sha256(path.read_bytes()) != digest:
            data = _png_bytes(render_portrait(p, rec["skin_tone"]).image)
            _write_atomic(path, data)
            digest = _sha256(data)
            n_rendered += 1
        rows.append({
            "id": rec["id"], "image_path": str(path.resolve()), "sha256": digest,
            "skin_tone": rec["skin_tone"], "tone_band": rec["tone_band"],
            "skin_hex": MST_HEX[rec["skin_tone"]], "hair": rec["hair"],
            "portrait": rec["portrait"], "width": p.width, "height": p.height,
            "head_x": p.head_x, "head_y": p.head_y, "head_rx": p.head_rx, "head_ry": p.head_ry,
        })
    table = pd.DataFrame(rows, columns=list(SYNTHETIC_COLUMNS))
    if n_rendered:
        index = dict(zip(table["id"], table["sha256"], strict=True))
        _write_atomic(index_path, json.dumps(index, indent=1, sort_keys=True).encode())
    log.info("Synthetic portraits in %s: %d rendered, %d reused", folder, n_rendered,
             len(table) - n_rendered)
    return table


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
