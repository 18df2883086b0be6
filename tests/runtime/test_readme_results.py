"""The README's results table is the one benchmarks/summary.py makes from benchmarks/results/*.json: a figure
changed in a results file and not in the README (or typed into the README by hand) fails here."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_results_table_is_written_from_the_results_files():
    done = subprocess.run([sys.executable, "benchmarks/summary.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_is_short_and_links_its_design():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 220 and "docs/ARCHITECTURE.md" in text
    assert (ROOT / "docs" / "ARCHITECTURE.md").is_file()
