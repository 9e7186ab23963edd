from __future__ import annotations

import pandas as pd
import pytest

from audit.summarize import main, summarize_runs


def _fake_run(root, sub, overrides, rate):
    run = root / sub
    (run / ".hydra").mkdir(parents=True)
    (run / "tables").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in overrides), encoding="utf-8")
    pd.DataFrame({"group_a": ["x"], "group_b": ["y"], "n": [100], "wins_a": [int(rate * 100)],
                  "rate": [rate], "ci_low": [rate - 0.1], "ci_high": [rate + 0.1]}).to_csv(
        run / "tables" / "win_rates.csv", index=False)


def test_summarize_combines_two_runs(tmp_path):
    _fake_run(tmp_path, "0", ["seed=0", "compare.n_trials=8"], 0.6)
    _fake_run(tmp_path, "1", ["seed=1"], 0.4)
    (tmp_path / "stray").mkdir()
    assert main([str(tmp_path), "--dpi", "40"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv", dtype={"run_dir": str})
    assert summary["overrides"].tolist() == ["seed=0,compare.n_trials=8", "seed=1"]
    assert summary["rate"].tolist() == [0.6, 0.4]
    assert summary["run_dir"].tolist() == ["0", "1"]
    assert pd.read_parquet(tmp_path / "summary.parquet").shape == summary.shape
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_summarize_errors_clearly_when_nothing_found(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no run folders under"):
        summarize_runs(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path)])
    assert exc.value.code == 2
    assert "overrides.yaml" in capsys.readouterr().err
