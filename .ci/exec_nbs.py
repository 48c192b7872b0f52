"""Execute notebooks in place and save their outputs (the docs site shows stored outputs).

    python .ci/exec_nbs.py [NB ...] [--flags "slow"] [--keep-going]

Default: every notebook in nbs/ (file-name order, `index.ipynb` first). Each notebook runs in its own fresh
process with nbdev's machinery (execnb's `CaptureShell`, as `nbdev_test` runs it), with the working directory set to
the notebook's folder and FBTRAIN_THREADS=1. Cells flagged with a test flag of settings.ini (`tst_flags`: `#| slow`,
`#| notest`) or `#| eval: false` are skipped, as in nbdev_test (their stored outputs, if any, are kept; `--flags`
runs flagged cells too, like `nbdev_test --flags`). Outputs are written back, widget state is never stored
(`metadata.widgets` removed), plotly figures use the `notebook_connected` renderer (no embedded plotly.js) and each
notebook must stay under 1 MB. Finally `nbdev_clean` runs on every executed notebook.
"""
import argparse, json, os, subprocess, sys, time, traceback
from pathlib import Path
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000
PLOTLY_JS_MARK = 'plotly.js v'          # the banner at the top of the embedded plotly.js bundle

def default_nbs():
    "Every notebook in nbs/ (not in `_`/`.` folders, not `_`/`.` files), index first, then file-name order."
    nbs = get_config(path=ROOT).nbs_path
    fs = [p for p in nbs.rglob('*.ipynb')
          if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)]
    return sorted(fs, key=lambda p: (p.relative_to(nbs).as_posix() != 'index.ipynb', p.relative_to(nbs).as_posix()))

def exec_one(fn: Path, flags: list) -> None:
    "Run in a fresh process: execute `fn` in place with execnb's CaptureShell, skipping flagged cells."
    from execnb.nbio import read_nb, write_nb, nb2str
    from execnb.shell import CaptureShell
    from nbdev.process import NBProcessor, extract_directives
    from nbdev.frontmatter import FrontmatterProc
    skip = set(get_config(path=ROOT).get('tst_flags', '').split()) - set(flags)
    fm = getattr(NBProcessor(fn, procs=FrontmatterProc, process=True).nb, 'frontmatter_', {}) or {}
    if str(fm.get('skip_exec', '')).lower() in ('true', 'yes', '1'):
        print(f'  {fn.name}: skip_exec set, not executed'); return
    nb = read_nb(fn)
    def no_eval(cell):                  # same rule as nbdev.test.test_nb
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        d = extract_directives(cell, remove=False)
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return bool(skip & d.keys())
    os.environ.pop('IN_TEST', None)
    shell = CaptureShell(fn)
    shell._fname = fn
    try: shell.run_all(nb, exc_stop=True, preproc=no_eval)
    except BaseException:
        if shell.exc: sys.stderr.write(shell.prettytb(fname=fn) + '\n')
        else: traceback.print_exc()
        sys.exit(1)
    nb.metadata.pop('widgets', None)
    errs = problems(fn.name, nb2str(nb))
    if errs:                            # leave the notebook as it was
        print('\n'.join(errs) + '\n(notebook not written)', file=sys.stderr); sys.exit(2)
    write_nb(nb, fn)

def problems(name: str, text: str) -> list:
    "What is wrong with a notebook's saved text: size, widget state, embedded plotly.js."
    errs = []
    if len(text.encode()) >= MAX_BYTES: errs.append(f'{name} is {len(text.encode())/1e6:.2f} MB (limit 1 MB)')
    if 'widgets' in json.loads(text).get('metadata', {}): errs.append(f'{name} stores widget state')
    if PLOTLY_JS_MARK in text: errs.append(f'{name} embeds plotly.js (use the notebook_connected renderer)')
    return errs

def check(fn: Path) -> list: return problems(fn.name, fn.read_text(encoding='utf-8'))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('nbs', nargs='*', help='notebooks (default: all of nbs/)')
    ap.add_argument('--flags', default='', help='space separated test flags whose cells run too (e.g. "slow")')
    ap.add_argument('--keep-going', action='store_true', help='go on with the next notebook after a failure')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:                           # child process: one notebook
        exec_one(Path(a.one), a.flags.split()); return 0
    fns = [Path(f).resolve() for f in a.nbs] or default_nbs()
    env = dict(os.environ, FBTRAIN_THREADS='1')
    env.setdefault('PLOTLY_RENDERER', 'notebook_connected')
    failed, t00 = [], time.time()
    for fn in fns:
        t0 = time.time()
        r = subprocess.run([sys.executable, __file__, '--one', str(fn), '--flags', a.flags], cwd=fn.parent, env=env)
        errs = [] if r.returncode == 0 else [f'{fn.name}: execution failed (rc {r.returncode})']
        if not errs:
            subprocess.run([sys.executable, '-c', 'import sys; from nbdev.clean import nbdev_clean; nbdev_clean.__wrapped__(fname=sys.argv[1])',
                            str(fn)], cwd=ROOT, check=True)
            errs = check(fn)
        print(f'{"FAIL" if errs else "ok  "} {fn.name} ({time.time()-t0:.1f} s)', flush=True)
        for e in errs: print('     ' + e, file=sys.stderr, flush=True)
        failed += errs
        if errs and not a.keep_going: break
    print(f'{len(fns)} notebooks, {len(failed)} problems, {time.time()-t00:.0f} s', flush=True)
    return 1 if failed else 0

if __name__ == '__main__':
    sys.exit(main())
