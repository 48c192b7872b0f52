"Every user-facing entry point refuses bad input with a message naming the value, and leaves existing files alone."
import hashlib, json, shutil
from pathlib import Path
import numpy as np
import pytest
from fbtrain.cli import main
from fbtrain.recipes import get_recipe, override
from fbtrain.runs import run_recipe
from conftest import needs_cifar

TINY = ['--quiet', '--set', 'epochs=2', '--set', 'warmup=0', '--set', 'n_per_class=4', '--set', 'n_test=50']

def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob('*')) if p.is_file()}

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "A folder with one finished run, a corrupt-checkpoint run, and malformed data folders."
    root = tmp_path_factory.mktemp('bad')
    main(['run', 'mini/fb-clip', '--out', str(root/'run')] + TINY)
    class StopAfterOne:
        order = 50
        def after_epoch(self, learn): learn.stop_requested = True
    run_recipe(override(get_recipe('mini/fb-clip'), ['epochs=2', 'warmup=0', 'n_per_class=4', 'n_test=50']), root/'stopped', quiet=True,
               every=1, cbs=[StopAfterOne()])
    shutil.copytree(root/'run', root/'corrupt'); (root/'corrupt'/'checkpoint.pt').write_bytes(b'garbage')
    for name, imgs, labels in (('shape', np.zeros((4, 28, 28, 3), np.uint8), np.zeros(4, np.int64)),
                               ('labels', np.zeros((4, 32, 32, 3), np.uint8), np.array([0, 1, 2, 10])),
                               ('dtype', np.zeros((4, 32, 32, 3), np.float32), np.zeros(4, np.int64))):
        (root/name).mkdir()
        for split in ('train', 'test'): np.savez(root/name/f'{split}.npz', images=imgs, labels=labels)
    (root/'keys').mkdir(); np.savez(root/'keys'/'train.npz', x=np.zeros(3)); np.savez(root/'keys'/'test.npz', x=np.zeros(3))
    (root/'truncated').mkdir()                  # a copy that stopped halfway
    for split in ('train', 'test'): np.savez(root/'truncated'/f'{split}.npz', images=np.zeros((64, 32, 32, 3), np.uint8), labels=np.zeros(64, np.int64))
    b = (root/'truncated'/'train.npz').read_bytes(); (root/'truncated'/'train.npz').write_bytes(b[:len(b)//2])
    return root

CASES = [  # (id, argv with {root} placeholders, text the message must contain)
    ('lr-zero', ['run', 'mini/fb-clip', '--set', 'lr=0'], 'lr=0 is not allowed'),
    ('lr-negative', ['run', 'mini/fb-clip', '--set', 'lr=-0.1'], 'lr=-0.1 is not allowed'),
    ('clip-negative', ['run', 'mini/fb-clip', '--set', 'clip=-1'], 'clip=-1 is not allowed'),
    ('warmup-too-long', ['run', 'mini/fb-longer', '--set', 'warmup=300'], 'warmup=300 is not allowed'),
    ('epochs-zero', ['run', 'mini/sgd', '--set', 'epochs=0'], 'epochs=0 is not allowed'),
    ('resume-changed-length', ['run', 'mini/fb-clip', '--out', '{root}/stopped', '--resume', '--set', 'epochs=4'], 'would bend midway'),
    ('block-larger-than-data', ['run', 'mini/fb-clip', '--set', 'n_per_class=2', '--set', 'batch_size=64'], 'block_size=64 is not allowed for 20 examples'),
    ('subset-larger-than-data', ['run', 'mini/sgd', '--set', 'n_per_class=6000'], 'n_per_class=6000 is not allowed'),
    ('unknown-model', ['run', 'mini/fb-clip', '--set', 'model=resnet19'], "'resnet19'"),
    ('unknown-dataset', ['run', 'mini/fb-clip', '--set', 'dataset=mnist'], "dataset='mnist' is not allowed"),
    ('unknown-augment', ['run', 'mini/fb-clip', '--set', 'augment=mixup'], "augment='mixup' is not allowed"),
    ('unknown-recipe', ['run', 'paper/fb'], "unknown recipe 'paper/fb'"),
    ('malformed-set', ['run', 'mini/fb-clip', '--set', 'lr'], "malformed setting 'lr'"),
    ('unknown-key', ['run', 'mini/fb-clip', '--set', 'lrate=0.1'], "unknown config key 'lrate'"),
    ('reg-with-sgd', ['run', 'mini/sgd', '--set', 'reg_alpha=0.5'], "use 0 with SGD"),
    ('data-missing', ['run', 'mini/fb-clip', '--data-dir', '{root}/nowhere'], 'is not a folder'),
    ('data-shape', ['run', 'mini/fb-clip', '--data-dir', '{root}/shape'], '(4, 28, 28, 3)'),
    ('data-labels', ['run', 'mini/fb-clip', '--data-dir', '{root}/labels'], 'allowed: 0..9'),
    ('data-dtype', ['run', 'mini/fb-clip', '--data-dir', '{root}/dtype'], 'expected uint8'),
    ('data-keys', ['run', 'mini/fb-clip', '--data-dir', '{root}/keys'], "expected 'images'"),
    ('data-truncated', ['run', 'mini/fb-clip', '--data-dir', '{root}/truncated'], 'truncated/train.npz: cannot be read as an npz file'),
    ('out-holds-other-run', ['run', 'mini/sgd', '--out', '{root}/run'], 'holds a different run'),
    ('out-holds-same-run', ['run', 'mini/fb-clip', '--out', '{root}/run'], 'already holds this run'),
    ('resume-nothing', ['run', 'mini/fb-clip', '--out', '{root}/empty', '--resume'], 'nothing to resume'),
    ('resume-corrupt', ['run', 'mini/fb-clip', '--out', '{root}/corrupt', '--resume'], 'truncated or corrupted'),
    ('threads-zero', ['--threads', '0', 'data'], 'thread count 0 is not allowed'),
]

@needs_cifar
@pytest.mark.parametrize('argv,msg', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(world, argv, msg, capsys):
    argv = [a.replace('{root}', str(world)) for a in argv]
    if argv[0] == 'run' and '--out' not in argv: argv += ['--out', str(world/'fresh')]
    before = snapshot(world)
    # the tiny defaults go first, so the case's own --set values win
    with pytest.raises(SystemExit) as e: main(argv[:1] + TINY + argv[1:] if argv[0] == 'run' else argv)
    assert msg in str(e.value), str(e.value)
    assert str(e.value).startswith('fbtrain: error:')
    after = snapshot(world)
    assert {k: v for k, v in after.items() if k in before} == before, 'an existing file changed'

def test_enough_cases(): assert len(CASES) >= 15
