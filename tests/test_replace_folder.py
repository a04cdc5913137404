"""Replacing a model folder: a failure keeps the old one, and nothing is left beside it."""

import os
import shutil

import pytest

from nuchter.store import replace_folder


def folder(path, text):
    path.mkdir(parents=True)
    (path / "model.txt").write_text(text)
    return path


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name.endswith((".old", ".incoming")))


def test_a_sibling_is_renamed_into_place(tmp_path):
    target = folder(tmp_path / "model", "old")
    staged = folder(tmp_path / "model.partial", "new")
    replace_folder(staged, target)
    assert (target / "model.txt").read_text() == "new"
    assert not staged.exists() and leftovers(tmp_path) == []


def test_a_folder_elsewhere_is_copied_and_left_where_it_was(tmp_path):
    target = folder(tmp_path / "store" / "model", "old")
    staged = folder(tmp_path / "work" / "model", "new")
    replace_folder(staged, target)
    assert (target / "model.txt").read_text() == "new" and (staged / "model.txt").read_text() == "new"
    assert leftovers(target.parent) == []


def test_a_new_target_needs_no_previous_one(tmp_path):
    replace_folder(folder(tmp_path / "work" / "model", "new"), tmp_path / "deep" / "model")
    assert (tmp_path / "deep" / "model" / "model.txt").read_text() == "new"


def test_a_failed_copy_leaves_the_old_folder(tmp_path, monkeypatch):
    target = folder(tmp_path / "store" / "model", "old")
    staged = folder(tmp_path / "work" / "model", "new")

    def half_copy(source, destination, **_):
        folder(destination, "half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", half_copy)
    with pytest.raises(OSError, match="No space"):
        replace_folder(staged, target)
    assert (target / "model.txt").read_text() == "old" and leftovers(target.parent) == []


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = folder(tmp_path / "model", "old")
    staged = folder(tmp_path / "model.partial", "new")
    real = os.replace

    def refuse_the_new(source, destination):
        if os.fspath(source) == os.fspath(staged):
            raise PermissionError(13, "Permission denied")
        real(source, destination)

    monkeypatch.setattr(os, "replace", refuse_the_new)
    with pytest.raises(PermissionError):
        replace_folder(staged, target)
    assert (target / "model.txt").read_text() == "old" and leftovers(tmp_path) == []


def test_a_swap_cut_off_between_its_renames_is_repaired_first(tmp_path, monkeypatch):
    folder(tmp_path / "model.old", "old")  # the old model was moved aside, then the process died

    def no_space(*_, **__):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", no_space)
    with pytest.raises(OSError):
        replace_folder(folder(tmp_path / "work" / "model", "new"), tmp_path / "model")
    assert (tmp_path / "model" / "model.txt").read_text() == "old" and leftovers(tmp_path) == []
