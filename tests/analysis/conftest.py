from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_pairwise_records(
    spec: dict[tuple[str, str], tuple[int, int, int, int]], *, first_extra: int = 0
) -> pd.DataFrame:
    """Counterbalanced records by hand (records.md schema, the columns analysis needs).

    spec maps (group_a, group_b) -> (trials, wins of group_a when first, wins of group_a when
    second, background composites). Each trial makes two rows (order 0: A left; order 1: A
    right), same image A in both orders.
    """
    rows = []
    trial = 0
    for (ga, gb), (n_trials, wins_first, wins_second, n_bg) in spec.items():
        for t in range(n_trials):
            for order in (0, 1):
                wins = wins_first if order == 0 else wins_second
                outcome = "a" if t < wins else "b"
                if order == 1 and t < n_bg:
                    outcome = "background"
                rows.append({
                    "trial": trial, "order": order, "design": "pairwise",
                    "group_a": ga, "group_b": gb,
                    "image_a": f"{ga}_{t % 7}", "image_b": f"{gb}_{t % 5}",
                    "position_a": "left" if order == 0 else "right", "outcome": outcome,
                })
            trial += 1
    frame = pd.DataFrame(rows)
    frame["order"] = frame["order"].astype("int8")
    frame["a_wins"] = pd.array(
        np.where(frame["outcome"] == "a", 1, np.where(frame["outcome"] == "b", 0, -1)),
        dtype="Int8",
    )
    frame.loc[frame["a_wins"] == -1, "a_wins"] = pd.NA
    return frame


@pytest.fixture
def make_records():
    return make_pairwise_records


@pytest.fixture
def pairwise_records() -> pd.DataFrame:
    return make_pairwise_records({
        ("black_female", "white_female"): (50, 30, 25, 2),
        ("white_male", "black_male"): (40, 20, 10, 0),
    })
