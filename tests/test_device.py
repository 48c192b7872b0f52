"The device policy of fbtrain.device, on a CPU-only machine: CUDA and MPS are faked by patching torch's availability checks."
import copy, os
import pytest
import torch
import torch.nn as nn
from fbtrain.device import (DEVICE_ENV, available_devices, resolve_device, fast_defaults, device_flags, to_device,
                            check_same_device, oom_hint, DeviceMemoryError)
from conftest import needs_cifar


@pytest.fixture
def machine(monkeypatch):
    "Make this machine look like one with `cuda` GPUs and (or not) MPS, with FBTRAIN_DEVICE unset."
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    def fake(cuda=0, mps=False):
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, 'device_count', lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: mps)
    return fake


@pytest.mark.parametrize('cuda,mps,want', [(0, False, 'cpu'), (0, True, 'mps'), (1, False, 'cuda'), (2, True, 'cuda')])
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, want):
    machine(cuda, mps)
    assert resolve_device() == resolve_device('auto') == resolve_device(None) == torch.device(want)
    assert available_devices() == [f'cuda:{i}' for i in range(cuda)] + (['mps'] if mps else []) + ['cpu']


def test_auto_on_this_machine(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    want = 'cuda' if torch.cuda.is_available() else 'mps' if torch.backends.mps.is_available() else 'cpu'
    assert resolve_device() == torch.device(want)


def test_explicit_devices(machine):
    machine(2, True)
    assert resolve_device('cuda:1') == torch.device('cuda:1')
    assert resolve_device('mps') == torch.device('mps')
    assert resolve_device('cpu') == resolve_device(torch.device('cpu')) == torch.device('cpu')


def test_env_overrides_auto_only(machine, monkeypatch):
    machine(1)
    monkeypatch.setenv(DEVICE_ENV, 'cpu')
    assert resolve_device() == torch.device('cpu')
    assert resolve_device('cuda') == torch.device('cuda')            # an explicit argument wins over the variable
    monkeypatch.setenv(DEVICE_ENV, 'auto')
    assert resolve_device() == torch.device('cuda')
    machine(0)
    monkeypatch.setenv(DEVICE_ENV, 'cuda')
    with pytest.raises(ValueError, match=r"device 'cuda' \(from FBTRAIN_DEVICE\) is not available on this machine; available: cpu"):
        resolve_device()


@pytest.mark.parametrize('cuda,mps,name,msg', [
    (0, False, 'cuda', "device 'cuda' is not available on this machine; available: cpu"),
    (1, False, 'cuda:3', "device 'cuda:3' is not available on this machine; available: cuda:0, cpu"),
    (1, False, 'mps', "device 'mps' is not available on this machine; available: cuda:0, cpu"),
    (0, True, 'cuda:0', "device 'cuda:0' is not available on this machine; available: mps, cpu"),
    (0, False, 'meta', "device 'meta' is not available on this machine; available: cpu"),
    (0, False, 'cpu:1', "device 'cpu:1' is not available on this machine; available: cpu"),
    (0, False, 'gpu', "device 'gpu' is not a device name (an NVIDIA GPU is 'cuda'); use 'auto' or one of: cpu"),
    (2, False, 'tpu', "device 'tpu' is not a device name; use 'auto' or one of: cuda:0, cuda:1, cpu"),
])
def test_bad_device_names(machine, cuda, mps, name, msg):
    machine(cuda, mps)
    with pytest.raises(ValueError) as e: resolve_device(name)
    assert str(e.value) == msg
    with pytest.raises(ValueError) as e: to_device(nn.Linear(2, 2), name)
    assert str(e.value) == msg


def test_model_and_data_on_different_devices():
    x = torch.randn(4, 3, 32, 32)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    assert check_same_device(model, x, torch.zeros(4, dtype=torch.long)) == torch.device('cpu')
    with pytest.raises(ValueError, match=r"the model is on meta but tensor 1 \(shape \(4, 3, 32, 32\)\) is on cpu"):
        check_same_device(copy.deepcopy(model).to('meta'), torch.empty(1, device='meta'), x)
    with pytest.raises(ValueError, match=r"the model is on cpu but tensor 0 \(shape \(2,\)\) is on meta"):
        check_same_device(model, torch.empty(2, device='meta'))
    model[1].to('meta')
    with pytest.raises(ValueError, match='spread over devices cpu, meta'): check_same_device(model, x)


def test_fast_defaults(monkeypatch):
    before = device_flags()
    assert fast_defaults('cpu') == {} and fast_defaults('cpu', deterministic=True) == {} and device_flags() == before
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    try:   # the CUDA switches are plain flags: they can be set and read without a GPU
        f = fast_defaults('cuda')
        assert (f['cudnn_benchmark'], f['tf32_matmul'], f['tf32_conv'], f['deterministic_algorithms']) == (True, True, True, False)
        d = fast_defaults('cuda:0', deterministic=True)
        assert (d['cudnn_benchmark'], d['cudnn_deterministic'], d['tf32_matmul'], d['tf32_conv'], d['deterministic_algorithms']) == \
               (False, True, False, False, True)
        assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before['cudnn_benchmark'], before['cudnn_deterministic']
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before['tf32_matmul'], before['tf32_conv']
        torch.use_deterministic_algorithms(before['deterministic_algorithms'])
    assert device_flags()['deterministic_algorithms'] == before['deterministic_algorithms']


def _raise_in_hint(err, block_size=512, precision='fp32'):
    with oom_hint(block_size, precision): raise err


def test_oom_hint():
    oom = torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
    with pytest.raises(torch.cuda.OutOfMemoryError) as e: _raise_in_hint(oom)
    assert type(e.value) is DeviceMemoryError and e.value.__cause__ is oom
    assert "block_size=512" in str(e.value) and "precision 'bf16'" in str(e.value) and 'Tried to allocate 2.00 GiB' in str(e.value)
    with pytest.raises(DeviceMemoryError, match=r'a smaller block_size \(now 64, e.g. 32'): _raise_in_hint(RuntimeError('MPS backend out of memory'), 64)
    with pytest.raises(DeviceMemoryError) as e: _raise_in_hint(oom, 32, 'bf16')
    assert "precision 'bf16' (" not in str(e.value)                       # already bf16: only the block size is left
    with pytest.raises(RuntimeError) as e: _raise_in_hint(RuntimeError('mat1 and mat2 shapes cannot be multiplied'))
    assert type(e.value) is RuntimeError                                  # other errors pass through unchanged
    with pytest.raises(ValueError, match="precision 'fp16' is not allowed"): _raise_in_hint(oom, 32, 'fp16')


@needs_cifar
def test_channels_last_convnet_same_gradient_on_cifar():
    from fbtrain.data import load_cifar10, normalize
    from fbtrain.models import get_model
    from fbtrain.gradient import full_batch_gradient, rel_err, trainable
    x, y = load_cifar10('train'); x, y = normalize(x[:256]), y[:256]
    torch.manual_seed(0); nchw = get_model('convnet')
    cl = to_device(copy.deepcopy(nchw), 'cpu')
    w = cl[0].weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()    # really channels_last
    def grads(m, x):
        full_batch_gradient(m, x, y, 32, accum_dtype=next(m.parameters()).dtype)
        return [p.grad.detach().clone() for p in trainable(m)]
    g, gcl, g64 = grads(nchw, x), grads(cl, x), grads(copy.deepcopy(nchw).double(), x.double())
    e, ecl = rel_err(g, g64), rel_err(gcl, g64)
    assert e < 1e-3 and ecl < 1e-3, (e, ecl)   # both within float32 rounding of float64 (about 1e-4 for this net, BN on blocks of 32)
    assert rel_err(gcl, g) < 1e-3
