"The README's Python blocks run as written, in order, in a fresh interpreter (a newcomer copies them one by one)."
import re, subprocess, sys
from pathlib import Path
from conftest import needs_cifar

ROOT = Path(__file__).resolve().parents[1]

def python_blocks(text:str)->list: return re.findall(r'```python\n(.*?)\n```', text, re.S)

def test_readme_has_python_blocks(): assert len(python_blocks((ROOT/'README.md').read_text())) >= 2

@needs_cifar
def test_readme_python_blocks_run(tmp_path):
    code = '\n'.join(python_blocks((ROOT/'README.md').read_text()))
    r = subprocess.run([sys.executable, '-c', code + "\nassert fb.history[-1]['test_acc'] > 0 and sgd.step == 5"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
