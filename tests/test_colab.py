"""Every tutorial (the notebooks in nbs/ that export nothing, the start-here page included) runs as it would in Colab: alone in an empty folder (no repository beside it), with
`google.colab` imported before the first cell, fbtrain already installed, plots drawn by plotly's Colab renderer.

The stand-ins live in a temporary folder put first on PYTHONPATH: a `google.colab` package, and a `pip` whose
`python -m pip` records its arguments and fails, so an install cell that does not notice fbtrain is installed fails
the test instead of installing anything. Cells flagged with settings.ini's `tst_flags` (`slow`, `notest`) or
`#| eval: false` are skipped, as `nbdev_test` skips them. FBTRAIN_DATA stays set (CI has no internet for
torchvision's download, which is what Colab uses)."""
import json, os, re, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
def _is_tutorial(p:Path)->bool:
    "A notebook that exports no module and is not the index: a page for students."
    cells = json.loads(p.read_text())['cells']
    return p.name != 'index.ipynb' and not any(c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\b', ''.join(c['source']), re.M)
                                               for c in cells)

TUTORIALS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if _is_tutorial(p))
CFG = get_config(path=ROOT)
LOG = 'COLAB_STANDIN_LOG'

STANDINS = {   # `google` stays a namespace package, so a real google.* (protobuf, ...) still imports beside it
    'google/colab/__init__.py': '"Stand-in for Colab\'s google.colab (tests/test_colab.py)."\n',
    'google/colab/output.py': 'def enable_custom_widget_manager(): "No-op stand-in."\n',
    'pip/__init__.py': '',
    'pip/__main__.py': ('import json, os, sys\n'
                        f'with open(os.environ["{LOG}"], "a") as f: f.write(json.dumps(sys.argv[1:]) + "\\n")\n'
                        'sys.exit("pip stand-in: no installs in this test")\n'),
}

RUNNER = r'''
import sys
import google.colab                     # Colab's kernel imports it before the first cell
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
from nbdev.process import extract_directives
fn, skip = sys.argv[1], set(sys.argv[2].split())
def no_eval(cell):                      # the rule of nbdev.test.test_nb
    if cell.cell_type != 'code': return True
    d = extract_directives(cell, remove=False)
    if d.get('eval:', [''])[0].lower() == 'false': return True
    return bool(skip & d.keys())
sh = CaptureShell(fn)
try: sh.run_all(read_nb(fn), exc_stop=True, preproc=no_eval)
except BaseException:
    sys.stderr.write(sh.prettytb(fname=fn) if getattr(sh, 'exc', None) else repr(sys.exc_info()[1])); sys.exit(1)
'''

def standins(d:Path)->Path:
    "Write the stand-in packages into `d`; return it."
    for name, text in STANDINS.items():
        (d/name).parent.mkdir(parents=True, exist_ok=True); (d/name).write_text(text)
    return d

def colab_env(standin_dir:Path, log:Path)->dict:
    "This environment with the stand-ins first on PYTHONPATH and the pip log set (FBTRAIN_DATA, FBTRAIN_THREADS kept)."
    env = {k: v for k, v in os.environ.items() if k not in ('PLOTLY_RENDERER', 'IN_TEST')}
    env['PYTHONPATH'] = os.pathsep.join([str(standin_dir), *([env['PYTHONPATH']] if env.get('PYTHONPATH') else [])])
    env[LOG] = str(log); env.setdefault('FBTRAIN_THREADS', '1')
    return env

def pip_calls(log:Path)->list: return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []

def code_cells(nb:Path)->list: return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']

def install_cell(nb:Path)->str:
    "The tutorial's install cell: the first code cell that mentions google.colab."
    cell = next((s for s in code_cells(nb) if 'google.colab' in s), None)
    assert cell is not None, f"{nb.name} has no install cell for Colab (a code cell that checks for google.colab)"
    return cell

def test_tutorials_found():
    assert {p.name for p in TUTORIALS} >= {'29_start_here.ipynb', '30_sgd_vs_fullbatch.ipynb', '31_edge_of_stability.ipynb',
                                           '31b_where_the_regularizer_comes_from.ipynb', '32_reproducing_the_paper.ipynb',
                                           '33_flat_minima.ipynb'}
    assert TUTORIALS[0].name == '29_start_here.ipynb'      # first among the tutorials, in reading order and in the docs

