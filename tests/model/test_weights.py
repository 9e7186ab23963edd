from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from audit.exceptions import WeightsError
from audit.model.weights import ENV_VAR, PINNED_SHA256, resolve_weights

REAL = Path("/work/shared/models/fastgaze.vxm")
FAKE = b"\x01tPM" + b"not really a model" * 10
FAKE_SHA = hashlib.sha256(FAKE).hexdigest()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def test_explicit_path_is_verified_and_returned(tmp_path):
    path = tmp_path / "w.vxm"
    path.write_bytes(FAKE)
    assert resolve_weights(path, sha256=FAKE_SHA, download=False) == path


def test_explicit_path_with_wrong_hash_names_both_hashes(tmp_path):
    path = tmp_path / "w.vxm"
    path.write_bytes(b"other")
    with pytest.raises(WeightsError) as info:
        resolve_weights(path, sha256=FAKE_SHA, download=False)
    message = str(info.value)
    assert f"model.weights {path} has SHA-256 {hashlib.sha256(b'other').hexdigest()}" in message
    assert f"expected {FAKE_SHA}" in message
    assert "model.weights=PATH" in message and f"{ENV_VAR}=PATH" in message


def test_environment_variable_is_used(tmp_path, monkeypatch):
    path = tmp_path / "env.vxm"
    path.write_bytes(FAKE)
    monkeypatch.setenv(ENV_VAR, str(path))
    assert resolve_weights(sha256=FAKE_SHA, download=False) == path


@pytest.mark.skipif(not REAL.is_file(), reason="shared copy of fastgaze.vxm not present")
def test_real_file_matches_pinned_hash(monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(REAL))
    assert resolve_weights(download=False) == REAL
    assert PINNED_SHA256 == "b76cefc218ec8969cc62b26ad0f41111800421287e7f2725d808da1d90afbdf7"


def test_download_into_xdg_cache_then_reuse(httpserver: HTTPServer, tmp_path):
    httpserver.expect_request("/fastgaze.vxm").respond_with_data(FAKE)
    url = httpserver.url_for("/fastgaze.vxm")
    path = resolve_weights(url=url, sha256=FAKE_SHA, progress=False)
    assert path == tmp_path / "xdg" / "cropaudit" / "fastgaze.vxm"
    assert path.read_bytes() == FAKE
    assert resolve_weights(url=url, sha256=FAKE_SHA, download=False) == path
    assert len(httpserver.log) == 1


def test_download_with_wrong_hash_fails_and_leaves_nothing(httpserver: HTTPServer, tmp_path):
    httpserver.expect_request("/fastgaze.vxm").respond_with_data(b"tampered")
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="Could not download the FastGaze weights") as info:
        resolve_weights(cache_dir=cache, url=httpserver.url_for("/fastgaze.vxm"),
                        sha256=FAKE_SHA, progress=False)
    assert f"put the file at {cache / 'fastgaze.vxm'}" in str(info.value)
    assert list(cache.iterdir()) == []


def test_offline_error_names_the_three_ways(tmp_path):
    # Port 9 on localhost (discard) is closed: connection refused, like being offline.
    with pytest.raises(WeightsError) as info:
        resolve_weights(cache_dir=tmp_path, url="http://127.0.0.1:9/fastgaze.vxm",
                        sha256=FAKE_SHA, retries=0, progress=False)
    message = str(info.value)
    for part in ("model.weights=PATH", f"{ENV_VAR}=PATH", str(tmp_path / "fastgaze.vxm"),
                 "http://127.0.0.1:9/fastgaze.vxm", FAKE_SHA):
        assert part in message


def test_no_download_and_nothing_local_raises(tmp_path):
    with pytest.raises(WeightsError, match="downloading is switched off"):
        resolve_weights(cache_dir=tmp_path, download=False)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(WeightsError, match=r"model.weights=.*nope.vxm does not exist"):
        resolve_weights(tmp_path / "nope.vxm")
