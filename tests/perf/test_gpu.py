"""CUDA and CPU give the same winners on a fixed set of composites (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audit.compare.runner import run_jobs
from audit.compare.sampling import plan_pairwise
from audit.compare.settings import CompareConfig
from audit.compare.store import ImageStore

from .conftest import RandomGaze

#: CPU and CUDA kernels sum in different orders (FastGaze turns TF32 off on CUDA), so scores
#: may differ in the last bits; outcomes and points must not.
GPU_SCORE_TOLERANCE = 1e-2

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _records(paths, members, device: str) -> pd.DataFrame:
    config = CompareConfig(chunk_size=8)
    jobs = plan_pairwise(members, n_trials=4, baseline_trials=2, seed=5)
    frames = run_jobs(jobs, store=ImageStore(paths, config.layout),
                      model=RandomGaze(device=device, batch_size=8), config=config,
                      progress=False)
    return pd.concat(frames, ignore_index=True)


def test_cuda_and_cpu_pick_the_same_winners(small_people):
    paths, members = small_people
    cpu, gpu = _records(paths, members, "cpu"), _records(paths, members, "cuda")
    assert (cpu["outcome"] != "error").all() and (gpu["outcome"] != "error").all()
    assert list(cpu["outcome"]) == list(gpu["outcome"])
    np.testing.assert_array_equal(cpu[["point_x", "point_y"]], gpu[["point_x", "point_y"]])
    np.testing.assert_allclose(cpu["score_max"], gpu["score_max"], atol=GPU_SCORE_TOLERANCE)
