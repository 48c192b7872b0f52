"""The dashboard in a real browser: JupyterLab on 127.0.0.1 (its own config, data and runtime dirs, a token), a notebook that
shows `fbtrain.dashboard.Dashboard`, run in headless Debian chromium driven by Playwright. Full-batch Start → the loss trace
grows and sharpness points appear → Stop → SGD → Start → a second trace group. No console errors; a screenshot goes to
tests/artifacts/dashboard.png (not committed)."""
import json, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest
from conftest import needs_cifar

CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
ARTIFACTS = Path(__file__).parent/'artifacts'
TOKEN = 'fbtrain-test'
CELLS = ["from fbtrain.dashboard import Dashboard\n"
         "dash = Dashboard(steps=60, warmup=2, sharpness_every=2, interval=0.3)\n"
         "dash"]

pytestmark = [needs_cifar,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium not installed (apt-get install chromium)'),
              pytest.mark.skipif(shutil.which('jupyter-lab') is None, reason='jupyterlab not installed')]

def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _notebook(path):
    cells = [dict(cell_type='code', execution_count=None, id=f'c{i}', metadata={}, outputs=[], source=c) for i, c in enumerate(CELLS)]
    meta = dict(kernelspec=dict(display_name='Python 3', language='python', name='python3'))
    path.write_text(json.dumps(dict(cells=cells, metadata=meta, nbformat=4, nbformat_minor=5)))

@pytest.fixture(scope='module')
def lab(tmp_path_factory):
    "A JupyterLab server with isolated dirs and a notebook that shows the dashboard; yields its base URL."
    root = tmp_path_factory.mktemp('lab')
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root/'.jcfg'), JUPYTER_DATA_DIR=str(root/'.jdata'),
               JUPYTER_RUNTIME_DIR=str(root/'.jrt'), IPYTHONDIR=str(root/'.ipy'), HOME=str(root), FBTRAIN_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get('PYTHONPATH', '')]))
    (root/'.jcfg'/'labconfig').mkdir(parents=True)     # no "news" pop-up: it would ask the network and cover the page
    (root/'.jcfg'/'labconfig'/'page_config.json').write_text(json.dumps(
        {'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    _notebook(root/'dash.ipynb')
    port = _free_port()
    proc = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}',
                             f'--IdentityProvider.token={TOKEN}', f'--ServerApp.root_dir={root}', '--allow-root',
                             '--LabApp.expose_app_in_browser=True', '--ServerApp.open_browser=False'],
                            env=env, stdout=open(root/'lab.log', 'w'), stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        for _ in range(120):
            try: urllib.request.urlopen(f'{url}/api/status?token={TOKEN}', timeout=1); break
            except OSError: time.sleep(0.5)
        else: pytest.fail('JupyterLab did not start:\n' + (root/'lab.log').read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill()

PLOT = "() => document.querySelector('.js-plotly-plot')"
def _lens(page):
    "Number of points in each trace of the dashboard's plotly graph."
    return page.evaluate(f"() => {{ const g = ({PLOT})(); return g && g.data ? g.data.map(t => (t.x || []).length) : []; }}")

def _wait(page, cond, what, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond(): return
        page.wait_for_timeout(200)
    pytest.fail(f'timed out after {timeout} s waiting for {what}; trace lengths {_lens(page)}, status {_status(page)!r}')

def _status(page): return page.evaluate("() => [...document.querySelectorAll('.widget-html-content')].map(e => e.textContent).join(' | ')")

def test_dashboard_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                                          '--disable-component-update', '--disable-sync'])
        try:
            page = browser.new_page(viewport={'width': 1400, 'height': 1300})
            page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(f'page error: {e}'))
            page.goto(f'{lab}/lab/tree/dash.ipynb?token={TOKEN}&reset')
            page.wait_for_function('() => window.jupyterapp !== undefined', timeout=60_000)
            page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', state='attached', timeout=60_000)
            # run all cells; a command issued before the notebook panel is current does nothing, so retry until the cell runs
            started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
            for attempt in range(6):
                page.click('.jp-Cell .jp-InputArea-editor')
                page.keyboard.press('Escape')
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                try: page.wait_for_function(started, timeout=10_000); break
                except Exception: continue
            else: pytest.fail('the notebook never started running its cells')
            page.wait_for_selector('.js-plotly-plot .main-svg', state='attached', timeout=180_000)   # kernel start + imports
            page.wait_for_selector('button.jupyter-button:has-text("Start")', timeout=30_000)

            # run 1: full-batch; traces 0-5 are its loss, test acc, grad norm, clipped grad norm, sharpness, 2/eta
            page.click('button.jupyter-button:has-text("Start")')
            _wait(page, lambda: (l := _lens(page)) and len(l) >= 6 and l[0] >= 5 and l[4] >= 2,
                  'five loss points and two sharpness points of the full-batch run', 120)
            page.click('button.jupyter-button:has-text("Stop")')
            _wait(page, lambda: 'stopped' in _status(page), 'the status line to say stopped', 30)
            n1 = _lens(page)[0]
            assert 5 <= n1 < 60, n1

            # run 2: SGD, a second trace group
            page.click('.widget-toggle-buttons button:has-text("SGD")')
            page.click('button.jupyter-button:has-text("Start")')
            _wait(page, lambda: len(l := _lens(page)) == 12 and l[6] >= 2, 'two loss points of the SGD run (a second trace group)', 120)
            page.click('button.jupyter-button:has-text("Stop")')
            _wait(page, lambda: _status(page).count('stopped') >= 1 and 'SGD' in _status(page), 'the SGD run to stop', 30)
            names = page.evaluate(f"() => ({PLOT})().data.filter(t => t.showlegend !== false).map(t => t.name)")
            assert names[0].startswith('FB lr0.4 clip0.25') and names[0].endswith('#1'), names
            assert names[1].startswith('SGD lr0.4') and names[1].endswith('#2'), names
            assert _lens(page)[0] == n1                                   # run 1 stayed on the plot, unchanged
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS/'dashboard.png'), full_page=True)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True); page.screenshot(path=str(ARTIFACTS/'dashboard-failure.png'), full_page=True)
            print('browser console errors:', *errors, sep='\n'); raise
        finally: browser.close()
    assert not errors, errors
