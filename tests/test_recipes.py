"Every recipe value pinned against the paper's official configs and the CPU ladder protocol, and every paper recipe dry-run."
import math
from dataclasses import asdict, fields
import pytest
import torch
from fbtrain.recipes import Recipe, RECIPES, list_recipes, get_recipe, override, build
from fbtrain.runs import run_recipe
from fbtrain.models import num_params
from conftest import needs_cifar

# ---- the tables, written from the reference notes, not from the module ----
# the paper's official configs: ResNet-18, Nesterov 0.9, wd 5e-4 on all params, blocks/batches of 128 with drop-last, crop+flip, fp32.
PAPER_COMMON = dict(model='resnet18', dataset='cifar10', n_per_class=None, n_test=None, reg_eps=0.01, reg_convention='paper',
                    drop_last=True, augment='random', copies=10, momentum=0.9, weight_decay=5e-4, eval_every=None, sharpness_every=0, precision='fp32', seed=0)
#                        mode  epochs lr   warmup horizon clip  reg_alpha block shuffle
PAPER = {'paper/sgd':           ('sgd', 300, 0.1, 5, 300, None, 0.0, 128, True),
         'paper/fb-baseline':   ('fb', 300, 0.1, 5, 300, None, 0.0, 128, False),
         'paper/fb-longer':     ('fb', 3000, 0.4, 400, 4000, None, 0.0, 128, False),
         'paper/fb-clip':       ('fb', 3000, 0.4, 400, 4000, 0.25, 0.0, 128, False),
         'paper/fb-reg':        ('fb', 3000, 0.8, 400, 4000, 0.25, 0.5, 128, False),
         'paper/fb-strong-reg': ('fb', 3000, 0.8, 400, 4000, 0.25, 0.5, 32, False),
         'paper/fb-practice':   ('fb', 3000, 0.8, 400, 4000, 0.25, 0.5, 32, True)}
# the CPU ladder protocol: first 64 (or 256) per class, the 4-conv BN net, B=32 for SGD batch and ghost-BN block, blocks
# re-drawn every step, full 10k test set, Nesterov 0.9, wd 5e-4, crop+flip.
MINI_COMMON = dict(model='convnet', dataset='cifar10', n_test=None, reg_eps=0.01, reg_convention='paper', augment='random', copies=10,
                   momentum=0.9, weight_decay=5e-4, seed=0, horizon=None, batch_size=32, shuffle=True, sharpness_every=0, precision='fp32')
#                  mode  epochs lr   warmup clip  reg_alpha drop_last eval_every
MINI = {'sgd':         ('sgd', 100, 0.05, 0, None, 0.0, True, 20),
        'fb-baseline': ('fb', 100, 0.1, 5, None, 0.0, False, 20),
        'fb-longer':   ('fb', 300, 0.4, 40, None, 0.0, False, 50),
        'fb-clip':     ('fb', 300, 0.4, 40, 0.25, 0.0, False, 50),
        'fb-reg':      ('fb', 300, 0.8, 40, 0.25, 0.5, False, 50)}

def expected()->dict:
    exp = {}
    for name, (mode, epochs, lr, warmup, horizon, clip, alpha, bs, shuffle) in PAPER.items():
        row = dict(PAPER_COMMON, mode=mode, epochs=epochs, lr=lr, warmup=warmup, horizon=horizon, clip=clip, reg_alpha=alpha, batch_size=bs, shuffle=shuffle)
        exp[name] = row
        exp[name + '-noaug'] = dict(row, augment='none')
        # 10×CIFAR: 10 fixed crop+flip copies; SGD: 30 passes over the 500k images = the paper's 300 one-copy epochs
        exp[name + '-10x'] = dict(row, augment='fixed', copies=10, **(dict(epochs=30, warmup=0, horizon=30) if mode == 'sgd' else {}))
    for fam, npc in (('mini', 64), ('mini2560', 256)):
        for rung, (mode, epochs, lr, warmup, clip, alpha, drop, ev) in MINI.items():
            exp[f'{fam}/{rung}'] = dict(MINI_COMMON, n_per_class=npc, mode=mode, epochs=epochs, lr=lr, warmup=warmup, clip=clip,
                                        reg_alpha=alpha, drop_last=drop, eval_every=ev)
    # the N = 2,560 study: the final rung's settings with alpha 0, 0.25 and 1, and each alpha > 0 on blocks of 128
    reg = exp['mini2560/fb-reg']
    for a in (0., 0.25, 1.): exp[f'mini2560/fb-reg-a{a:g}'] = dict(reg, reg_alpha=a)
    for a in (0.25, 0.5, 1.): exp[f'mini2560/fb-reg-a{a:g}-b128'] = dict(reg, reg_alpha=a, batch_size=128)
    return exp

