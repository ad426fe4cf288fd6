"""The package installs from the repository with pip, as the README says, and offline."""
import os
import shutil
import subprocess
import sys
import tempfile

PACKAGE = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_pip_installs_it_into_a_venv():
    with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
        source = os.path.join(scratch, "python")
        shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info"))
        venv = os.path.join(scratch, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--no-build-isolation",
                        "--no-index", source], check=True, cwd=scratch)
        shown = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                                "import middlepipe; print(middlepipe.__file__)"],
                               check=True, capture_output=True, text=True, cwd=scratch)
        assert shown.stdout.startswith(venv)
