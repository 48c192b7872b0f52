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

# Debian's chromium, headless, with nothing in the background: on a closed network its own update, sync and
# name-lookup requests only fail, many at a time
CHROMIUM = os.environ.get('FBTRAIN_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--disable-default-apps', '--disable-extensions', '--no-default-browser-check']
