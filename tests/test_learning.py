"Evidence of learning on real CIFAR-10: short SGD and full-batch runs on a balanced 1,000-image subset beat 35 %."
import pytest, torch
from fbtrain.data import get_data
from fbtrain.models import get_model
from fbtrain.learner import Learner, FullBatch, MiniBatch, Schedule, Clip, EvalCB
from conftest import needs_cifar

@pytest.fixture(scope='module')
def data(): return get_data('cifar10', n_per_class=100)   # 1,000 training images, the full 10k test set

@needs_cifar
@pytest.mark.parametrize('mode', ['sgd', 'fullbatch'])
def test_cifar_subset_beats_35(data, mode):
    torch.manual_seed(0)
    model = get_model('convnet')
    if mode == 'sgd': learn = Learner(model, data, MiniBatch(32), lr=0.05, cbs=[EvalCB(every=1000)])
    else: learn = Learner(model, data, FullBatch(32, shuffle=True), lr=0.4, cbs=[Schedule(warmup=5), Clip(0.25), EvalCB(every=1000)])
    hist = learn.fit(15 if mode == 'sgd' else 40)
    acc = hist[-1]['test_acc']
    print(f"{mode}: test accuracy {acc:.4f} on 10,000 test images after {learn.epoch} epochs ({learn.step} steps), {hist[-1]['time']:.1f} s")
    assert acc > 0.35
