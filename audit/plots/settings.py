"""Settings for figures (``conf/plots/``): file formats, resolution and seaborn context."""

from __future__ import annotations

from dataclasses import dataclass, field

FORMATS = ("png", "pdf", "svg")
CONTEXTS = ("paper", "notebook", "talk", "poster")


@dataclass
class PlotsConfig:
    """How figures are drawn and saved (conf/plots/)."""

    formats: list[str] = field(default_factory=lambda: ["png", "pdf"])
    dpi: int = 150
    # seaborn plotting context: paper | notebook | talk | poster (font and line scale)
    context: str = "paper"

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FORMATS]
        if bad or not self.formats:
            raise ValueError(f"plots.formats must be a non-empty subset of {list(FORMATS)}, "
                             f"got {self.formats}")  # fmt: skip
        if not 10 <= self.dpi <= 1200:
            raise ValueError(f"plots.dpi must be in [10, 1200], got {self.dpi}")
        if self.context not in CONTEXTS:
            raise ValueError(f"plots.context must be one of {list(CONTEXTS)}, got {self.context!r}")
