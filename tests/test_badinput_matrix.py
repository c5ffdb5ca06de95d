"""The bad-input matrix (tests/badinput.py): every malformed argument, file and store across the commands ends in
one clear line with a non-zero exit, and leaves no final-named output and every good input as it was."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
import badinput


def test_bad_input_matrix(tmp_path):
    rows = badinput.run_matrix(tmp_path)
    print('\n' + badinput.format_matrix(rows))
    assert len(rows) >= 40
    bad = [r for r in rows if not (r['clear'] and r['nothing_corrupted'])]
    assert not bad, '\n'.join(f"{r['case']}: exit {r['exit']}, clear {r['clear']}, nothing corrupted {r['nothing_corrupted']}: {r['first_line']}" for r in bad)
    assert {r['exit'] for r in rows} <= {1, 2}
