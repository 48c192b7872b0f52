"""What the tutorials (nbs/30_sgd_vs_fullbatch, 32_reproducing_the_paper, 33_flat_minima) rely on, pinned here.

A tutorial shows what a student's own run gives, on whatever device, CPU and thread count they have, and asserts
nothing about it. These tests run the same small computations on the CPU at one torch thread and check the numbers
and behaviour the pages describe, with margin, plus the shipped results the pages read (fbtrain/results/*.json)."""
import json
from dataclasses import replace
from pathlib import Path
import pytest, torch
import fbtrain
from fbtrain.blocknorms import BlockGradNormCB
from fbtrain.cli import run_cli
from fbtrain.data import get_data
from fbtrain.hessian import top_eigenvalue
from fbtrain.ladder import paired_interval
from fbtrain.landscape import filter_normalized_direction, loss_surface_1d
from fbtrain.learner import DivergedError, evaluate
from fbtrain.recipes import get_recipe, build, list_recipes
from conftest import needs_cifar

RESULTS = Path(fbtrain.__file__).parent/'results'
N_PER_CLASS, N_TEST, E = 32, 2000, 20          # the scale of tutorials 30 and 33

pytestmark = pytest.mark.usefixtures('one_thread')   # every test here at one torch thread (conftest.py)

