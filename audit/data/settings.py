"""Settings of the data layer (``conf/data/*.yaml``): one dataclass covering every source.

``DataConfig.source`` picks ``synthetic``, ``wikidata`` or ``folder``; fields a source does not use
are ignored. Paths are relative to the project root unless absolute. Range checks run in
``__post_init__`` so that a bad value fails when the config is built, naming its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("synthetic", "wikidata", "folder")
#: Monk Skin Tone scale, tones 1..10 (Google, CC-BY-4.0 reference colours).
MST_TONES = tuple(f"mst{i:02d}" for i in range(1, 11))


@dataclass
class DownloadConfig:
    """How images are fetched from Wikimedia Commons (``data.download``)."""

    width: int | None = None  # None: original files; N: Commons scales to N px wide
    max_bytes: int = 25_000_000  # larger files are recorded as too_large, never fetched
    max_pixels: int = 40_000_000  # decompression-bomb guard, also recorded per file
    concurrency: int = 2  # Wikimedia asks bots to keep parallel requests low
    timeout: float = 60.0  # seconds per read
    deadline: float = 600.0  # seconds per file, all requests, resumes and waits included
    progress: bool = True

    def __post_init__(self) -> None:
        if self.width is not None and self.width < 16:
            raise ValueError(f"data.download.width must be null or >= 16, got {self.width}")
        if self.max_bytes < 1:
            raise ValueError(f"data.download.max_bytes must be >= 1, got {self.max_bytes}")
        if self.max_pixels < 1:
            raise ValueError(f"data.download.max_pixels must be >= 1, got {self.max_pixels}")
        if not 1 <= self.concurrency <= 8:
            raise ValueError(
                f"data.download.concurrency must be between 1 and 8, got {self.concurrency}"
            )
        if self.timeout <= 0:
            raise ValueError(f"data.download.timeout must be > 0, got {self.timeout}")
        if self.deadline <= 0:
            raise ValueError(f"data.download.deadline must be > 0, got {self.deadline}")


@dataclass
class MappingsConfig:
    """Reviewable label-mapping tables (``data.mappings``)."""

    gender: str = "data/mappings/gender.csv"
    ethnicity_to_race: str = "data/mappings/ethnicity_to_race.csv"


@dataclass
class SyntheticConfig:
    """Generator of clearly synthetic portraits (``data.synthetic``)."""

    n_portraits: int = 20  # per tone band (group mode) or in total (counterfactual mode)
    tones: list[str] = field(default_factory=lambda: list(MST_TONES))
    min_side: int = 160
    max_side: int = 360
    seed_offset: int = 0  # shifts the generator's stream without changing the run seed
    counterfactual: bool = False  # True: every portrait rendered in every tone
    cache_dir: str = "data/synthetic"

    def __post_init__(self) -> None:
        if self.n_portraits < 1:
            raise ValueError(f"data.synthetic.n_portraits must be >= 1, got {self.n_portraits}")
        unknown = [t for t in self.tones if t not in MST_TONES]
        if unknown or not self.tones:
            raise ValueError(
                f"data.synthetic.tones must be a non-empty subset of {list(MST_TONES)}, "
                f"got unknown {unknown}"
            )
        if not 64 <= self.min_side <= self.max_side <= 4096:
            raise ValueError(
                "data.synthetic.min_side and max_side need 64 <= min_side <= max_side <= 4096, "
                f"got {self.min_side} and {self.max_side}"
            )


@dataclass
class DataConfig:
    """Where the people table and its images come from (``conf/data/``)."""

    source: str = "synthetic"  # synthetic | wikidata | folder
    group_by: list[str] = field(default_factory=lambda: ["tone_band"])
    min_group_size: int = 100  # smaller groups are dropped with an AuditDataWarning
    # wikidata: ethnic groups (QIDs) with fewer images are dropped before mapping; 1 keeps all,
    # conf/data/wikidata.yaml sets the study's 40
    min_ethnicity_size: int = 1
    # --- wikidata ---
    endpoint: str = "https://query.wikidata.org/sparql"
    commons_api: str = "https://commons.wikimedia.org/w/api.php"
    contact: str = ""  # e-mail or URL put in the User-Agent (Wikimedia policy); fetch needs it
    query_file: str | None = None  # None: the packaged audit/data/queries/people.rq
    limit: int | None = None
    require_occupation: bool = True
    require_loc: bool = True
    query_timeout: float = 120.0  # seconds per read of the query answer
    query_deadline: float = 600.0  # seconds for the whole query, retries included
    query_max_bytes: int = 128 * 2**20  # decoded answer; parsing may take up to 4x this
    api_deadline: float = 300.0  # seconds per Commons API request, retries included
    retries: int = 5
    backoff_factor: float = 1.0
    refresh: bool = False  # True: query again even if a raw response for this query exists
    raw_dir: str = "data/raw"
    table: str = "data/processed/people.parquet"
    images_dir: str = "data/images"
    mappings: MappingsConfig = field(default_factory=MappingsConfig)
    download: DownloadConfig = field(default_factory=DownloadConfig)
    # --- synthetic ---
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    # --- folder ---
    folder: str | None = None
    csv: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"data.source must be one of {list(SOURCES)}, got {self.source!r}")
        if self.min_group_size < 1:
            raise ValueError(f"data.min_group_size must be >= 1, got {self.min_group_size}")
        if self.min_ethnicity_size < 1:
            raise ValueError(
                f"data.min_ethnicity_size must be >= 1, got {self.min_ethnicity_size}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"data.limit must be null or >= 1, got {self.limit}")
        if self.retries < 0:
            raise ValueError(f"data.retries must be >= 0, got {self.retries}")
        if self.backoff_factor < 0:
            raise ValueError(f"data.backoff_factor must be >= 0, got {self.backoff_factor}")
        if self.query_timeout <= 0:
            raise ValueError(f"data.query_timeout must be > 0, got {self.query_timeout}")
        for key in ("query_deadline", "api_deadline"):
            if getattr(self, key) <= 0:
                raise ValueError(f"data.{key} must be > 0, got {getattr(self, key)}")
        if self.query_max_bytes < 1024:
            raise ValueError(f"data.query_max_bytes must be >= 1024, got {self.query_max_bytes}")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError(f"data.group_by has duplicates: {self.group_by}")
