"""The command line at its edges: options after the sub-command, `compare --jobs`, Ctrl-C in `compare` and a second
Ctrl-C in `run`, the console progress bar in a log, messages with one of something, a cut-down ladder's report."""
import json, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import needs_cifar
from fbtrain.cli import parser
from fbtrain.ladder import ladder_markdown

FBTRAIN = shutil.which('fbtrain')
pytestmark = [needs_cifar, pytest.mark.skipif(FBTRAIN is None, reason='fbtrain console script not installed')]
CUT = ['--set', 'n_per_class=4', '--set', 'n_test=100', '--set', 'epochs=3', '--set', 'warmup=1']
LADDER = ['compare', '--quiet', '--recipes', 'mini/fb-baseline', 'mini/fb-clip', '--seeds', '0', '1', *CUT]

def fbtrain(*args, **kw): return subprocess.run([FBTRAIN, *args], capture_output=True, text=True, timeout=600, **kw)

def summaries(d:Path)->dict:
    return {str(p.relative_to(d)): json.loads(p.read_text()) for p in sorted(d.glob('*/seed*/summary.json'))}

def test_threads_after_the_subcommand():
    "`--threads` works before and after the sub-command, and each sub-command's help lists it."
    p = parser()
    assert p.parse_args(['compare', '--threads', '1']).threads == 1
    assert p.parse_args(['--threads', '2', 'run', 'mini/sgd']).threads == 2
    assert p.parse_args(['compare']).threads is None
    h = fbtrain('compare', '--help').stdout
    assert '--threads' in h and '--jobs' in h

def test_jobs_gives_the_same_runs(tmp_path):
    "`compare --jobs 2` (a process per run, one thread each) writes the same numbers as a sequential one-thread ladder."
    seq = fbtrain('--threads', '1', *LADDER, '--out', str(tmp_path/'seq'))
    par = fbtrain(*LADDER, '--jobs', '2', '--out', str(tmp_path/'par'))
    assert seq.returncode == 0 and par.returncode == 0, (seq.stderr[-2000:], par.stderr[-2000:])
    a, b = summaries(tmp_path/'seq'), summaries(tmp_path/'par')
    assert len(a) == 4 and a.keys() == b.keys()
    for k in a:
        assert b[k]['threads'] == 1 and b[k]['status'] == 'finished'
        assert [a[k][m] for m in ('test_acc', 'test_loss', 'train_loss')] == [b[k][m] for m in ('test_acc', 'test_loss', 'train_loss')], k
    assert sum('finished test_acc' in l for l in par.stdout.splitlines()) == 4        # a line per run
    again = fbtrain(*LADDER, '--jobs', '2', '--out', str(tmp_path/'par'))
    assert again.stdout.count('finished before, reused') == 4

