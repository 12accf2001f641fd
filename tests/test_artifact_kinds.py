"""Artifacts stored as ClearML stores them: an image as PNG, an array as .npy, a DataFrame as
.csv.gz, a folder or a wildcard pattern as one zip; ``get()`` gives the same kind back."""
from __future__ import annotations

import gzip
import os
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import write_files
from localtask import ArtifactError, Task


@pytest.fixture
def task(localtask_home):
    task = Task.init(project_name="proj", task_name="artifact-kinds")
    yield task
    task.close()


def fresh(task: Task) -> dict:
    """The artifacts as another reader sees them: a new Task object, rows from the database."""
    return Task.get_task(task.id).artifacts


def test_pil_image_is_a_png_and_comes_back_as_an_image(task):
    rgb = Image.new("RGB", (7, 5), (10, 20, 30))
    rgb.putpixel((3, 2), (255, 0, 128))
    gray = Image.new("L", (4, 4), 200)
    rgba = Image.new("RGBA", (2, 3), (1, 2, 3, 4))
    for name, image in (("rgb", rgb), ("gray", gray), ("rgba", rgba)):
        task.upload_artifact(name, image)
    arts = fresh(task)
    for name, image in (("rgb", rgb), ("gray", gray), ("rgba", rgba)):
        art = arts[name]
        assert art.type == "image"
        local = Path(art.get_local_copy())
        assert local.name == f"{name}.png"
        assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        back = art.get()
        assert isinstance(back, Image.Image)
        assert (back.mode, back.size) == (image.mode, image.size)
        assert back.tobytes() == image.tobytes()  # PNG is lossless
        assert art.metadata["size"] == list(image.size) and art.metadata["mode"] == image.mode


def test_an_image_png_cannot_hold_is_refused_clearly(task):
    with pytest.raises(ArtifactError, match="mode CMYK.*convert"):
        task.upload_artifact("cmyk", Image.new("CMYK", (2, 2)))
    assert task.artifacts == {}


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.int32).reshape(3, 4),
    np.array([0.5, np.nan, -np.inf]),
    np.zeros((2, 0, 3), dtype=np.float16),
    np.array([True, False]),
    np.array(["ab", "ü"]),
    np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    np.asfortranarray(np.arange(6).reshape(2, 3)),
], ids=["int2d", "special-floats", "empty", "bool", "unicode", "structured", "fortran"])
def test_numpy_array_is_npy_and_comes_back_equal(task, array):
    task.upload_artifact("arr", array)
    art = fresh(task)["arr"]
    assert art.type == "numpy"
    assert Path(art.get_local_copy()).name == "arr.npy"
    assert Path(art.get_local_copy()).read_bytes()[:6] == b"\x93NUMPY"
    back = art.get()
    assert isinstance(back, np.ndarray)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert art.metadata["shape"] == list(array.shape)


def test_object_arrays_and_numpy_scalars_are_pickled_not_npy(task):
    objects = np.array([{"a": 1}, None], dtype=object)
    task.upload_artifact("objects", objects)
    task.upload_artifact("scalar", np.float32(1.5))
    arts = fresh(task)
    assert arts["objects"].type == "pickle" and arts["scalar"].type == "pickle"
    assert list(arts["objects"].get()) == [{"a": 1}, None]
    back = arts["scalar"].get()
    assert type(back) is np.float32 and back == np.float32(1.5)


def test_dataframe_is_csv_gzip_and_comes_back_as_a_dataframe(task):
    frame = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.5, 0.25, 0.125], "name": ["a", "b", "ü"],
                          "ok": [True, False, True]}, index=pd.Index([10, 20, 30], name="step"))
    task.upload_artifact("history", frame)
    art = fresh(task)["history"]
    assert art.type == "pandas"
    local = Path(art.get_local_copy())
    assert local.name == "history.csv.gz"
    with gzip.open(local, "rt", encoding="utf-8") as fh:  # readable by any CSV tool
        assert fh.readline().strip() == "step,epoch,loss,name,ok"
    back = art.get()
    assert isinstance(back, pd.DataFrame)
    pd.testing.assert_frame_equal(back, frame)
    assert art.metadata["shape"] == [3, 4]


def test_dataframe_with_a_default_index(task):
    frame = pd.DataFrame({"x": [1.5, 2.5]})
    task.upload_artifact("plain", frame)
    pd.testing.assert_frame_equal(fresh(task)["plain"].get(), frame, check_index_type="equiv")


def test_a_folder_is_one_zip_and_get_gives_the_extracted_folder(task, tmp_path):
    folder = tmp_path / "outputs"
    write_files(folder, {"a.txt": "a\n", "sub/b.bin": b"\x00\x01", "sub/deep/c.txt": "ü\n"})
    task.upload_artifact("outputs", folder)
    art = fresh(task)["outputs"]
    assert art.type == "folder"
    assert Path(art.get_local_copy(extract_archive=False)).name == "outputs.zip"
    with zipfile.ZipFile(art.get_local_copy(extract_archive=False)) as zf:
        assert sorted(zf.namelist()) == ["a.txt", "sub/b.bin", "sub/deep/c.txt"]
    got = art.get()
    assert isinstance(got, Path) and got.is_dir()
    assert (got / "sub" / "deep" / "c.txt").read_text(encoding="utf-8") == "ü\n"
    assert str(got) == art.get_local_copy()
    # the same files, written again later (a worker's fresh checkout): the same bytes
    first = art.hash
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (1_000_000_000, 1_000_000_000))
    task.upload_artifact("outputs", folder)
    assert fresh(task)["outputs"].hash == first


