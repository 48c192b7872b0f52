"""Execute notebooks in place and save their outputs: the docs site shows the stored outputs (see CONTRIBUTING.md).

    python .ci/exec_nbs.py [NB ...] [--flags "slow"] [--keep-going]
    python .ci/exec_nbs.py --stale          # list notebooks whose stored outputs predate their code; rc 1 if any

Default: every notebook in nbs/ (index first, then file-name order). Each notebook runs top to bottom in a fresh
Jupyter kernel (nbclient), in the notebook's folder, with FBTRAIN_THREADS=1, live figures sent as plotly JSON through
their display id (FBTRAIN_LIVEPLOT=json, so the stored output is the last frame, as a student saw it) and plotly's
`plotly_mimetype` renderer (plotly JSON, never an embedded plotly.js). `--flags` (default "slow") names the test flags
of settings.ini whose cells run too; cells with another flag (`#| notest`) or `#| eval: false` are skipped and keep
their stored outputs. Widget views are stored without widget state. The kernels get a home folder of their own
whose fbtrain data cache links to FBTRAIN_DATA, so outputs show `~/.cache/fbtrain/cifar10`. Each notebook must stay
under 1 MB; it gets a stamp (metadata.fbtrain.sources: a hash of its code cells) that `--stale` and tests/test_docs_site.py compare with
its code. Finally `nbdev_clean` runs on every executed notebook.
"""
import argparse, copy, hashlib, json, os, re, subprocess, sys, tempfile, time
from pathlib import Path
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000
PLOTLY_JS_MARK = re.compile(r'plotly\.js (?:\([\w -]+\) )?v\d+\.\d+\.\d+')   # the banner of a plotly.js bundle
ENV = dict(FBTRAIN_THREADS='1', FBTRAIN_LIVEPLOT='json', PLOTLY_RENDERER='plotly_mimetype')

def default_nbs():
    "Every notebook in nbs/ (not in `_`/`.` folders, not `_`/`.` files), index first, then file-name order."
    nbs = get_config(path=ROOT).nbs_path
    fs = [p for p in nbs.rglob('*.ipynb')
          if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)]
    return sorted(fs, key=lambda p: (p.relative_to(nbs).as_posix() != 'index.ipynb', p.relative_to(nbs).as_posix()))

def src(c) -> str: return ''.join(c['source']) if isinstance(c['source'], list) else c['source']

def sources_hash(nb: dict) -> str:
    "A hash of the notebook's code cells, in order: the stamp that says which code made the stored outputs."
    h = hashlib.sha256()
    for c in nb['cells']:
        if c['cell_type'] == 'code': h.update(src(c).strip().encode() + b'\0')
    return h.hexdigest()[:16]

def is_stale(fn: Path) -> bool:
    "The notebook has stored outputs, and they were made by other code than it holds now (or carry no stamp)."
    nb = json.loads(fn.read_text(encoding='utf-8'))
    if not any(c.get('outputs') for c in nb['cells']): return False
    return nb['metadata'].get('fbtrain', {}).get('sources') != sources_hash(nb)

def skipped(cell, skip: set) -> bool:
    "The rule of nbdev_test: `#| eval: false` and cells flagged with a test flag not being run."
    from nbdev.process import extract_directives
    from execnb.nbio import dict2nb
    d = extract_directives(dict2nb({'cells': [cell]}).cells[0], remove=False)
    return d.get('eval:', [''])[0].lower() == 'false' or bool(skip & d.keys())

