"""scripts/system_deps.sh with a stand-in apt-get: waits for the dpkg lock, fails loudly in CI.

The stand-in records its arguments and fails, as apt-get does when another apt holds the lock
past the wait; PATH holds only it and `id`, so every package looks missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "system_deps.sh"
BASH = shutil.which("bash")


@pytest.fixture
def failing_apt(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(f'#!{BASH}\necho "$@" >> {log}\nexit 100\n')
    (bin_dir / "apt-get").chmod(0o755)
    (bin_dir / "id").symlink_to(shutil.which("id"))
    (bin_dir / "sudo").write_text(f'#!{BASH}\n[ "$1" = -n ] && shift\n"$@"\n')
    (bin_dir / "sudo").chmod(0o755)
    return bin_dir


def _run(bin_dir: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([BASH, str(SCRIPT), "--browser"], env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_failed_install_is_an_error_under_ci(failing_apt):
    done = _run(failing_apt, "true")
    assert done.returncode == 1
    assert "error: could not install graphviz chromium chromium-driver" in done.stderr
    calls = (failing_apt.parent / "apt.log").read_text()
    assert "DPkg::Lock::Timeout=300" in calls  # waited for the lock rather than giving up


@pytest.mark.parametrize("ci", [None, "false"])
def test_a_failed_install_is_a_note_elsewhere(failing_apt, ci):
    done = _run(failing_apt, ci)
    assert done.returncode == 0
    assert "note: could not install" in done.stderr
