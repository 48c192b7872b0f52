"The dashboard's presets tell the paper's story in order with one seed at one thread (bench/bench_presets.py's checks)."
import sys
from pathlib import Path
import pytest, torch
from conftest import needs_cifar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'bench'))
from bench_presets import CHECKS, run

@needs_cifar
@pytest.mark.slow
def test_presets_tell_the_story():
    "SGD > naive full batch by 5 points or more; + clip within 5 points of SGD; + regularizer at most 2 below + clip."
    from fbtrain.dashboard import PRESETS
    n = torch.get_num_threads(); torch.set_num_threads(1)
    try: rows = [run(name, 0) for name in PRESETS]
    finally: torch.set_num_threads(n)
    acc = {r['preset']: r['test_acc'] for r in rows}
    print(acc)
    assert all(r['status'] == 'finished' and r['sharpness'] is not None for r in rows), rows   # sharpness for every preset
    failed = [what for what, ok in CHECKS if not ok(acc)]
    assert not failed, (failed, acc)
