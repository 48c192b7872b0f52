"""Every library notebook runs as `nbdev_test` runs it: top to bottom in its own process, cells flagged with
settings.ini's `tst_flags` (`slow`, `notest`) or `#| eval: false` skipped, at FBTRAIN_THREADS (default 1). One test per
notebook, so the run reports each notebook as it ends (`nbdev_test` itself says nothing until all have run).

The tutorials (notebooks that export no module) run the same cells in tests/test_colab.py, in a Colab stand-in, and the
index's code is README's, which tests/test_readme.py runs; running them here again would only double the time."""
import os, re, subprocess, sys
from pathlib import Path
import pytest
from nbdev.config import get_config

CFG = get_config(path=Path(__file__).resolve().parents[1])
ALL = sorted(p for p in CFG.nbs_path.rglob('*.ipynb')
             if not any(part.startswith(('_', '.')) for part in p.relative_to(CFG.nbs_path).parts))
def exports(p:Path)->bool: return bool(re.search(r'#\|\s*default_exp\b', p.read_text(encoding='utf-8')))
NBS = [p for p in ALL if exports(p)]
RUN = ('import sys; from pathlib import Path; from nbdev.test import test_nb\n'
       'ok, _ = test_nb(Path(sys.argv[1]), skip_flags=sys.argv[2].split())\n'
       'sys.exit(0 if ok else 1)')

def test_every_notebook_is_run_somewhere():
    "Library notebooks here; tutorials in the Colab stand-in; the index through README."
    import test_colab
    assert len(NBS) >= 18 and set(ALL) == set(NBS) | set(test_colab.TUTORIALS) | {CFG.nbs_path/'index.ipynb'}

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb):
    env = dict(os.environ, FBTRAIN_THREADS=os.environ.get('FBTRAIN_THREADS', '1'))
    r = subprocess.run([sys.executable, '-c', RUN, str(nb), CFG.get('tst_flags', '')], cwd=nb.parent, env=env,
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f'{nb.name} failed:\n{r.stderr[-6000:]}'
