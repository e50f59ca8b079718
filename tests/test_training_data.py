from pathlib import Path

import cv2
import numpy as np
import pytest

from model.labels import LABELS
from training.data import DataError, load_any, load_csv, load_folder


def _pixels(value: int) -> str:
    return " ".join([str(value)] * 48 * 48)


def _write_csv(path: Path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_splits_by_usage(tmp_path: Path) -> None:
    f = _write_csv(tmp_path / "fer.csv", [f"3,{_pixels(10)},Training", f"0,{_pixels(20)},PublicTest",
                                           f"6,{_pixels(30)},PrivateTest", f"1,{_pixels(40)},Training"])
    splits = load_csv(f)
    assert splits["train"].labels.tolist() == [3, 1]
    assert splits["val"].labels.tolist() == [0]
    assert splits["test"].images.shape == (1, 48, 48) and splits["test"].images[0, 0, 0] == 30
    assert load_any(f, "test").labels.tolist() == [6]


def test_csv_and_folder_give_the_same_tensors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    labels = [3, 0, 6]
    rows = [f"{lab},{' '.join(map(str, img.ravel()))},Training" for lab, img in zip(labels, imgs, strict=True)]
    from_csv = load_csv(_write_csv(tmp_path / "f.csv", rows))["train"]
    for i, (lab, img) in enumerate(zip(labels, imgs, strict=True)):
        d = tmp_path / "folder" / LABELS[lab]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), img)  # PNG: lossless, so pixels must match exactly
    from_folder = load_folder(tmp_path / "folder")
    order = np.argsort([Path(p).stem for p in from_folder.paths])
    assert np.array_equal(from_folder.images[order], from_csv.images)
    assert from_folder.labels[order].tolist() == labels


@pytest.mark.parametrize(
    ("header", "row", "needle"),
    [
        ("emotion,Usage", "3,Training", "missing column(s) pixels"),
        ("emotion,pixels,Usage", "3,1 2 3,Training", "f.csv:2: 3 pixel values, expected 2304"),
        ("emotion,pixels,Usage", f"9,{_pixels(1)},Training", "f.csv:2: emotion 9 out of range"),
        ("emotion,pixels,Usage", f"x,{_pixels(1)},Training", "emotion 'x' is not an integer"),
        ("emotion,pixels,Usage", f"3,{_pixels(300)},Training", "pixel values must lie in 0..255"),
        ("emotion,pixels,Usage", "3,1 a 3,Training", "space-separated integers"),
        ("emotion,pixels,Usage", f"3,{_pixels(1)},Holdout", "unknown Usage 'Holdout'"),
    ],
)
def test_csv_errors_name_the_row(tmp_path: Path, header: str, row: str, needle: str) -> None:
    f = _write_csv(tmp_path / "f.csv", [row], header=header)
    with pytest.raises(DataError) as err:
        load_csv(f)
    assert needle in str(err.value)


def test_folder_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: unreadable image"):
        load_folder(tmp_path)
    (tmp_path / "happy" / "broken.jpg").unlink()
    (tmp_path / "bored").mkdir()
    with pytest.raises(DataError, match="unknown emotion label 'bored'"):
        load_folder(tmp_path)
    (tmp_path / "bored").rmdir()
    (tmp_path / "happy" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes\.txt: not an image file"):
        load_folder(tmp_path)