def exec_one(fn: Path, flags: list) -> list:
    "Execute `fn` in a fresh kernel; write it back with its outputs and stamp; return what is wrong (then not written)."
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(fn, as_version=4)
    skip = set(get_config(path=ROOT).get('tst_flags', '').split()) - set(flags)
    run = copy.deepcopy(nb)
    off = [i for i, c in enumerate(run.cells) if c.cell_type == 'code' and skipped(c, skip)]
    for i in off: run.cells[i].source = ''
    NotebookClient(run, kernel_name='python3', timeout=None, store_widget_state=False,
                   resources={'metadata': {'path': str(fn.parent)}}).execute()
    for i, c in enumerate(run.cells):
        if c.cell_type == 'code' and i not in off: nb.cells[i].outputs = c.outputs
    nb.metadata.pop('widgets', None)
    nb.metadata['fbtrain'] = {'sources': sources_hash(nb)}
    text = nbformat.writes(nb)
    errs = problems(fn.name, text)
    if not errs: fn.write_text(text + '\n', encoding='utf-8')
    return errs

def problems(name: str, text: str) -> list:
    "What is wrong with a notebook's saved text: size, widget state, embedded plotly.js."
    errs = []
    if len(text.encode()) >= MAX_BYTES: errs.append(f'{name} is {len(text.encode())/1e6:.2f} MB (limit 1 MB)')
    if 'widgets' in json.loads(text).get('metadata', {}): errs.append(f'{name} stores widget state')
    if PLOTLY_JS_MARK.search(text): errs.append(f'{name} embeds plotly.js (use the plotly_mimetype renderer)')
    return errs

def check(fn: Path) -> list: return problems(fn.name, fn.read_text(encoding='utf-8'))

def clean(fn: Path):
    subprocess.run([sys.executable, '-c', 'import sys; from nbdev.clean import nbdev_clean; '
                    'nbdev_clean.__wrapped__(fname=sys.argv[1])', str(fn)], cwd=ROOT, check=True)

def student_home(root:Path)->Path:
    """A home folder for the kernels whose CIFAR-10 sits where fbtrain caches it (`~/.cache/fbtrain/cifar10`, a link to
    FBTRAIN_DATA): the stored outputs then show the path a student sees, not this machine's folders."""
    home = root/'home'; cache = home/'.cache'/'fbtrain'
    cache.mkdir(parents=True)
    if os.environ.get('FBTRAIN_DATA'): (cache/'cifar10').symlink_to(Path(os.environ['FBTRAIN_DATA']).resolve())
    return home

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('nbs', nargs='*', help='notebooks (default: all of nbs/)')
    ap.add_argument('--flags', default='slow', help='space separated test flags whose cells run too (default "slow")')
    ap.add_argument('--keep-going', action='store_true', help='go on with the next notebook after a failure')
    ap.add_argument('--stale', action='store_true', help='only list notebooks whose stored outputs predate their code')
    a = ap.parse_args(argv)
    fns = [Path(f).resolve() for f in a.nbs] or default_nbs()
    if a.stale:
        stale = [f.name for f in fns if is_stale(f)]
        print('\n'.join(stale) or 'no stale outputs'); return 1 if stale else 0
    os.environ.update(ENV)
    for k in ('IN_TEST', 'XDG_CACHE_HOME'): os.environ.pop(k, None)
    tmp = tempfile.TemporaryDirectory(prefix='fbtrain-exec-')
    os.environ['HOME'] = str(student_home(Path(tmp.name))); os.environ.pop('FBTRAIN_DATA', None)
    failed, t00 = [], time.time()
    for fn in fns:
        t0 = time.time()
        try: errs = exec_one(fn, a.flags.split())
        except Exception as e: errs = [f'{fn.name}: execution failed: {str(e)[-3000:]}']
        if not errs: clean(fn); errs = check(fn)
        print(f'{"FAIL" if errs else "ok  "} {fn.name} ({time.time()-t0:.1f} s)', flush=True)
        for e in errs: print('     ' + e, file=sys.stderr, flush=True)
        failed += errs
        if errs and not a.keep_going: break
    print(f'{len(fns)} notebooks, {len(failed)} problems, {time.time()-t00:.0f} s', flush=True)
    return 1 if failed else 0

if __name__ == '__main__':
    sys.exit(main())
