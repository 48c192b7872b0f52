"""fbtrain as a user installs it. `python -m build --wheel` (offline: no build isolation) makes the wheel; its declared
runtime dependencies are exactly what the library imports (nbdev, Jupyter, Sphinx and the test tools only in the `dev`
extra). The wheel is then installed into a clean virtual environment that holds nothing but those dependencies and
their own, transitively (linked in from this machine's installed copies through a .pth file, so no 3 GB torch download):
`pip check` passes there, every fbtrain module imports, the results the tutorials read and plotly.js are inside the
package, the command line runs, and nbdev, fasthtml, uvicorn, starlette, JupyterLab and pytest are not importable."""
import importlib.metadata as md, os, re, shutil, subprocess, sys, venv, zipfile
from pathlib import Path
import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.xdist_group('wheel')      # one build of the wheel, in one worker

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {'torch', 'torchvision', 'fastcore', 'fastprogress', 'ipywidgets', 'plotly', 'anywidget', 'numpy', 'scipy',
           'scikit-learn'}                                   # what fbtrain/*.py import (plotly's FigureWidget needs anywidget)
NOT_AT_RUNTIME = ('nbdev', 'execnb', 'fasthtml', 'uvicorn', 'starlette', 'jupyterlab', 'sphinx', 'pytest', 'playwright')

def norm(name:str)->str: return re.sub(r'[-_.]+', '-', name).lower()

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('dist')
    r = subprocess.run([sys.executable, '-m', 'build', '--wheel', '--no-isolation', '--outdir', str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    whl, = out.glob('fbtrain-*.whl')
    return whl

def requires(whl:Path)->list:
    "The wheel's Requires-Dist lines, parsed."
    with zipfile.ZipFile(whl) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))).decode()
    return [Requirement(l.split(':', 1)[1].strip()) for l in meta.splitlines() if l.startswith('Requires-Dist:')]

def test_runtime_dependencies(wheel):
    "Runtime: exactly what the library imports; the notebook, docs and test tools only in the dev extra; the console script."
    with zipfile.ZipFile(wheel) as z:
        assert 'fbtrain = fbtrain.cli:main' in z.read(next(n for n in z.namelist() if n.endswith('entry_points.txt'))).decode()
    reqs = requires(wheel)
    runtime = [r for r in reqs if r.marker is None or not r.marker.evaluate({'extra': 'dev'}) or r.marker.evaluate({'extra': ''})]
    print('runtime dependencies:', ', '.join(sorted(str(r) for r in runtime)))
    assert {norm(r.name) for r in runtime} == RUNTIME
    dev = {norm(r.name) for r in reqs if r not in runtime}
    assert {'nbdev', 'jupyterlab', 'pytest'} <= dev
    imported = set()
    for p in (ROOT/'fbtrain').glob('*.py'):
        imported |= set(re.findall(r'^\s*(?:from|import)\s+([A-Za-z_]\w*)', p.read_text(), re.M))
    third = {m for m in imported - set(sys.stdlib_module_names) - {'fbtrain'}}
    assert third <= {'torch', 'torchvision', 'fastcore', 'fastprogress', 'ipywidgets', 'plotly', 'numpy', 'scipy', 'sklearn',
                     'IPython', 'google'}, third             # IPython comes with ipywidgets; google only in Colab

def closure(reqs:list)->set:
    "The installed distributions that `reqs` need, transitively (markers evaluated for this machine, no extras)."
    seen, todo = set(), list(reqs)
    while todo:
        r = todo.pop()
        if r.marker is not None and not r.marker.evaluate({'extra': ''}): continue
        try: d = md.distribution(r.name)
        except md.PackageNotFoundError: pytest.fail(f'{r.name} is required but not installed here')
        if norm(d.metadata['Name']) in seen: continue
        seen.add(norm(d.metadata['Name']))
        todo += [Requirement(x) for x in (d.requires or [])]
    return seen

def link_site(names:set, site:Path):
    "A folder with links to these distributions' installed files (top-level packages, modules and .dist-info)."
    site.mkdir()
    for n in names:
        d = md.distribution(n)
        tops = {f.parts[0] for f in d.files or [] if f.parts and f.parts[0] not in ('..', '__pycache__')}
        for t in tops:
            src = Path(d.locate_file(t))
            if src.exists() and not (site/t).exists(): (site/t).symlink_to(src)

def test_wheel_in_clean_venv(wheel, tmp_path):
    "Every module imports from the installed wheel with only the runtime dependencies present; the CLI runs."
    runtime = [r for r in requires(wheel) if r.marker is None]
    deps = closure(runtime)
    assert not deps & {norm(n) for n in NOT_AT_RUNTIME}, deps & set(NOT_AT_RUNTIME)
    link_site(deps, tmp_path/'deps')
    venv.EnvBuilder(with_pip=True).create(tmp_path/'venv')
    py = tmp_path/'venv'/'bin'/'python'
    site = Path(subprocess.check_output([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip())
    (site/'runtime-deps.pth').write_text(str(tmp_path/'deps') + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
    run = lambda *a: subprocess.run([py, *a], cwd=tmp_path, env=env, capture_output=True, text=True)
    run('-m', 'pip', 'uninstall', '-y', '-q', 'setuptools')   # ensurepip's old copy (3.11) would shadow torch's
    r = run('-m', 'pip', 'install', '--no-deps', '--no-index', '-q', str(wheel))
    assert r.returncode == 0, r.stderr[-2000:]
    r = run('-m', 'pip', 'check')
    assert r.returncode == 0, r.stdout + r.stderr
    code = ('import importlib, importlib.util, pkgutil, fbtrain\n'
            'mods = [m.name for m in pkgutil.walk_packages(fbtrain.__path__, "fbtrain.")]\n'
            'for m in mods: importlib.import_module(m)\n'
            'from fbtrain.report import plotly_js\n'
            'from pathlib import Path\n'
            'assert len(plotly_js()) > 1_000_000 and list((Path(fbtrain.__file__).parent/"results").glob("*.json"))\n'
            f'absent = [n for n in {NOT_AT_RUNTIME!r} if importlib.util.find_spec(n)]\n'
            'assert not absent, absent\n'
            'print(fbtrain.__file__, len(mods), "modules")\n')
    r = run('-c', code)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert str(site) in r.stdout, r.stdout                   # imported from the installed wheel, not the checkout
    print(r.stdout.strip())
    r = subprocess.run([tmp_path/'venv'/'bin'/'fbtrain', 'recipes'], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and 'mini/fb-reg' in r.stdout, r.stderr[-2000:]
