"""The core never imports Qt; the front door behaves; assets are findable."""

import os
import subprocess
import sys

from convdemo import cli, resources


def core_modules() -> list[str]:
    """Every module of the package outside ``convdemo.gui``, found on disk (a new core module
    is guarded without being listed here)."""
    import pkgutil

    import convdemo

    names = ["convdemo"]
    for info in pkgutil.walk_packages(convdemo.__path__, "convdemo."):
        if not info.name.startswith("convdemo.gui"):
            names.append(info.name)
    return names


CORE_MODULES = core_modules()


def test_the_core_is_every_module_outside_gui():
    assert {"convdemo.ops", "convdemo.geometry", "convdemo.inspection", "convdemo.scan",
            "convdemo.readout", "convdemo.formatting", "convdemo.budget",
            "convdemo.fileio"} <= set(CORE_MODULES)
    assert not any(m.startswith("convdemo.gui") for m in CORE_MODULES)


def test_core_imports_no_qt():
    code = (
        "import sys, importlib\n"
        f"for m in {CORE_MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core modules loaded Qt: {out.stdout}"


def test_samples_and_models_are_found():
    samples = resources.sample_paths()
    assert samples[0].name == resources.DEFAULT_SAMPLE
    assert len(samples) >= 3
    assert all(p.is_file() for p in samples)


def test_help_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    assert "subcommands" in capsys.readouterr().out
    for name in cli.SUBCOMMAND_MODULES:
        assert cli.main([name, "--help"]) == 0, name
        capsys.readouterr()


def test_usage_error_is_exit_2(capsys):
    assert cli.main(["--no-such-option"]) == 2
    assert "usage" in capsys.readouterr().err


def test_missing_image_is_one_sentence(capsys, tmp_path):
    assert cli.main([str(tmp_path / "nope.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convdemo: error: cannot open") and err.count("\n") == 1
    assert "Traceback" not in err


def test_python_dash_m_runs_the_same_front_door():
    out = subprocess.run(
        [sys.executable, "-m", "convdemo", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0
    assert "usage: convdemo" in out.stdout


def test_unknown_model_or_preset_is_one_sentence_before_any_window(capsys, tmp_path):
    shot = tmp_path / "x.png"
    assert cli.main(["--model", "nosuch", "--screenshot", str(shot)]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'" in err and "digits" in err and err.count("\n") == 1
    assert cli.main(["--preset", "nosuch", "--screenshot", str(shot)]) == 1
    assert "unknown preset 'nosuch'" in capsys.readouterr().err
    assert not shot.exists()


def test_screenshot_to_an_unwritable_place_fails_fast_with_one_sentence():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run(
        [sys.executable, "-m", "convdemo", "--screenshot", "/proc/no-such-dir/out.png"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert out.returncode == 1
    assert "cannot write the screenshot to /proc/no-such-dir/out.png" in out.stderr
    assert "Traceback" not in out.stderr
