"Project wiring: requirements in step, README in step with the index notebook (the wheel: tests/test_install.py)."
import re, shlex, sys
from pathlib import Path
import pytest
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'.ci'))
import make_readme

def env_pip():
    "The pip entries of environment.yml, without the package's own editable line."
    lines = (ROOT/'environment.yml').read_text().split('\n')
    return [l.strip()[2:].strip() for l in lines if re.match(r'^\s{6}- ', l) and not l.strip().startswith('- -e')]

def test_environment_matches_settings():
    s = get_config(path=ROOT)
    want = shlex.split(s['requirements']) + shlex.split(s['dev_requirements'])
    assert sorted(env_pip()) == sorted(want)
    assert '- python=3.11' in (ROOT/'environment.yml').read_text()
    assert '-e .[dev]' in (ROOT/'environment.yml').read_text()

def test_required_packages_listed():
    s = get_config(path=ROOT)
    req = {re.split('[<>=]', r)[0] for r in shlex.split(s['requirements'])}
    assert {'torch', 'torchvision', 'fastprogress', 'ipywidgets', 'plotly', 'anywidget', 'numpy', 'scikit-learn'} <= req
    dev = {re.split('[<>=]', r)[0] for r in shlex.split(s['dev_requirements'])}
    assert {'nbdev', 'fastcore', 'execnb', 'ghapi', 'nbformat', 'jupyterlab', 'nbclient', 'ipykernel', 'pytest', 'playwright'} <= dev
    assert 'nbdev==2.4.14' in s['dev_requirements'] and 'execnb<0.2' in s['dev_requirements']

def test_readme_is_index_notebook():
    assert (ROOT/'README.md').read_text() == make_readme.readme_text()

def test_readme_commands():
    setup, tests = make_readme.commands((ROOT/'README.md').read_text())
    assert setup.startswith('pip install torch==2.14.1 torchvision==0.29.1') and 'pip install -e ".[dev]"' in setup
    assert tests.startswith('FBTRAIN_THREADS=1 pytest') and ' tests' in tests     # notebooks run as tests/test_notebooks.py
    assert '--jobs' in setup and 'compare --seeds 0 1 2' in setup                   # one thread per run: the table's setting
    ci = (ROOT/'.ci'/'run').read_text()
    assert 'make_readme.py test' in ci and 'pip install -q torch==2.14.1 torchvision==0.29.1' in ci

def test_setup_py_has_no_pkg_resources():
    assert 'pkg_resources' not in (ROOT/'setup.py').read_text().replace('without `pkg_resources`', '')

def test_every_requirement_is_imported():
    "A runtime requirement that no module of fbtrain imports is dead weight (anywidget: plotly's FigureWidget needs it)."
    s = get_config(path=ROOT)
    names = {'scikit-learn': 'sklearn'}
    src = '\n'.join(p.read_text() for p in (ROOT/'fbtrain').glob('*.py'))
    for r in shlex.split(s['requirements']):
        pkg = re.split('[<>=]', r)[0]
        if pkg == 'anywidget': continue
        mod = names.get(pkg, pkg)
        assert re.search(rf'^\s*(import|from)\s+{mod}\b', src, re.M), f'{pkg} is required but fbtrain never imports {mod}'

def test_license_file_matches_settings():
    "The package declares a license in settings.ini; the repository ships its text."
    assert get_config(path=ROOT)['license'] == 'apache2'
    text = (ROOT/'LICENSE').read_text()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text and 'END OF TERMS AND CONDITIONS' in text

def test_no_words_from_how_the_project_was_built():
    "Notebooks, README and docs speak of the package: no 'pilot', no mission's bar, no paths into the developers' shared folder."
    bad = re.compile(r"\bpilot\b|mission's bar|\.\./shared|pilot\.md|paper\.md", re.I)
    files = [*sorted((ROOT/'nbs').glob('*.ipynb')), ROOT/'README.md', *sorted((ROOT/'.ci'/'site').glob('*.md')), ROOT/'docs'/'README.md']
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)!r}" for p in files if p.exists() for m in bad.finditer(p.read_text())]
    assert not hits, hits