EXPECTED = expected()

def test_same_recipe_names(): assert list(EXPECTED) == list_recipes()

@pytest.mark.parametrize('name', list(EXPECTED))
def test_every_value_pinned(name):
    r = get_recipe(name)
    got = {k: v for k, v in asdict(r).items() if k not in ('name', 'description')}
    assert got == EXPECTED[name]
    assert set(got) == {f.name for f in fields(Recipe)} - {'name', 'description'}, 'a recipe key is not pinned'
    assert r.name == name and r.description and r.validate() is r

def test_frozen():
    with pytest.raises(Exception): get_recipe('paper/fb-reg').lr = 1.0

def test_override_types_and_errors():
    r = override(get_recipe('paper/fb-reg'), ['lr=1.6', 'clip=none', 'shuffle=yes', 'epochs=10', 'warmup=2'])
    assert (r.lr, r.clip, r.shuffle, r.epochs) == (1.6, None, True, 10) and get_recipe('paper/fb-reg').lr == 0.8
    for bad, msg in ((['lr'], "malformed setting 'lr'"), (['lrate=1'], "unknown config key 'lrate'"),
                     (['lr=0'], 'lr=0 is not allowed'), (['shuffle=maybe'], "shuffle='maybe' is not allowed"),
                     (['reg_convention=x'], "reg_convention='x' is not allowed")):
        with pytest.raises(ValueError, match=msg): override(r, bad)

# ---- dry runs: every paper recipe runs 2 steps with the exact model ----
def dry(name, tmp_path, n_per_class):
    r = override(get_recipe(name), [f'n_per_class={n_per_class}', 'n_test=50', 'epochs=2', 'warmup=0'])
    learn = build(r)
    assert learn.model.__class__.__name__ == 'ResNet' and 11_100_000 < num_params(learn.model) < 11_250_000
    before = [p.detach().clone() for p in learn.model.parameters()]
    s = run_recipe(r, tmp_path/'run', quiet=True, every=1)
    assert s['status'] == 'finished' and s['epochs'] == 2, s
    assert math.isfinite(s['test_loss']) and math.isfinite(s['train_loss'])
    assert (tmp_path/'run'/'checkpoint.pt').is_file()
    after = torch.load(tmp_path/'run'/'checkpoint.pt', weights_only=True)['model']
    assert any(not torch.equal(b, a) for b, a in zip(before, (after[k] for k, _ in learn.model.named_parameters()))), 'no parameter moved'
    return s

@needs_cifar
@pytest.mark.parametrize('name', ['paper/sgd', 'paper/fb-reg'])
def test_dry_run_fast(name, tmp_path):
    "130 images: just above one block/batch of 128, the paper's size."
    dry(name, tmp_path, 13)

@needs_cifar
@pytest.mark.slow
@pytest.mark.parametrize('name', list_recipes('paper/'))
def test_dry_run_every_paper_recipe(name, tmp_path):
    "About 256 images per step (260; the -10x variants: 10 copies of 30), 2 steps, the exact model and settings."
    dry(name, tmp_path, 3 if name.endswith('-10x') else 26)