def rung(name:str, **kw):
    "Tutorial 30's `rung`: the registered recipe at N = 320, 2,000 test images, evaluated six times."
    r = replace(get_recipe(name), n_per_class=N_PER_CLASS, n_test=N_TEST, **kw)
    return replace(r, eval_every=max(1, r.epochs//6)).validate()

LADDER = {'SGD': rung('mini/sgd', epochs=E),
          'FB naive': rung('mini/fb-baseline', epochs=E, warmup=1),
          'FB longer': rung('mini/fb-longer', epochs=3*E, warmup=8),
          'FB + clip': rung('mini/fb-clip', epochs=3*E, warmup=8),
          'FB + clip + reg': rung('mini/fb-reg', epochs=3*E, warmup=8)}

@pytest.fixture(scope='module')
def data(one_thread): return get_data('cifar10', n_per_class=N_PER_CLASS, n_test=N_TEST, device='cpu')

@pytest.fixture(scope='module')
def ladder(data):
    "Trains a rung of tutorial 30 on first use (each once per module), with the block-gradient recorder."
    runs = {}
    def get(name):
        if name not in runs:
            runs[name] = build(LADDER[name], data=data, device='cpu', cbs=[BlockGradNormCB()])
            runs[name].fit(LADDER[name].epochs)
        return runs[name]
    return get

def acc(learn)->float: return 100*learn.history[-1]['test_acc']
def shipped(name:str)->dict: return json.loads((RESULTS/name).read_text())

# ---------------------------------------------------------------- tutorial 30: SGD versus full-batch training

def test_t30_ladder_recipes():
    "The five rungs: SGD, then four full-batch rungs on blocks of 32 re-drawn every step."
    assert [r.mode for r in LADDER.values()] == ['sgd', 'fb', 'fb', 'fb', 'fb']
    assert {r.batch_size for r in LADDER.values()} == {32} and all(r.shuffle for r in LADDER.values())
    assert [r.epochs for r in LADDER.values()] == [E, E, 3*E, 3*E, 3*E]

@needs_cifar
def test_t30_subset_size(data):
    assert len(data.y_train) == 10*N_PER_CLASS and torch.bincount(data.y_train).tolist() == [N_PER_CLASS]*10
    assert len(data.y_test) == N_TEST

@needs_cifar
def test_t30_naive_full_batch_falls_behind(ladder):
    "Every rung learns (chance is 10 %); naive full batch (20 steps) ends at least 3 points below SGD (200 steps)."
    sgd, naive = ladder('SGD'), ladder('FB naive')
    assert acc(sgd) > 15 and acc(naive) > 15, (acc(sgd), acc(naive))
    assert acc(sgd) - acc(naive) >= 3, (acc(sgd), acc(naive))
    assert naive.history[-1]['loss'] > 2.0, naive.history[-1]      # its training loss is still near chance (2.30)
    assert (sgd.step, naive.step) == (10*E, E)

@needs_cifar
def test_t30_clipping_closes_the_gap(ladder):
    "Training longer with clipping ends no more than 3 points below SGD; the clip fires on every step."
    clip = ladder('FB + clip')
    assert acc(clip) > 15 and acc(clip) >= acc(ladder('SGD')) - 3, (acc(clip), acc(ladder('SGD')))
    assert all(r['clipped'] == 1 for r in clip.history), [r['clipped'] for r in clip.history]
    assert sorted(r['grad_norm'] for r in clip.history)[clip.epoch//2] > 2*0.25      # median norm well above the clip

@needs_cifar
def test_t30_regularizer_keeps_block_gradients_small(ladder):
    "The final mean squared block-gradient norm: clip-only more than twice the regularized rung's and SGD's."
    reg, clip, sgd = ladder('FB + clip + reg'), ladder('FB + clip'), ladder('SGD')
    bgs = {n: l.history[-1]['block_grad_sq'] for n, l in (('reg', reg), ('clip', clip), ('sgd', sgd))}
    assert acc(reg) > 15, acc(reg)
    assert bgs['clip'] > 2*bgs['reg'] and bgs['clip'] > 2*bgs['sgd'], bgs
    assert reg.history[-1]['loss'] > clip.history[-1]['loss'], (reg.history[-1], clip.history[-1])   # it fits slower

@needs_cifar
def test_t30_batch_size_sets_steps_per_epoch(data):
    "SGD at batch 160 takes two steps per epoch, at batch 320 (all the data) one."
    big = {b: build(rung('mini/sgd', epochs=2, batch_size=b), data=data, device='cpu') for b in (160, 320)}
    for l in big.values(): l.fit(2)
    assert [l.step for l in big.values()] == [4, 2]

@needs_cifar
def test_t30_lr_1000_diverges(data):
    "lr 1000 with neither warmup nor clipping: a non-finite gradient, `DivergedError`, and a message on what to do."
    huge = build(rung('mini/fb-longer', epochs=E, lr=1000., warmup=0), data=data, device='cpu')
    with pytest.raises(DivergedError, match='lower lr or clip'): huge.fit(E)
    assert huge.status == 'diverged' and huge.epoch < E, (huge.status, huge.epoch)

@needs_cifar
def test_t30_no_clip_at_lr_08_ends_near_chance(data):
    "The regularized rung without clipping keeps a finite loss (BatchNorm) but ends near chance."
    noclip = build(replace(LADDER['FB + clip + reg'], clip=None), data=data, device='cpu'); noclip.fit(3*E)
    assert noclip.status == 'finished'
    assert noclip.history[-1]['test_acc'] < 0.2 and max(h['loss'] for h in noclip.history) > 5, noclip.history[-1]

def test_t30_shipped_results_it_reads():
    "Tutorial 30 reads the CPU ladder (one row per mini/* rung, 3 seeds) and names Table 1's seven rungs."
    paper, mini = shipped('paper_table1.json'), shipped('mini_ladder.json')
    assert len(paper['rows']) == 7
    assert [t['recipe'] for t in mini['table']] == list_recipes('mini/') and all(t['n'] == 3 for t in mini['table'])

# ---------------------------------------------------------------- tutorial 32: reproducing the paper

PAPER = [n for n in list_recipes('paper/') if not n.endswith(('-noaug', '-10x'))]

def test_t32_paper_recipes():
    "Table 1's rungs are the seven paper/* recipes, in order; 'in practice' uses blocks of 32."
    assert [r['recipe'] for r in shipped('paper_table1.json')['rows']] == PAPER and len(PAPER) == 7
    assert get_recipe('paper/fb-practice').batch_size == 32 and get_recipe('paper/fb-practice').shuffle
    assert {n.split('/')[1] for n in list_recipes('paper/') if n.endswith(('-noaug', '-10x'))} == \
           {f'{p.split("/")[1]}{s}' for p in PAPER for s in ('-noaug', '-10x')}

@needs_cifar
def test_t32_live_run_writes_its_folder(tmp_path):
    "Three full-batch epochs of the clipped rung on 80 images: finished, 3 steps, and the run folder's files."
    s = run_cli(['run', 'mini/fb-clip', '--quiet', '--set', 'epochs=3', '--set', 'warmup=1', '--set', 'n_per_class=8',
                 '--set', 'n_test=500', '--out', f'{tmp_path}/demo'])
    assert (s['status'], s['epochs'], s['steps'], s['n_train']) == ('finished', 3, 3, 80)
    files = {p.name for p in (tmp_path/'demo').iterdir()}
    assert {'config.json', 'metrics.jsonl', 'checkpoint.pt', 'summary.json'} <= files, files
    recs = [json.loads(l) for l in (tmp_path/'demo'/'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in recs] == [1, 2, 3]

def test_t32_cpu_ladder_results():
    "The shipped CPU ladder: the five mini/* rungs, 3 seeds each, both bar checks passed."
    res = shipped('mini_ladder.json')
    assert [t['recipe'] for t in res['table']] == list_recipes('mini/')
    assert all(c['pass'] for c in res['checks']), res['checks']

def test_t32_study2560_results():
    "The shipped N = 2,560 ladder and study: what tutorial 32's text says about them."
    res = shipped('mini2560_ladder.json')
    assert [t['recipe'] for t in res['table']] == list_recipes('mini2560/')[:5]
    assert [t['n'] for t in res['table']] == [3]*5
    study = shipped('study2560.json')
    iv, mech = study['intervals'], {t['recipe'].split('/')[-1]: t['block_grad_sq'] for t in study['table'] if t['n']}
    assert (iv['reg_minus_clip']['n'], iv['reg_minus_sgd']['n']) == (3, 3)
    assert not iv['reg_minus_clip']['excludes_zero'] and not iv['reg_minus_sgd']['excludes_zero']   # accuracy: noise
    assert mech['sgd'] < mech['fb-reg'] < mech['fb-clip']/5                                       # the mechanism: clear
    blk = study['pairs']['α 0.25, blocks of 128 − blocks of 32']
    assert blk['n'] == 3 and blk['high'] < 0 and mech['fb-reg-a0.25-b128'] > 2*mech['fb-reg-a0.25']

def test_t32_fresh_seeds_results():
    "Fresh seeds 3-5: α = 0.25 above SGD on average but within noise, and no lead over its α = 0 control."
    fresh = shipped('mini2560_fresh.json')
    acc_of = lambda name: {r['seed']: 100*r['test_acc'] for r in fresh['rows']
                           if r['recipe'] == name and r['status'] == 'finished'}
    conf = {k: paired_interval(acc_of('mini2560/fb-reg-a0.25'), acc_of(f'mini2560/{k}')) for k in ('sgd', 'fb-reg-a0')}
    assert [c['seeds'] for c in conf.values()] == [[3, 4, 5]]*2
    assert conf['sgd']['mean'] > 0 and not conf['sgd']['excludes_zero']
    assert conf['fb-reg-a0']['mean'] < 0 and not conf['fb-reg-a0']['excludes_zero']

@needs_cifar
def test_t32_rung_at_own_scale(tmp_path):
    "The clipped rung on 160 images for 30 epochs: 30 steps, well above chance, not yet fitting the training set."
    s = run_cli(['run', 'mini/fb-clip', '--quiet', '--set', 'n_per_class=16', '--set', 'epochs=30', '--set', 'warmup=4',
                 '--set', 'n_test=1000', '--out', f'{tmp_path}/mine'])
    assert (s['epochs'], s['steps'], s['n_train']) == (30, 30, 160)
    assert 0.2 < s['test_acc'] < s['train_acc'] < 0.98, s

@needs_cifar
def test_t32_lengthening_needs_a_horizon(tmp_path):
    "A finished 10-epoch run cannot be resumed to 20 epochs; with horizon=20 it can, and equals one 20-epoch run."
    small = ['--quiet', '--set', 'n_per_class=8', '--set', 'n_test=500', '--set', 'warmup=2']
    d = tmp_path
    run_cli(['run', 'mini/fb-clip', *small, '--set', 'epochs=10', '--out', f'{d}/a'])
    with pytest.raises(SystemExit, match='horizon'):
        run_cli(['run', 'mini/fb-clip', *small, '--set', 'epochs=20', '--out', f'{d}/a', '--resume'])
    run_cli(['run', 'mini/fb-clip', *small, '--set', 'epochs=10', '--set', 'horizon=20', '--out', f'{d}/b'])
    run_cli(['run', 'mini/fb-clip', *small, '--set', 'epochs=20', '--set', 'horizon=20', '--out', f'{d}/b', '--resume'])
    run_cli(['run', 'mini/fb-clip', *small, '--set', 'epochs=20', '--set', 'horizon=20', '--out', f'{d}/c'])
    read = lambda p: [json.loads(l) for l in Path(p, 'metrics.jsonl').read_text().splitlines()]
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ('time', 'test_loss', 'test_acc')}
                          for r in recs if 'loss' in r]
    b, c = strip(read(f'{d}/b')), strip(read(f'{d}/c'))
    assert len(c) == 20 and b == c

# ---------------------------------------------------------------- tutorial 33: flat minima

MODELS33 = ('FB naive', 'FB + clip + reg', 'SGD')     # the same recipes, data and seed as tutorial 30's rungs

@needs_cifar
def test_t33_lanczos_converges(ladder, data):
    "λ_max to 1 % (residual ‖Hv − λv‖ ≤ 1 % of λ) in fewer than 30 Hessian-vector products, for each model."
    x, y = data.x_train, data.y_train
    eig = {n: top_eigenvalue(ladder(n).model, x, y, block_size=32, k=30, tol=1e-2) for n in MODELS33}
    for n, e in eig.items(): assert e.value > 0 and e.residual <= 1e-2*abs(e.value) and e.hvps < 30, (n, e)

@needs_cifar
def test_t33_landscape_is_centred_and_leaves_the_model(ladder, data):
    "α = 0 is the model's own eval-mode loss, the model is unchanged, and each filter of d has its filter's norm."
    x, y = data.x_train, data.y_train
    alphas = torch.linspace(-1, 1, 21)
    for n in MODELS33:
        m = ladder(n).model
        before = [p.detach().clone() for p in m.parameters()]
        c = loss_surface_1d(m, x, y, alphas=alphas, seed=0)[1]
        assert abs(c[10].item() - evaluate(m, x, y)[0]) <= 1e-5*max(1., abs(c[10].item()))
        assert all(torch.equal(p, q) for p, q in zip(before, m.parameters()))
    m = ladder('SGD').model
    d = filter_normalized_direction(m, torch.Generator().manual_seed(0))
    w = next(p for p in m.parameters() if p.dim() > 1)
    torch.testing.assert_close(d[0].flatten(1).norm(dim=1), w.detach().flatten(1).norm(dim=1), rtol=1e-4, atol=1e-6)

@needs_cifar
def test_t33_trained_models_sit_near_the_line_minimum(ladder, data):
    "Along the seed-0 direction: SGD and the regularized model have the line's minimum at |α| ≤ 0.3, naive FB not."
    alphas = torch.linspace(-1, 1, 21)
    line = lambda n: loss_surface_1d(ladder(n).model, data.x_train, data.y_train, alphas=alphas, seed=0)[1]
    arg = {n: alphas[line(n).argmin()].item() for n in MODELS33}
    assert abs(arg['SGD']) <= 0.3 and abs(arg['FB + clip + reg']) <= 0.3 and abs(arg['FB naive']) >= 0.3, arg

@needs_cifar
def test_t33_regularized_model_rises_more_than_sgd(ladder, data):
    "On three random directions the regularized full-batch model's loss rises more at α = ±0.5 than SGD's."
    rise = {}
    for n in ('FB + clip + reg', 'SGD'):
        rise[n] = []
        for seed in (0, 1, 2):
            c = loss_surface_1d(ladder(n).model, data.x_train, data.y_train, alphas=torch.tensor([-0.5, 0., 0.5]),
                                seed=seed)[1]
            rise[n].append(((c[0] + c[2])/2 - c[1]).item())
    assert all(a > b for a, b in zip(rise['FB + clip + reg'], rise['SGD'])), rise
