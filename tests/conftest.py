import os, pytest, torch
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2]/'shared'/'data'/'cifar10'
if 'FBTRAIN_DATA' not in os.environ and SHARED.is_dir(): os.environ['FBTRAIN_DATA'] = str(SHARED)

def _has_cifar():
    try:
        from fbtrain.data import load_cifar10
        load_cifar10('test', download=False); return True
    except Exception: return False

needs_cifar = pytest.mark.skipif(not _has_cifar(), reason='CIFAR-10 not available (set FBTRAIN_DATA)')

@pytest.fixture(scope='module')
def one_thread():
    "The module's tests run at one torch thread (the thread count changes the numerics); restored afterwards."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
