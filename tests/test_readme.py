"The README's Python blocks run as written, in order, in a fresh interpreter (a newcomer copies them one by one)."
import re, subprocess, sys
from pathlib import Path
from conftest import needs_cifar

ROOT = Path(__file__).resolve().parents[1]

def python_blocks(text:str)->list: return re.findall(r'```python\n(.*?)\n```', text, re.S)

def test_readme_has_python_blocks(): assert len(python_blocks((ROOT/'README.md').read_text())) >= 2

@needs_cifar
def test_readme_python_blocks_run(tmp_path):
    "As a script: it prints a labelled row per run, and both runs learn (test accuracy well above the 10 % of chance)."
    code = 'import torch; torch.set_num_threads(1)\n' + '\n'.join(python_blocks((ROOT/'README.md').read_text()))
    r = subprocess.run([sys.executable, '-c', code + "\nprint('ACC', sgd.history[-1]['test_acc'], fb.history[-1]['test_acc'])"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stdout)
    rows = {l.split(':')[0].strip() for l in r.stdout.splitlines() if 'test accuracy' in l}
    assert rows == {'SGD', 'full batch + clip'}, r.stdout
    assert 'first labels:' in r.stdout
    sgd_acc, fb_acc = map(float, r.stdout.split('ACC')[1].split())
    assert sgd_acc > 0.2 and fb_acc > 0.2, (sgd_acc, fb_acc)
