"""Tutorial 31b (where the regularizer comes from) runs, and its numerical check of backward error analysis holds.

The notebook's code runs in this process with execnb (as `nbdev_test` runs it: cells flagged with settings.ini's
`tst_flags` or `#| eval: false` are skipped) at one torch thread; the fitted log-log slopes are read from its
namespace. Float64 on a tiny network, so the numbers do not depend on the machine."""
import os, sys
from pathlib import Path
import pytest
import torch
from execnb.nbio import read_nb
from execnb.shell import CaptureShell
from nbdev.config import get_config
from nbdev.process import extract_directives

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT/'nbs'/'31b_where_the_regularizer_comes_from.ipynb'

def _no_eval(skip:set):
    "Cell filter with the rule of nbdev.test.test_nb: True for cells that must not run."
    def f(cell):
        if cell.cell_type != 'code': return True
        d = extract_directives(cell, remove=False)
        if d.get('eval:', [''])[0].lower() == 'false': return True
        return bool(skip & d.keys())
    return f

@pytest.fixture(scope='module')
def ns():
    "The notebook's namespace after running all its cells at one torch thread."
    old_threads, old_env = torch.get_num_threads(), os.environ.get('FBTRAIN_THREADS')
    os.environ['FBTRAIN_THREADS'] = '1'; torch.set_num_threads(1)
    try:
        sh = CaptureShell(NB)
        skip = set(get_config(path=ROOT).get('tst_flags', '').split())
        try: sh.run_all(read_nb(NB), exc_stop=True, preproc=_no_eval(skip))
        except BaseException:
            pytest.fail(sh.prettytb(fname=NB) if getattr(sh, 'exc', None) else repr(sys.exc_info()[1]))
        yield sh.user_ns
    finally:
        torch.set_num_threads(old_threads)
        if old_env is None: os.environ.pop('FBTRAIN_THREADS', None)
        else: os.environ['FBTRAIN_THREADS'] = old_env

def test_slopes(ns):
    "Averaged SGD epoch vs the flow of L: slope about 2; vs the flow of the modified loss, and GD vs its own: about 3."
    s = ns['slopes']
    assert 1.7 <= s['a'] <= 2.3, s
    assert s['b'] >= 2.6 and s['c'] >= 2.6, s

def test_modified_loss_is_closer(ns):
    "At the smallest learning rate, the averaged SGD epoch is much closer to the modified flow than to the flow of L."
    d, etas = ns['dists'], ns['ETAS']
    i = etas.index(min(etas))
    assert d['b'][i] < d['a'][i], d
    assert d['b'][i] < d['a'][i]/10, d

def test_regularizer_matches_sgd_term(ns):
    "GradNormRegularizer's coefficient for 'paper' α = 2 and 'smith' α = 1 is SGD's η/4."
    R = ns['GradNormRegularizer']
    assert R(alpha=2, convention='paper').coef(0.1) == pytest.approx(0.1/4)
    assert R(alpha=1, convention='smith').coef(0.1) == pytest.approx(0.1/4)
