"""Resuming through the Python API at its edges: a longer run whose cosine schedule would bend midway, a run asked to
stop before where it already is (through `Learner.fit` and through `run_recipe`), and a cancelled step."""
import json, shutil
from dataclasses import replace
import pytest, torch
from conftest import needs_cifar
from fbtrain.learner import Learner, FullBatch, MiniBatch, Schedule, CheckpointCB, Callback, CancelStepException
from fbtrain.data import get_data
from fbtrain.models import get_model
from fbtrain.recipes import get_recipe, override
from fbtrain.runs import run_recipe, RunFolderError

pytestmark = needs_cifar

@pytest.fixture(scope='module')
def data(): return get_data('cifar10', n_per_class=4, n_test=50, device='cpu')

def learner(data, horizon=None, cbs=()):
    torch.manual_seed(0)
    return Learner(get_model('convnet'), data, FullBatch(40), lr=0.1, cbs=[Schedule(1, horizon), *cbs])

def test_lengthening_refused_when_the_schedule_would_bend(data, tmp_path):
    "fit(8) from a 4-epoch checkpoint with horizon=None is refused (the cosine was set for 4 epochs); a fixed horizon allows it."
    a = learner(data); a.fit(4, cbs=[CheckpointCB(tmp_path/'a.pt', 1)])
    with pytest.raises(ValueError, match='set for 4 epochs'): learner(data).fit(8, resume=tmp_path/'a.pt')
    with pytest.raises(ValueError, match='set for 4 epochs'): a.fit(8)          # the same learner, lengthened in place
    b = learner(data, horizon=10); b.fit(4, cbs=[CheckpointCB(tmp_path/'b.pt', 1)])
    c = learner(data, horizon=10); c.fit(8, resume=tmp_path/'b.pt')
    straight = learner(data, horizon=10); straight.fit(8)
    assert c.epoch == 8 and [h['lr'] for h in c.history] == [h['lr'] for h in straight.history]

def test_fewer_epochs_than_trained(data, tmp_path):
    "fit(n) below the epochs already trained is refused, through Learner.fit and through run_recipe, leaving the folder alone."
    a = learner(data, horizon=6); a.fit(6, cbs=[CheckpointCB(tmp_path/'a.pt', 1)])
    with pytest.raises(ValueError, match='trained 6 epochs already'): learner(data, horizon=6).fit(4, resume=tmp_path/'a.pt')
    r = override(get_recipe('mini/fb-clip'), ['n_per_class=4', 'n_test=50', 'epochs=6', 'warmup=1', 'horizon=6'])
    run_recipe(r, tmp_path/'run', quiet=True)
    before = {p.name: p.read_bytes() for p in (tmp_path/'run').iterdir()}
    with pytest.raises(RunFolderError, match='has trained 6 epochs already'): run_recipe(replace(r, epochs=4), tmp_path/'run', resume=True, quiet=True)
    assert {p.name: p.read_bytes() for p in (tmp_path/'run').iterdir()} == before

class CancelOddSteps(Callback):
    "Skip every other optimizer update (a callback that decides a step should not be taken)."
    order = 5
    n = 0
    def before_step(self, learn):
        self.n += 1
        if self.n % 2: raise CancelStepException()

def test_cancelled_step_leaves_no_stale_gradient(data):
    "A cancelled MiniBatch step moves no weight and leaves no gradient behind for the next step's backward to add onto."
    seen = []
    class Check(Callback):
        order = 10
        def before_backward(self, learn):
            seen.append((learn.step, [p.grad is None for p in learn.model.parameters()],
                         [p.detach().clone() for p in learn.model.parameters()]))
    torch.manual_seed(0)
    cancel = CancelOddSteps()
    l = Learner(get_model('convnet'), data, MiniBatch(8), lr=0.1, cbs=[cancel, Check()])
    l.fit(1)
    assert cancel.n == len(seen) == 5 and l.step == 2                 # 5 batches of 8, every other update skipped
    assert all(all(none) for _, none, _ in seen), 'a gradient was left over from an earlier step'
    for (s0, _, w0), (s1, _, w1) in zip(seen, seen[1:]):              # after a cancelled update: same step, same weights
        if s1 == s0: assert all(torch.equal(a, b) for a, b in zip(w0, w1))
