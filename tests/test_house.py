"""The house rules of the library, read off its source: lines of at most 120 characters, small functions, the run
folder written and read by one module, every process-group call in one module, each rule checked by one function."""
import ast, re, statistics
from pathlib import Path
import pytest, torch
from fbtrain.recipes import Recipe, RecipeError
from fbtrain.optim import make_optimizer
from fbtrain.learner import Clip

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for p in (ROOT/'fbtrain').glob('*.py') if p.name != '_modidx.py')   # _modidx: nbdev's index

def src(name:str)->str: return (ROOT/'fbtrain'/f'{name}.py').read_text(encoding='utf-8')

def test_lines_at_most_120():
    "Every exported line is at most 120 characters, nbdev's `__all__` list included (see .ci/export.py)."
    long = [f'{p.name}:{i}: {len(l)}' for p in MODULES for i, l in enumerate(p.read_text(encoding='utf-8').split('\n'), 1)
            if len(l) > 120]
    assert not long, long

def body_lines(f:ast.FunctionDef)->int:
    "Lines of a function's body, its docstring left out."
    body = f.body[1:] if (isinstance(f.body[0], ast.Expr) and isinstance(f.body[0].value, ast.Constant)
                          and isinstance(f.body[0].value.value, str)) and len(f.body) > 1 else f.body
    return body[-1].end_lineno - body[0].lineno + 1

def test_functions_are_small():
    "Median function body of at most 3 lines (fastcore's median); none over 30."
    fs = [(p.name, f) for p in MODULES for f in ast.walk(ast.parse(p.read_text(encoding='utf-8')))
          if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    n = [body_lines(f) for _, f in fs]
    print(f'{len(n)} functions, median body {statistics.median(n)} lines, longest {max(n)}')
    assert statistics.median(n) <= 3
    big = [f'{m}:{f.name} ({body_lines(f)} lines)' for m, f in fs if body_lines(f) > 30]
    assert not big, big

def test_run_folder_in_one_module():
    "Only fbtrain.runs names the files of a run folder or loads a checkpoint file of one."
    files = re.compile(r"['\"](config\.json|metrics\.jsonl|summary\.json|checkpoint\.pt)['\"]")
    hits = [f'{p.name}: {m.group(0)}' for p in MODULES if p.name != 'runs.py' for m in files.finditer(p.read_text())]
    assert not hits, hits
    for name in ('check_out', 'run_recipe', 'load_run', 'export_run', 'collect', 'as_config'):
        assert re.search(rf'^(def|class) {name}\b', src('runs'), re.M), name

def test_process_groups_in_one_module():
    "Only fbtrain.distributed imports torch.distributed; gradient.py computes gradients and nothing else."
    users = [p.name for p in MODULES if re.search(r'torch\.distributed|import torch\.distributed', p.read_text())]
    assert users == ['distributed.py'], users
    assert not re.search(r'\b(all_reduce|broadcast|barrier|get_rank|get_world_size)\b', src('gradient'))

RULES = {'lr': 'check_lr', 'momentum': 'check_momentum', 'weight_decay': 'check_weight_decay', 'clip': 'check_clip',
         'warmup': 'check_schedule'}

def test_each_rule_written_once():
    "The learning rate, momentum, weight decay, clip and warmup rules: one function each, called, never re-written."
    defined = {n: [p.name for p in MODULES if re.search(rf'^def {n}\b', p.read_text(), re.M)] for n in RULES.values()}
    assert all(len(v) == 1 for v in defined.values()), defined
    msgs = re.compile(r"(lr|momentum|weight_decay|max_norm|clip|warmup)=\{[^}]*\}[^\"']*is not allowed")
    again = [f'{p.name}: {m.group(0)}' for p in MODULES for m in msgs.finditer(p.read_text())]
    assert not again, again                               # no hand-written copy of a rule's message
    p = [torch.nn.Parameter(torch.zeros(1))]
    for key, bad in (('lr', 0.), ('momentum', 1.), ('weight_decay', -1.), ('clip', -1.), ('warmup', 3000)):
        with pytest.raises(RecipeError) as recipe_err: Recipe(**{key: bad}).validate()
        assert f'{key}={bad:g} is not allowed' in str(recipe_err.value)
    with pytest.raises(ValueError, match='lr=0 is not allowed; the peak learning rate must be a number > 0'):
        make_optimizer(p, lr=0.)
    with pytest.raises(ValueError, match=r'momentum=1 is not allowed; use a number in \[0, 1\)'):
        make_optimizer(p, lr=0.1, momentum=1.)
    with pytest.raises(ValueError, match='max_norm=0 is not allowed; use a number > 0'): Clip(0.)
