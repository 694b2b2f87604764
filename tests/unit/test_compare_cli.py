"""`python -m harness compare` as CI calls it: exit codes 0 / 1 / 2 on real fixture runs."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "results"


def _compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "compare", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_two_repeats_of_one_configuration_pass() -> None:
    done = _compare(str(FIXTURES / "best-practice-a"), str(FIXTURES / "best-practice-b"))
    assert done.returncode == 0, done.stdout
    assert "no regression" in done.stdout


def test_two_profiles_are_refused_unless_asked_for(tmp_path: Path) -> None:
    base, head = str(FIXTURES / "best-practice-a"), str(FIXTURES / "small-pool")
    # small-pool's users were never answered again; from it to best-practice nothing
    # regresses in correctness, so only speed is left, and it is refused.
    refused = _compare(head, base)
    assert refused.returncode == 2
    assert "different profile: base 'small-pool', head 'best-practice'" in refused.stdout
    markdown = tmp_path / "compare.md"
    judged = _compare(base, head, "--allow-different-profile", "--markdown", str(markdown))
    assert judged.returncode == 1, judged.stdout
    assert "throughput" in markdown.read_text()


def test_a_missing_folder_cannot_be_compared(tmp_path: Path) -> None:
    done = _compare(str(FIXTURES / "best-practice-a"), str(tmp_path / "nope"))
    assert done.returncode == 2
    assert len(done.stdout.strip().splitlines()) == 1