@pytest.mark.parametrize('nb', TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_install_cell_installs_when_missing(nb, tmp_path):
    "Without fbtrain (`python -S`) the install cell tries `pip install fbtrain`; when that fails it says how to install a wheel."
    d, log = standins(tmp_path/'standins'), tmp_path/'pip.log'
    (tmp_path/'colab').mkdir()
    code = 'import google.colab\n' + install_cell(nb)
    r = subprocess.run([sys.executable, '-S', '-c', code], cwd=tmp_path/'colab', env=colab_env(d, log), capture_output=True, text=True, timeout=120)
    calls = pip_calls(log)
    assert calls == [['install', '-q', 'fbtrain']], f"{nb.name}: expected one `pip install fbtrain`, got {calls} (stderr: {r.stderr[-500:]})"
    assert r.returncode == 0 and 'python -m build' in r.stdout and 'pip install fbtrain-*.whl' in r.stdout, (r.stdout, r.stderr[-500:])

def test_no_address_that_does_not_exist():
    "No notebook or README points at a repository to install from (fbtrain has no public repository yet)."
    texts = {p.name: p.read_text() for p in [*(ROOT/'nbs').glob('*.ipynb'), ROOT/'README.md']}
    bad = [n for n, t in texts.items() if 'git+https://' in t]
    assert not bad, f"install lines naming a repository: {bad}"

def test_colab_links_follow_settings():
    "Every Open-in-Colab link is derived from settings.ini (user, repo, branch) and names an existing notebook."
    want = f"https://colab.research.google.com/github/{CFG['user']}/{CFG['repo']}/blob/{CFG['branch']}/nbs/"
    for p in [*(ROOT/'nbs').glob('*.ipynb'), ROOT/'README.md']:
        for url in re.findall(r'https://colab\.research\.google\.com/github/[^\s)"\\]+', p.read_text()):
            assert url.startswith(want) and (ROOT/'nbs'/url[len(want):]).is_file(), f"{p.name}: {url} is not {want}<notebook>"
    assert 'settings.ini' in (ROOT/'README.md').read_text().split('## Install', 1)[1].split('\n## ', 1)[0]

@pytest.mark.parametrize('nb', TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_runs_in_colab(nb, tmp_path):
    "The tutorial's non-slow cells run from an empty folder with google.colab imported; its install cell installs nothing."
    d, log, work = standins(tmp_path/'standins'), tmp_path/'pip.log', tmp_path/'colab'
    work.mkdir(); shutil.copy(nb, work/nb.name)
    r = subprocess.run([sys.executable, '-c', RUNNER, nb.name, CFG.get('tst_flags', '')], cwd=work, env=colab_env(d, log),
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{nb.name} failed in a Colab-like run:\n{r.stderr[-4000:]}"
    assert pip_calls(log) == [], f"{nb.name}: the install cell called pip although fbtrain is installed: {pip_calls(log)}"

@pytest.mark.parametrize('nb', TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_no_repo_paths(nb):
    "No tutorial reads files through a path into the repository (Colab has only the notebook)."
    bad = [s for s in code_cells(nb) if re.search(r"['\"]\.\./", s)]
    assert not bad, f"{nb.name} opens a path into the repository: {bad[0][:300]}"

def test_results_ship_in_the_wheel(tmp_path):
    "The results the tutorials read (fbtrain/results/*.json) are package data: the wheel Colab installs has them."
    files = sorted((ROOT/'fbtrain'/'results').glob('*.json'))
    assert {f.name for f in files} >= {'paper_table1.json', 'mini_ladder.json', 'mini2560_ladder.json'}
    for f in files: json.loads(f.read_text()); assert f.stat().st_size < 100_000, f"{f.name} is large for package data"
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    whl, = tmp_path.glob('fbtrain-*.whl')
    names = set(zipfile.ZipFile(whl).namelist())
    assert {f'fbtrain/results/{f.name}' for f in files} <= names

def test_shipped_results_match_bench_results():
    "Each shipped result equals the bench/results file it comes from (bench/ship_results.py was run after the last run)."
    sys.path.insert(0, str(ROOT/'bench'))
    try: from ship_results import SHIPPED
    finally: sys.path.remove(str(ROOT/'bench'))
    assert SHIPPED, "bench/ship_results.py ships nothing"
    for name, (src, about) in SHIPPED.items():
        shipped = json.loads((ROOT/'fbtrain'/'results'/name).read_text())
        assert shipped == {'about': about, **json.loads((ROOT/'bench'/'results'/src).read_text())}, \
            f"fbtrain/results/{name} differs from bench/results/{src}: run `python bench/ship_results.py`"

# --- every cell, slow ones included, at 2 threads, as a Colab screen shows it ---------------------------------------
SCREEN = r'''
import json, sys
import google.colab                     # Colab's kernel imports it before the first cell
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from execnb.nbio import read_nb
from nbdev.process import extract_directives
fn, skip, report = sys.argv[1], set(sys.argv[2].split()), sys.argv[3]

class Screen(DisplayPublisher):
    "What a notebook front end shows: a new output per display; an update replaces the output with its display id."
    cells, shown = [[]], {}
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
        did = (transient or {}).get('display_id')
        if update and did in self.shown: self.shown[did]['data'] = data; return
        out = dict(data=data, display_id=did); self.cells[-1].append(out)
        if did: self.shown[did] = out

def is_figure(out:dict)->bool:
    d = out['data']
    return 'application/vnd.plotly.v1+json' in d or 'plotly' in str(d.get('text/html', ''))

def runs(cell)->bool:                   # nbdev's rule, except that `slow` cells run too
    d = extract_directives(cell, remove=False)
    return d.get('eval:', [''])[0].lower() != 'false' and not (skip & d.keys())

sh = InteractiveShell.instance()
sh.display_pub = Screen(shell=sh)
figs = []
for i, cell in enumerate(read_nb(fn).cells):
    if cell.cell_type != 'code' or not runs(cell): continue
    sh.display_pub.cells.append([])
    r = sh.run_cell(cell.source, store_history=False)
    figs.append(dict(cell=i, figures=sum(map(is_figure, sh.display_pub.cells[-1]))))
    if not r.success: sys.stderr.write(f'cell {i} failed:\n{cell.source[:500]}\n'); sys.exit(1)
json.dump(figs, open(report, 'w'))
'''

@pytest.mark.slow
@pytest.mark.parametrize('nb', TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_runs_in_colab_at_two_threads(nb, tmp_path):
    "Top to bottom, `slow` cells included, at 2 torch threads, as Colab runs it; no cell shows more than 3 figures."
    d, log, work, report = standins(tmp_path/'standins'), tmp_path/'pip.log', tmp_path/'colab', tmp_path/'figures.json'
    work.mkdir(); shutil.copy(nb, work/nb.name)
    env = {**colab_env(d, log), 'FBTRAIN_THREADS': '2'}
    r = subprocess.run([sys.executable, '-c', SCREEN, nb.name, 'notest', str(report)], cwd=work, env=env,
                       capture_output=True, text=True, timeout=3600)
    assert r.returncode == 0, f"{nb.name} failed in a Colab-like run at 2 threads:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    figs = json.loads(report.read_text())
    print(nb.name, 'figures per cell:', {f['cell']: f['figures'] for f in figs if f['figures']})
    piled = [f for f in figs if f['figures'] > 3]
    assert not piled, f"{nb.name}: cells that pile up figures instead of updating one: {piled}"
    assert pip_calls(log) == [], f"{nb.name}: the install cell called pip although fbtrain is installed: {pip_calls(log)}"

def _tiny_nb(path:Path, *sources):
    cells = [dict(cell_type='code', id=f'c{i}', metadata={}, execution_count=None, outputs=[], source=s) for i, s in enumerate(sources)]
    path.write_text(json.dumps(dict(cells=cells, metadata={}, nbformat=4, nbformat_minor=5)))

def test_screen_counts_what_piles_up(tmp_path):
    "The Colab screen above counts five figures where `display(fig, display_id=True)` is refreshed, one for `LiveFigure`."
    d, report = standins(tmp_path/'standins'), tmp_path/'figures.json'
    _tiny_nb(tmp_path/'t.ipynb', 'import plotly.graph_objects as go\nfrom IPython.display import display\nfig = go.Figure(go.Scatter(y=[1, 2]))',
             'h = display(fig, display_id=True)\nfor i in range(4): fig.data[0].y = (1, i); h.update(fig)',   # go.Figure drops the id
             'from fbtrain.dashboard import LiveFigure\nlf = LiveFigure(fig).show()\nfor i in range(4): fig.data[0].y = (1, i); lf.refresh()')
    r = subprocess.run([sys.executable, '-c', SCREEN, 't.ipynb', 'notest', str(report)], cwd=tmp_path,
                       env=colab_env(d, tmp_path/'pip.log'), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    test = {f['cell']: f['figures'] for f in json.loads(report.read_text())}
    assert test[0] == 0 and test[1] >= 5 and test[2] == 1, test   # plotly's Colab renderer: a new output per show
