"""python -m audit.analyse: re-analysis of a run folder and of a bare records table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from audit import analyse
from audit.config import AuditConfig
from audit.io import write_table


def _records(seed: int = 0, *, swap: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    trial = 0
    for ga, gb in (("dark", "light"), ("dark", "medium"), ("light", "medium")):
        for _ in range(60):
            ia, ib = f"{ga}{rng.integers(0, 12)}", f"{gb}{rng.integers(0, 12)}"
            for order in (0, 1) if swap else (0,):
                rows.append({"trial": trial, "order": order, "design": "pairwise",
                             "group_a": ga, "group_b": gb, "image_a": ia, "image_b": ib,
                             "position_a": "left" if order == 0 else "right",
                             "outcome": rng.choice(["a", "b", "b", "background"])})
            trial += 1
    return pd.DataFrame(rows)


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    settings = OmegaConf.structured(AuditConfig(name="demo"))
    settings.compare.design = "pairwise"
    settings.plots.formats = ["png"]
    (folder / "tables").mkdir(parents=True)
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(settings))
    write_table(folder / "records", _records())
    write_table(folder / "tables" / "groups", pd.DataFrame({"group": ["dark", "light",
                                                                       "medium"]}))
    (folder / "manifest.json").write_text("{}")  # written last by every finished run
    return folder


def test_reanalysis_writes_into_analyses_and_leaves_the_run_alone(run_dir):
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert analyse.main([str(run_dir), "analysis.margin=0.1"]) == 0
    (out,) = (run_dir / "analyses").iterdir()
    rates = pd.read_csv(out / "tables" / "win_rates.csv")
    for col in ("group_a", "group_b", "n", "rate", "ci_low", "ci_high", "p_value", "p_adjusted",
                "n_trials", "n_images_a", "n_images_b", "n_eff", "deff", "se", "inference",
                "family", "margin", "verdict", "favoured"):
        assert col in rates.columns, col
    assert (rates["inference"] == "dyadic").all() and (rates["margin"] == 0.1).all()
    assert set(rates["verdict"]) <= {"disparity", "parity", "inconclusive"}
    # 60 trials per pair, both orders; a trial counts if one of its orders was decided
    assert rates["n_trials"].between(40, 60).all() and (rates["n"] <= 2 * rates["n_trials"]).all()
    for name in ("bradley_terry", "bradley_terry_predictions", "power", "position"):
        assert (out / "tables" / f"{name}.csv").is_file(), name
    assert (out / "report.md").read_text().count("win_rates") >= 1
    assert {p: p.read_bytes() for p in before} == before  # nothing of the run changed


def test_records_input_matches_run_analysis_and_flags_unswapped_positions(tmp_path):
    path = tmp_path / "recs.csv"
    _records(swap=False).to_csv(path, index=False)
    assert analyse.main(["--records", str(path), "--out", str(tmp_path / "out"),
                         "analysis.inference=independent"]) == 0
    rates = pd.read_csv(tmp_path / "out" / "tables" / "win_rates.csv")
    assert (rates["inference"] == "independent").all()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "positions were never swapped within a pair" in report


@pytest.mark.parametrize(("drop", "bad", "needle"), [
    ("image_b", None, "missing column 'image_b'"),
    (None, ("outcome", "left"), "column 'outcome' has a wrong value 'left'"),
    (None, ("position_a", "middle"), "column 'position_a' has a wrong value 'middle'"),
])
def test_bad_records_give_one_line_naming_the_column(tmp_path, capsys, drop, bad, needle):
    frame = _records()
    if drop:
        frame = frame.drop(columns=drop)
    if bad:
        frame.loc[3, bad[0]] = bad[1]
    path = tmp_path / "recs.parquet"
    frame.to_parquet(path)
    assert analyse.main(["--records", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_only_analysis_keys_can_be_overridden(run_dir, capsys):
    assert analyse.main([str(run_dir), "compare.n_trials=5"]) == 1
    assert "only analysis.key=value" in capsys.readouterr().err
    assert analyse.main([str(run_dir), "analysis.inference=exact"]) == 1
    assert "analysis.inference" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["marker", "no_manifest"])
def test_incomplete_run_folders_are_refused_by_name(run_dir, capsys, damage):
    if damage == "marker":
        (run_dir / "RUNNING").write_text("pid 1")
    else:
        (run_dir / "manifest.json").unlink()
    assert analyse.main([str(run_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run_dir) in err[0] and "incomplete run" in err[0]
    assert not (run_dir / "analyses").exists()


def test_two_analyses_in_one_second_get_two_folders(run_dir):
    assert analyse.main([str(run_dir)]) == 0
    assert analyse.main([str(run_dir), "analysis.margin=0.1"]) == 0
    folders = sorted((run_dir / "analyses").iterdir())
    assert len(folders) == 2
    margins = {float(pd.read_csv(f / "tables" / "win_rates.csv")["margin"].iloc[0])
               for f in folders}
    assert margins == {0.05, 0.1}
