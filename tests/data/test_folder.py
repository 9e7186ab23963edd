from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audit.data import DataConfig, load_people
from audit.data.folder import load_folder_table


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "imgs"
    (images / "sub").mkdir(parents=True)
    (images / "a.jpg").write_bytes(b"AAA")
    (images / "sub" / "b.png").write_bytes(b"BBB")
    (tmp_path / "secret.jpg").write_bytes(b"S")
    return images


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_valid_folder_dataset_loads(folder, tmp_path):
    csv = write_csv(tmp_path / "l.csv", "id,file,group\nx,a.jpg,g1\ny,sub/b.png,g2\n")
    table = load_folder_table(folder, csv, group_by=["group"])
    assert table["image_path"].tolist() == [str(folder / "a.jpg"), str(folder / "sub/b.png")]
    assert table["sha256"].iloc[0] == hashlib.sha256(b"AAA").hexdigest()
    people = load_people(DataConfig(source="folder", folder=str(folder), csv=str(csv),
                                    group_by=["group"], min_group_size=1), root=tmp_path, seed=0)
    assert people.table["group"].tolist() == ["g1", "g2"]
    assert people.provenance["csv_sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()


def test_missing_file_message(folder, tmp_path):
    csv = write_csv(tmp_path / "l.csv", "id,file\nx,a.jpg\ny,nope.jpg\n")
    with pytest.raises(FileNotFoundError) as info:
        load_folder_table(folder, csv)
    assert str(info.value) == f"{csv} names 1 file(s) not found in data.folder={folder}: nope.jpg"


def test_duplicate_id_message(folder, tmp_path):
    csv = write_csv(tmp_path / "l.csv", "id,file\nx,a.jpg\nx,sub/b.png\n")
    with pytest.raises(ValueError) as info:
        load_folder_table(folder, csv)
    assert str(info.value) == f"{csv} has duplicate ids: x; every id must be unique"


def test_missing_columns_message(folder, tmp_path):
    csv = write_csv(tmp_path / "l.csv", "name,file\nx,a.jpg\n")
    with pytest.raises(ValueError) as info:
        load_folder_table(folder, csv, group_by=["race"])
    assert str(info.value) == (
        f"{csv} lacks column(s) ['id', 'race']; it needs id and file plus the data.group_by "
        "columns ['race'] (found ['name', 'file'])")


def test_empty_id_message(folder, tmp_path):
    csv = write_csv(tmp_path / "l.csv", "id,file\n,a.jpg\n")
    with pytest.raises(ValueError) as info:
        load_folder_table(folder, csv)
    assert str(info.value) == f"{csv} has empty id values in row(s) 2; fill them in"


@pytest.mark.parametrize("name", ["../secret.jpg", "sub/../../secret.jpg", "link.jpg", "ABS"])
def test_files_outside_the_folder_are_refused(folder, tmp_path, name):
    (folder / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    if name == "ABS":
        name = str(tmp_path / "secret.jpg")
    csv = write_csv(tmp_path / "l.csv", f"id,file\nx,a.jpg\ny,{name}\n")
    with pytest.raises(ValueError) as info:
        load_folder_table(folder, csv)
    assert str(info.value) == (
        f"{csv} names file(s) outside data.folder={folder} (through '..', an absolute path or a "
        f"symlink): {name}; copy the images into the folder")


def test_missing_folder_and_csv_messages(folder, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_folder_table(tmp_path / "none", tmp_path / "l.csv")
    assert str(info.value) == f"data.folder={tmp_path / 'none'} is not a directory; check the path"
    with pytest.raises(FileNotFoundError) as info:
        load_folder_table(folder, tmp_path / "l.csv")
    assert str(info.value) == f"data.csv={tmp_path / 'l.csv'} does not exist; check the path"
    with pytest.raises(ValueError, match="data=folder needs data.folder"):
        load_people(DataConfig(source="folder", group_by=[]), root=tmp_path, seed=0)