def test_cut_down_ladder_says_so(tmp_path):
    "Changed settings are named on the command line's stderr and in ladder.md; one seed shows no '± 0.00'."
    r = fbtrain('--threads', '1', 'compare', '--quiet', '--recipes', 'mini/fb-clip', '--seeds', '0', *CUT, '--out', str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'every rung runs with n_per_class=4 n_test=100 epochs=3 warmup=1' in r.stderr
    md = (tmp_path/'ladder.md').read_text()
    assert 'Changed for this ladder:** n_per_class=4, n_test=100, epochs=3, warmup=1' in md
    assert '± 0.00' not in md and '(one seed)' in md
    t = [{'recipe': 'a/sgd', 'n': 1, 'test_mean': 40., 'test_std': 0., 'test_each': [40.], 'train_mean': 90., 'wall_mean': 3., 'wall_sum': 3.},
         {'recipe': 'a/fb', 'n': 2, 'test_mean': 41., 'test_std': 0.5, 'test_each': [40.5, 41.5], 'train_mean': 90., 'wall_mean': 3., 'wall_sum': 6.}]
    md = ladder_markdown(t, [], wall_s=5.)
    assert '40.00 (one seed)' in md and '41.00 ± 0.50' in md and 'training time summed over the runs: 9 s' in md
    assert 'this command: 5 s' in md and 'reused from earlier commands cost it nothing' in md

def _start(args, out:Path, after:int=3):
    "Start `fbtrain args`, wait until some run in `out` has logged `after` epochs."
    p = subprocess.Popen([FBTRAIN, '--threads', '1', *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while time.time() - t0 < 120 and p.poll() is None:
        if any(len(m.read_text().splitlines()) >= after for m in out.glob('**/metrics.jsonl')): break
        time.sleep(0.02)
    return p

LONG = ['--set', 'n_per_class=8', '--set', 'n_test=100', '--set', 'epochs=400', '--set', 'warmup=1', '--set', 'eval_every=400']

def test_ctrl_c_in_compare_stops_the_ladder(tmp_path):
    "Ctrl-C during `compare` stops the ladder (no next run starts) and says how to continue."
    args = ['compare', '--quiet', '--recipes', 'mini/fb-clip', 'mini/fb-baseline', '--seeds', '0', *LONG, '--out', str(tmp_path)]
    p = _start(args, tmp_path)
    p.send_signal(signal.SIGINT)
    o, e = p.communicate(timeout=120)
    assert p.returncode != 0 and 'Continue with: fbtrain --threads 1 compare' in e and '--out' in e, (p.returncode, e[-2000:])
    assert 'Traceback' not in e
    assert not (tmp_path/'fb-baseline').exists(), 'the next run started after Ctrl-C'
    assert json.loads((tmp_path/'fb-clip'/'seed0'/'summary.json').read_text())['status'] == 'stopped'

def test_second_ctrl_c_in_run(tmp_path):
    "A second Ctrl-C ends `run` at once with a one-line hint that repeats the command, no traceback."
    slow = ['--set', 'n_per_class=64', '--set', 'n_test=100', '--set', 'epochs=400', '--set', 'warmup=1', '--set', 'eval_every=400']
    p = _start(['run', 'mini/fb-reg', *slow, '--every', '1', '--out', str(tmp_path/'r')], tmp_path, after=2)
    p.send_signal(signal.SIGINT); time.sleep(0.02); p.send_signal(signal.SIGINT)    # an epoch here takes ~0.5 s
    o, e = p.communicate(timeout=120)
    assert p.returncode != 0
    assert 'Traceback' not in e, e[-3000:]
    assert 'interrupted' in e and 'Continue with: fbtrain --threads 1 run mini/fb-reg' in e and '--resume' in e, e[-2000:]

def test_stopped_run_hint_repeats_the_command(tmp_path):
    "One Ctrl-C: the run stops after its epoch, and the hint repeats the whole command (global options included)."
    p = _start(['run', 'mini/fb-clip', *LONG, '--every', '1', '--out', str(tmp_path/'r')], tmp_path)
    p.send_signal(signal.SIGINT)
    o, e = p.communicate(timeout=120)
    assert p.returncode == 130 and f"Continue with: fbtrain --threads 1 run mini/fb-clip" in e and '--resume' in e, e[-2000:]

def test_console_bar_has_no_stray_characters(tmp_path):
    "The console progress bar starts with the bar itself (fastprogress's probe used to leave '█\\r\\r' in every log)."
    r = fbtrain('--threads', '1', 'run', 'mini/fb-clip', *CUT, '--out', str(tmp_path/'r'))
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout + r.stderr
    assert '0/3' in out and '█\r' not in out.split('|', 1)[0] and not out.startswith('█'), repr(out[:200])

def test_one_difference(tmp_path):
    "A folder holding another run lists its differences, '1 difference' when there is one."
    assert fbtrain('--threads', '1', 'run', 'mini/fb-clip', '--quiet', *CUT, '--out', str(tmp_path/'r')).returncode == 0
    r = fbtrain('--threads', '1', 'run', 'mini/fb-clip', '--quiet', *CUT, '--set', 'lr=0.5', '--out', str(tmp_path/'r'))
    assert '(1 difference: lr: 0.5 vs 0.4)' in r.stderr, r.stderr
