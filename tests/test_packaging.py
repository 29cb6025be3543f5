"""Packaging without building: the spec, the Linux launcher and menu entry, and the self-test's verdicts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "facet-studio.spec"
LINUX = PACKAGING / "linux"


class Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT/BUNDLE and keeps their arguments."""

    def __init__(self, calls: dict, kind: str):
        self.calls, self.kind = calls, kind

    def __call__(self, *args, **kwargs):
        self.calls[self.kind] = (args, kwargs)
        if self.kind == "Analysis":
            datas = [("torch/include/ATen/ATen.h", "/x", "DATA"), ("torch/lib/libtorch_cpu.so", "/x", "BINARY"),
                     ("torch/bin/test_jit", "/x", "BINARY"), ("torch/bin/torch_shm_manager", "/x", "BINARY"),
                     ("PySide6/Qt/translations/qtbase_de.qm", "/x", "DATA"),
                     ("PySide6/Qt/plugins/platforms/libqxcb.so", "/x", "BINARY")]
            return types.SimpleNamespace(datas=list(datas), binaries=list(datas), pure=[], scripts=[])
        return types.SimpleNamespace()


def run_spec(monkeypatch, platform: str) -> dict:
    """Execute the spec as PyInstaller would (its globals injected), on a pretend ``platform``."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package, **_: [f"{package}.stub"]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)
    calls: dict = {}
    namespace = {"SPECPATH": str(PACKAGING), "__file__": str(SPEC)}
    namespace |= {k: Recorder(calls, k) for k in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), namespace)  # noqa: S102 - our own build file
    calls["namespace"] = namespace
    return calls


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_spec_runs_and_every_path_it_names_exists(monkeypatch, platform):
    calls = run_spec(monkeypatch, platform)
    (scripts,), analysis = calls["Analysis"]
    paths = [Path(p) for p in scripts] + [Path(p) for p in analysis["pathex"]]
    paths += [Path(src) for src, _dest in analysis["datas"]]
    icon = calls["EXE"][1]["icon"]
    if platform == "linux":
        assert icon is None  # PyInstaller ignores executable icons on Linux; the .desktop file has one
    else:
        paths.append(Path(icon))
    if platform == "darwin":
        paths.append(Path(calls["BUNDLE"][1]["icon"]))
    else:
        assert "BUNDLE" not in calls
    missing = [str(p) for p in paths if not p.exists()]
    assert not missing, f"the spec names missing paths: {missing}"
    assert [dest for _src, dest in analysis["datas"]] == ["resources"]
    assert calls["EXE"][1]["console"] is (platform != "win32")


def test_spec_drops_build_only_files_and_keeps_what_runs(monkeypatch):
    ns = run_spec(monkeypatch, "linux")["namespace"]
    kept = [dest for dest, _src, _kind in ns["a"].datas]
    # torch/bin/torch_shm_manager must stay: `import torch` raises without it.
    assert kept == ["torch/lib/libtorch_cpu.so", "torch/bin/torch_shm_manager", "PySide6/Qt/plugins/platforms/libqxcb.so"]
    excludes = set(ns["EXCLUDES"])
    for needed in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "torch", "numpy", "PIL", "safetensors"):
        assert needed not in excludes
    assert not [m for m in excludes if m.startswith(("engine", "app"))]


def parse_desktop(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "[Desktop Entry]"
    entries = {}
    for ln in lines[1:]:
        key, sep, value = ln.partition("=")
        assert sep and key.strip() == key and key and value, f"not key=value: {ln!r}"
        assert key not in entries, f"duplicate key {key}"
        entries[key] = value
    return entries


def test_desktop_file_is_valid():
    entries = parse_desktop(LINUX / "facet-studio.desktop")
    for key in ("Type", "Name", "Exec", "Icon", "Categories"):
        assert key in entries, f"the .desktop file lacks {key}="
    assert entries["Type"] == "Application"
    assert entries["Exec"].split()[0] == "facet-studio"
    assert entries["Categories"].endswith(";") and "Graphics" in entries["Categories"].split(";")
    validator = shutil.which("desktop-file-validate")
    if validator:
        subprocess.run([validator, str(LINUX / "facet-studio.desktop")], check=True)


@pytest.mark.parametrize("script", ["facet-studio", "install-desktop-entry.sh"])
def test_linux_scripts_are_executable_shell(script):
    path = LINUX / script
    assert os.access(path, os.X_OK), f"{path} is not executable"
    assert path.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(path)], check=True)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts")
def test_launcher_runs_the_bundled_executable_offscreen_and_menu_entry_points_at_it(tmp_path):
    """The archive's layout in miniature: the launcher runs lib/facet-studio/facet-studio from anywhere."""
    for f in ("facet-studio", "facet-studio.desktop", "install-desktop-entry.sh"):
        shutil.copy2(LINUX / f, tmp_path / f)
    shutil.copy2(ROOT / "resources" / "icons" / "facet-studio.png", tmp_path / "facet-studio.png")
    fake = tmp_path / "lib" / "facet-studio" / "facet-studio"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "ran $* on ${QT_QPA_PLATFORM:-display}"\n')
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([str(tmp_path / "facet-studio"), "--self-test"], env=env, cwd="/", capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "ran --self-test on offscreen"

    env["XDG_DATA_HOME"] = str(tmp_path / "share")
    subprocess.run([str(tmp_path / "install-desktop-entry.sh")], env=env, check=True, capture_output=True)
    entries = parse_desktop(tmp_path / "share" / "applications" / "facet-studio.desktop")
    assert entries["Exec"] == f'"{tmp_path / "facet-studio"}" %F'
    assert Path(entries["Icon"]).is_file()


def test_icons_exist_in_every_format():
    from PIL import Image

    icons = ROOT / "resources" / "icons"
    with Image.open(icons / "facet-studio.png") as png, Image.open(icons / "facet-studio.ico") as ico:
        assert png.size == (256, 256)
        assert (256, 256) in ico.info["sizes"]
    with Image.open(icons / "facet-studio.icns") as icns:
        assert icns.format == "ICNS"


@pytest.fixture
def any_qapp(request, monkeypatch):
    """pytest-qt's application; offscreen unless this run has a display (the self-test checks Qt too)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")):
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return request.getfixturevalue("qapp")


def test_selftest_fails_clearly_without_models(tmp_path, monkeypatch, capsys, any_qapp):
    from app import selftest

    monkeypatch.setenv("FACET_MODELS_DIR", str(tmp_path))
    code = selftest.run(["--log", str(tmp_path / "log.txt")])
    out = capsys.readouterr().out
    assert code == 1
    for family in ("cgan", "elegant", "mtcnn"):
        assert f"FAIL model {family}" in out
        assert f"missing default {family} model: no bundle of family '{family}' in {tmp_path}" in out
    for check in ("invert", "edit", "transfer"):
        assert f"FAIL {check}" in out
    assert "PASS sample" in out and "PASS qt" in out
    assert (tmp_path / "log.txt").read_text().endswith("exit code 1\n")


def test_the_app_entry_point_passes_log_to_the_selftest(tmp_path, monkeypatch, capsys, any_qapp):
    """``facet-studio --self-test --log FILE`` (the unfrozen gui-script) writes the same log as the bundle."""
    from app.main import main

    monkeypatch.setenv("FACET_MODELS_DIR", str(tmp_path))
    assert main(["--self-test", "--log", str(tmp_path / "self-test.txt")]) == 1
    log = (tmp_path / "self-test.txt").read_text()
    assert "FAIL model cgan" in log and log.endswith("exit code 1\n")
    capsys.readouterr()


@pytest.mark.slow
def test_selftest_passes_with_tiny_models(tmp_path):
    """Every check passes against random tiny bundles (found by family, whatever their folder names)."""
    from tests.engine.test_session import make_cgan_bundle, make_elegant_bundle

    make_cgan_bundle(tmp_path / "default-cgan")
    make_elegant_bundle(tmp_path / "elegant")
    shutil.copytree(ROOT / "resources" / "models" / "mtcnn", tmp_path / "mtcnn")
    env = dict(os.environ, FACET_MODELS_DIR=str(tmp_path), QT_QPA_PLATFORM="offscreen", FACET_SELFTEST_STEPS="3")
    proc = subprocess.run([sys.executable, "-m", "app.selftest"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test: 10/10 checks passed" in proc.stdout
    assert f"PASS model cgan     {tmp_path / 'default-cgan'}" in proc.stdout
