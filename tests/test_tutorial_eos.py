"""What tutorial 31 (nbs/31_edge_of_stability) shows, pinned here.

The tutorial prints what a student's own run gives, on whatever device, CPU and thread count they have, and asserts
nothing about it. These tests train the same runs (the same seed, data, network and settings, through a copy of the
tutorial's `eos_learner`) on the CPU at one torch thread, and check what its prose and answers say, with margin.
All runs together take well under a minute."""
import json, re
from functools import partial
from pathlib import Path
import pytest, torch
import torch.nn.functional as F
from fbtrain.data import get_data
from fbtrain.models import get_model
from fbtrain.optim import make_optimizer
from fbtrain.learner import Learner, FullBatch, MiniBatch, EvalCB, Clip
from fbtrain.stability import SharpnessCB, mse_loss, stability_threshold, standardized

NB = Path(__file__).resolve().parents[1]/'nbs'/'31_edge_of_stability.ipynb'
LR = 0.4

pytestmark = pytest.mark.usefixtures('one_thread')   # every test here at one torch thread (conftest.py)

@pytest.fixture(scope='module')
def digits(one_thread): return standardized(get_data('digits', device='cpu'))

def eos_learner(data, train, epochs:int, every:int, cbs=(), lr:float=LR, width:int=64, loss_func=mse_loss):
    "The tutorial's `eos_learner`, `data` first: a tanh MLP, plain (S)GD, full-batch sharpness every `every` epochs."
    torch.manual_seed(0)
    sharp = SharpnessCB(every=every, probe=None, block_size=len(data.y_train))
    model = get_model('mlp', in_features=data.x_train[0].numel(), width=width, depth=2, act='tanh')
    model = model.to(data.x_train.device)
    plain_gd = partial(make_optimizer, momentum=0., weight_decay=0.)
    learn = Learner(model, data, train, lr=lr, loss_func=loss_func, opt_func=plain_gd,
                    cbs=[sharp, EvalCB(every=max(1, epochs//10)), *cbs])
    return learn, sharp

def rises(learn)->int:
    "How many of the last 250 steps raised the training loss."
    losses = [r['loss'] for r in learn.history]
    return sum(b > a for a, b in zip(losses[-251:], losses[-250:]))

def edge(cb, lr:float=LR)->dict:
    "The tutorial's `edge`, unrounded: sharpness over 2/η at the first reading, at most, and over the second half."
    thr, s = stability_threshold(lr), [(r['step'], r['sharpness']) for r in cb.records]
    late = [v/thr for st, v in s if st >= s[-1][0]//2]
    return dict(first=s[0][1]/thr, max=max(v for _, v in s)/thr, late=(min(late), max(late)), last=s[-1][1]/thr)

@pytest.fixture(scope='module')
def run(digits):
    "Trains one of the tutorial's runs on first use (each once per module); returns (learner, SharpnessCB)."
    n = len(digits.y_train)
    specs = {'gd': (FullBatch(n), 500, 10, {}), 'sgd': (MiniBatch(32), 12, 1, {}),
             'gd_half_lr': (FullBatch(n), 1500, 25, dict(lr=LR/2)),
             'clip': (FullBatch(n), 500, 10, dict(cbs=[Clip(0.1)])), 'sgd128': (MiniBatch(128), 40, 1, {}),
             'lr08': (FullBatch(n), 300, 10, dict(lr=0.8)),
             'ce': (FullBatch(n), 500, 10, dict(loss_func=F.cross_entropy))}
    runs = {}
    def get(name):
        if name not in runs:
            train, epochs, every, kw = specs[name]
            learn, cb = eos_learner(digits, train, epochs, every, **kw)
            learn.fit(epochs); runs[name] = (learn, cb)
        return runs[name]
    return get

# ---------------------------------------------------------------- the main path

def test_setting(digits):
    "1,437 standardised training images of 64 features; η = 0.4, so 2/η = 5; SGD at batch 32 takes 44 steps an epoch."
    assert tuple(digits.x_train.shape) == (1437, 64) and stability_threshold(LR) == 5
    assert torch.allclose(digits.x_train.mean(0), torch.zeros(64), atol=1e-5)

def test_runs_finish(run):
    (gd, _), (sgd, _) = run('gd'), run('sgd')
    assert (gd.status, gd.step, sgd.status, sgd.step) == ('finished', 500, 'finished', 12*44)

def test_gd_sharpens_to_the_edge_and_hovers(run):
    "GD's sharpness starts at about half of 2/η, more than doubles, and over steps 250-500 stays in 0.8-1.3 × 2/η."
    _, cb = run('gd')
    thr, s = stability_threshold(LR), [(r['step'], r['sharpness']) for r in cb.records]
    late = [v for st, v in s if st >= 250]
    assert 0.4*thr < s[0][1] < 0.6*thr, s[0]
    assert max(late) > 2*s[0][1], s
    assert any(v >= thr for _, v in s), s                          # it reaches the line
    assert 0.8*thr <= min(late) and max(late) <= 1.3*thr, late     # and stays near it: no runaway, no fall back

def test_gd_loss_falls_but_not_monotonically(run):
    "Over the second half the loss ends lower, yet some steps raise it (the tutorial's 'What happened')."
    gd, _ = run('gd')
    losses = [r['loss'] for r in gd.history]
    assert len(losses) == 500
    assert losses[-1] < losses[249], (losses[249], losses[-1])
    assert rises(gd) >= 10, rises(gd)

def test_sgd_stays_below_the_edge(run):
    "SGD at batch 32 and the same η stays below 2/η in all its 528 steps, more than GD needed to reach it."
    _, cb = run('sgd')
    thr = stability_threshold(LR)
    assert max(r['sharpness'] for r in cb.records) < 0.95*thr, cb.records
    assert cb.records[-1]['step'] == 528

def test_both_learn(run):
    (gd, _), (sgd, _) = run('gd'), run('sgd')
    assert gd.history[-1]['test_acc'] > 0.9 and sgd.history[-1]['test_acc'] > 0.9

def test_threshold_follows_lr(run):
    "At η = 0.2 the sharpness goes past 5 and levels off near 10: 0.8-1.3 × 2/η over steps 1,000-1,500."
    gd2, cb = run('gd_half_lr')
    thr = stability_threshold(LR/2)
    assert thr == 10 and gd2.status == 'finished'
    late = [r['sharpness'] for r in cb.records if r['step'] >= 1000]
    assert 0.8*thr <= min(late) and max(late) <= 1.3*thr, late

# ---------------------------------------------------------------- Try this: the answers under "What you should see"

def test_clip_goes_past_the_edge(run):
    "Clip(0.1): the second half lies 20 % or more above 2/η, the loss falls smoothly, the clip fires on most steps."
    learn, cb = run('clip')
    e = edge(cb)
    assert e['late'][0] > 1.2 and e['max'] > 1.4, e
    assert e['late'][0] > edge(run('gd')[1])['late'][1], e         # above anything plain GD reached late
    fired = [r['clipped'] for r in learn.history[250:]]
    assert sum(fired) > 0.5*len(fired), sum(fired)
    assert rises(learn) < rises(run('gd')[0])/2, (rises(learn), rises(run('gd')[0]))

def test_batch128_reaches_the_edge(run):
    "Batch 128 gets higher than batch 32, to about 2/η (maximum within 20 % of it), and stays near it."
    e32, e128 = edge(run('sgd')[1]), edge(run('sgd128')[1])
    assert e128['max'] > e32['max'], (e32, e128)
    assert 0.9 < e128['max'] < 1.2, e128
    assert 0.8 < e128['late'][0] and e128['late'][1] < 1.2, e128

def test_double_lr_settles_at_its_own_edge(run):
    "η = 0.8: starts just below 2/η = 2.5, finishes, overshoots early, then hovers at or a little above the line."
    learn, cb = run('lr08')
    e = edge(cb, 0.8)
    assert learn.status == 'finished' and learn.history[-1]['loss'] < learn.history[0]['loss']
    assert 0.9 < e['first'] < 1, e
    assert e['max'] > 1.2, e
    assert 0.95 <= e['late'][0] and e['late'][1] <= 1.3, e

def test_cross_entropy_stays_far_below(run):
    "Cross-entropy: the sharpness stays under half of 2/η, peaks early and ends at a fraction of its peak."
    learn, cb = run('ce')
    e = edge(cb)
    assert e['max'] < 0.5 and e['last'] < 0.5*e['max'], e
    peak = max(cb.records, key=lambda r: r['sharpness'])['step']
    assert peak < 250, peak
    assert learn.history[-1]['loss'] < 0.05

# ---------------------------------------------------------------- the page itself

def test_tutorial_asserts_nothing():
    "The tutorial's code cells pin no numbers (those checks are the tests above) and its lines stay short."
    cells = json.loads(NB.read_text())['cells']
    code = [''.join(c['source']) for c in cells if c['cell_type'] == 'code']
    bad = [s for s in code if re.search(r'^\s*assert\b|\btest_(eq|close|ne|fail)\b|fastcore\.test', s, re.M)]
    assert not bad, bad[0][:300]
    sources = [''.join(c['source']) for c in cells]
    assert not [s for s in sources if re.search(r'this project|this CPU', s, re.I)]
    long = [l for c in cells if c['id'] not in ('c000', 'c001')
            for l in ''.join(c['source']).splitlines() if len(l) > 120]
    assert not long, long   # c000's one-line summary and c001's install cell are the same in every tutorial

def test_tutorial_file_is_light():
    "No widget state or widget views, no embedded plotly.js, under 1 MB."
    text = NB.read_text()
    assert len(text.encode()) < 1_000_000
    nb = json.loads(text)
    assert 'widgets' not in nb.get('metadata', {})
    assert 'application/vnd.jupyter.widget-view+json' not in text and 'plotly.js v' not in text.lower()