@pytest.mark.parametrize("as_path", [False, True])
def test_a_wildcard_pattern_is_one_zip_of_the_matching_files(task, tmp_path, as_path):
    folder = tmp_path / "run"
    write_files(folder, {"a.csv": "1\n", "b.csv": "2\n", "notes.txt": "no\n", "sub/c.csv": "3\n",
                         "sub/d.json": "{}"})
    pattern = folder / "*.csv"
    task.upload_artifact("tables", pattern if as_path else str(pattern))
    art = fresh(task)["tables"]
    assert art.type == "folder"
    zipped = Path(art.get_local_copy(extract_archive=False))
    assert zipped.name == "tables.zip"
    with zipfile.ZipFile(zipped) as zf:
        assert sorted(zf.namelist()) == ["a.csv", "b.csv", "sub/c.csv"]  # recursive, as ClearML
    got = art.get()
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
        "a.csv", "b.csv", "sub/c.csv"]
    assert art.metadata["files"] == 3


def test_a_pattern_matching_nothing_is_an_error_and_plain_text_stays_text(task, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ArtifactError, match="matches no file"):
        task.upload_artifact("none", str(tmp_path / "run" / "*.csv"))
    task.upload_artifact("note", "5 * 3 = 15?")  # no folder part: text, as before
    task.upload_artifact("glob-text", "no/such/folder/*.csv")  # its folder does not exist: text
    arts = fresh(task)
    assert sorted(arts) == ["glob-text", "note"]
    assert arts["note"].type == "text" and arts["note"].get() == "5 * 3 = 15?"


def test_a_file_whose_name_has_wildcard_characters_is_a_file(task, tmp_path):
    odd = tmp_path / "weird[1]*.txt"
    odd.write_text("content")
    task.upload_artifact("odd", str(odd))
    art = fresh(task)["odd"]
    assert art.type == "file"
    got = art.get()
    assert isinstance(got, Path) and got.read_text() == "content"


def test_optional_libraries_are_imported_only_for_their_objects(localtask_home, tmp_path):
    """Uploading and reading JSON, text, files and pickles never imports numpy, pandas or PIL."""
    source = tmp_path / "f.txt"
    source.write_text("x")
    code = (
        "import sys, json\n"
        "from localtask import Task\n"
        "t = Task.init(project_name='p', task_name='lazy')\n"
        "t.upload_artifact('d', {'a': 1}); t.upload_artifact('s', 'text'); t.upload_artifact('f', sys.argv[1])\n"
        "t.upload_artifact('p', {1, 2})\n"
        "[a.get() for a in Task.get_task(t.id).artifacts.values()]\n"
        "print(json.dumps(sorted(m for m in ('numpy', 'pandas', 'PIL') if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(source)], capture_output=True, text=True,
                          env={"LOCALTASK_HOME": str(localtask_home), "LOCALTASK_QUIET": "1",
                               "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_kinds_survive_another_process(localtask_home, task):
    """Written here, read by a fresh interpreter: nothing depends on this process's state."""
    task.upload_artifact("img", Image.new("RGB", (3, 2), (9, 8, 7)))
    task.upload_artifact("arr", np.arange(4.0))
    task.upload_artifact("df", pd.DataFrame({"a": [1, 2]}))
    code = ("import sys\nfrom localtask import Task\n"
            "arts = Task.get_task(sys.argv[1]).artifacts\n"
            "from PIL import Image\n"
            "print(isinstance(arts['img'].get(), Image.Image), arts['img'].get().getpixel((0, 0)))\n"
            "print(arts['arr'].get().tolist())\n"
            "print(arts['df'].get()['a'].tolist())\n")
    proc = subprocess.run([sys.executable, "-c", code, task.id], capture_output=True, text=True,
                          env={"LOCALTASK_HOME": str(localtask_home), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["True (9, 8, 7)", "[0.0, 1.0, 2.0, 3.0]", "[1, 2]"]


def test_a_folder_zip_is_the_same_bytes_whatever_the_umask_and_times_of_its_files(task, tmp_path):
    """A re-run's checkout has other file times and, under another umask, other group bits:
    the zip must not depend on them (reproduce compares artifacts by content hash)."""
    digests = []
    for i, mode in enumerate((0o664, 0o644)):
        folder = tmp_path / f"run{i}" / "data"
        write_files(folder, {"a.txt": "a\n", "bin/run.sh": "#!/bin/sh\n"})
        for f in folder.rglob("*"):
            if f.is_file():
                f.chmod(mode | (0o111 if f.suffix == ".sh" else 0))
                os.utime(f, (1_000_000 * (i + 1), 1_000_000 * (i + 1)))
        task.upload_artifact(f"data{i}", folder)
        path = fresh(task)[f"data{i}"].path
        digests.append(path.read_bytes())
        with zipfile.ZipFile(path) as zf:
            modes = {z.filename: z.external_attr >> 16 for z in zf.infolist()}
        assert modes == {"a.txt": 0o100644, "bin/run.sh": 0o100755}
    assert digests[0] == digests[1]


def test_delete_artifacts_removes_rows_and_files_and_names_an_unknown_one(task):
    for name in ("keep", "drop", "also"):
        task.upload_artifact(name, {"name": name})
    paths = {name: art.path for name, art in fresh(task).items()}
    with pytest.raises(ArtifactError, match="has no artifact 'nope'.*nothing was deleted"):
        task.delete_artifacts(["drop", "nope"])
    assert set(fresh(task)) == {"keep", "drop", "also"}
    assert task.delete_artifacts(["drop"]) is True
    assert set(fresh(task)) == {"keep", "also"} and not paths["drop"].exists() and paths["keep"].exists()
    assert task.delete_artifacts(["also", "nope"], raise_on_errors=False, delete_from_storage=False) is False
    assert set(fresh(task)) == {"keep"} and paths["also"].exists()  # the row went, the file stayed
