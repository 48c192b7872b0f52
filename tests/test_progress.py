"""The progress bar a student sees: in a Jupyter kernel (as in JupyterLab or Colab) a run shows fastprogress's HTML bar
and no warning, also where matplotlib is not installed (fastprogress 1.0 would fall back to its console bar there);
outside a notebook it is the console bar."""
import subprocess, sys
import nbformat
from nbclient import NotebookClient

CODE = '''from fbtrain.learner import epoch_bar
for _ in epoch_bar(range(3), 3): pass'''

def test_html_bar_in_a_kernel():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CODE)])
    NotebookClient(nb, kernel_name='python3', timeout=120).execute()
    outs = nb.cells[0].outputs
    html = [o for o in outs if 'text/html' in o.get('data', {})]
    assert html and '<progress' in html[-1]['data']['text/html'], outs
    assert not [o for o in outs if o.get('name') == 'stderr'], outs          # no fallback warning

def test_console_bar_outside():
    r = subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '3/3' in r.stdout + r.stderr and '<progress' not in r.stdout, (r.stdout, r.stderr)
