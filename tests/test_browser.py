"""The dashboard in a real browser: JupyterLab on 127.0.0.1 (its own config, data and runtime dirs, a token), a notebook that
shows `fbtrain.dashboard.Dashboard`, run in headless Debian chromium driven by Playwright at 1440×900. The controls and
all four panels fit the window, log axes carry readable ticks, the bottom axis titles do not overlap, the run folder
box is empty. The device control lists 'auto' and this machine's devices and is set to the CPU → the 'naive full
batch' preset is clicked: a run starts, the loss trace grows in place (one figure, updated through its display id),
sharpness points appear, the status line names the device and the throughput → Stop → the SGD preset → a second
trace group → the x axis is switched to optimizer steps (20 per SGD epoch here) and to seconds → Stop → run 1 is
chosen and branched as SGD: a third group whose lines start at run 1's last epoch → a folder written by `fbtrain run`
is loaded and overlays as a fourth run. No console errors; screenshots go to tests/artifacts/ (not committed)."""
import json, math, os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest
from conftest import needs_cifar

from conftest import CHROMIUM, CHROMIUM_ARGS
ARTIFACTS = Path(__file__).parent/'artifacts'
TOKEN = 'fbtrain-test'
CELLS = ["from fbtrain.dashboard import Dashboard\n"
         "dash = Dashboard(n_test=500, interval=0.3)\n"
         "dash"]
NT = 7   # traces per run: loss, test acc, train acc, grad norm, clipped grad norm, sharpness, stability limit
OFF = 4  # an empty trace per panel comes first (plotly.js draws only panels that have traces)

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
    # the notebook's kernel starts without a "Select Kernel" dialog (which JupyterLab shows now and then otherwise)
    tracker = root/'.jcfg'/'lab'/'user-settings'/'@jupyterlab'/'notebook-extension'
    tracker.mkdir(parents=True)
    (tracker/'tracker.jupyterlab-settings').write_text(json.dumps({'autoStartDefaultKernel': True}))
    _notebook(root/'dash.ipynb')
    cli = subprocess.run(['fbtrain', 'run', 'mini/sgd', '--set', 'epochs=2', '--set', 'n_per_class=8', '--set', 'n_test=100',
                          '--out', str(root/'cli_run'), '--quiet'], env=env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-3000:]          # a run folder from the command line, to load into the dashboard
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
W, H = 1440, 900
def _lens(page):
    "Number of points in each trace of the dashboard's plotly graph."
    return page.evaluate(f"() => {{ const g = ({PLOT})(); return g && g.data ? g.data.slice({OFF}).map(t => (t.x || []).length) : []; }}")

def _wait(page, cond, what, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond(): return
        page.wait_for_timeout(200)
    pytest.fail(f'timed out after {timeout} s waiting for {what}; trace lengths {_lens(page)}, status {_status(page)!r}')

def _status(page): return page.evaluate("() => [...document.querySelectorAll('.widget-html-content')].map(e => e.textContent).join(' | ')")

def _box(page, sel): return page.evaluate(f"() => {{ const r = document.querySelector({json.dumps(sel)}).getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }}")

def _layout_checks(page):
    "Controls and the four panels inside the window, readable log ticks, bottom axis titles apart, empty folder box."
    page.evaluate("() => document.querySelector('.widget-vbox').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    ctl, fig = _box(page, '.widget-vbox'), _box(page, '.js-plotly-plot .main-svg')
    assert ctl[1] >= 0 and ctl[2] <= W, ('controls', ctl)
    assert fig[2] <= W and fig[3] <= H, ('the figure ends outside the 1440×900 window', fig)
    panels = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .draglayer .nsewdrag')].map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")
    assert len(panels) == 4 and all(p[0] >= 0 and p[1] >= 0 and p[2] <= W and p[3] <= H for p in panels), panels
    t1, t3 = _box(page, '.js-plotly-plot .g-x3title text'), _box(page, '.js-plotly-plot .g-x4title text')
    assert t1[2] < t3[0] or t3[2] < t1[0] or t1[3] < t3[1] or t3[3] < t1[1], ('bottom axis titles overlap', t1, t3)
    assert page.input_value('.widget-text input[placeholder^="a run folder"]') == '', 'the run folder box is not empty'

def _tick_check(page):
    "The loss panel's labelled ticks: a few distinct, increasing values (`log_ticks`), not plotly's '5, 2, 10, 5, 2, 1'."
    ticks = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot .subplot.xy .yaxislayer-above text')].map(e => e.textContent)")
    vals = [float(t.replace(',', '')) for t in ticks]
    assert 2 <= len(vals) <= 8 and vals == sorted(set(vals)), ('loss axis ticks', ticks)

@pytest.mark.timeout(600)          # it takes under a minute; a stuck browser fails here, not at CI's limit
def test_dashboard_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={'width': W, 'height': H})
            page.on('console', lambda m: errors.append(f'console: {m.text}') if m.type == 'error' else None)
            page.on('pageerror', lambda e: errors.append(f'page error: {e}'))
            page.goto(f'{lab}/lab/tree/dash.ipynb?token={TOKEN}&reset')
            page.wait_for_function('() => window.jupyterapp !== undefined', timeout=60_000)
            page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', state='attached', timeout=60_000)
            # run all cells; a command issued before the notebook panel is current does nothing, so retry until the cell runs
            started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"
            for attempt in range(6):
                if page.locator('.jp-Dialog').count():                     # a kernel dialog all the same: accept it
                    page.click('.jp-Dialog button.jp-mod-accept')
                page.click('.jp-Cell .jp-InputArea-editor')
                page.keyboard.press('Escape')
                # not awaited: the command's promise can wait on JupyterLab (a kernel still connecting) for ever,
                # and an awaited evaluate has no timeout; the check below retries instead
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                try: page.wait_for_function(started, timeout=10_000); break
                except Exception: continue
            else: pytest.fail('the notebook never started running its cells')
            page.wait_for_selector('.js-plotly-plot .main-svg', state='attached', timeout=180_000)   # kernel start + imports
            page.wait_for_selector('button.jupyter-button:has-text("Start")', timeout=30_000)
            _layout_checks(page)

            # the device control: 'auto' first, then what this machine has; pick the CPU
            device = page.locator('.widget-dropdown:has(label:text-is("device")) select')
            opts = device.evaluate("s => [...s.options].map(o => o.textContent)")
            assert opts[0] == 'auto' and 'cpu' in opts, opts
            device.select_option(label='cpu')

            # run 1: the 'naive full batch' preset; traces 0-6, redrawn in place
            page.click('button.widget-button:text-is("naive full batch")')
            _wait(page, lambda: (l := _lens(page)) and len(l) >= NT and l[0] >= 3 and l[5] >= 1,
                  'three loss points and a sharpness point of the full-batch run', 180)
            st = _status(page)
            assert 'naive full batch: FB lr0.1' in st and ' cpu ' in st and 'img/s' in st and 'epoch ' in st, st
            page.click('button.jupyter-button:has-text("Stop")')
            _wait(page, lambda: 'stopped' in _status(page), 'the status line to say stopped', 60)
            n1 = _lens(page)[0]
            last1 = page.evaluate(f"() => ({PLOT})().data[{OFF}].x.slice(-1)[0]")
            assert 3 <= n1 and last1 == n1, (n1, last1)
            assert page.locator('.js-plotly-plot').count() == 1, 'the figure piled up instead of updating in place'
            _tick_check(page)

            # run 2: the SGD preset, a second trace group; then the x axis: epochs -> optimizer steps -> seconds
            page.click('button.widget-button:text-is("SGD")')
            _wait(page, lambda: len(l := _lens(page)) == 2*NT and l[NT] >= 2, 'two loss points of the SGD run (a second trace group)', 120)
            xs = lambda: page.evaluate(f"() => [...(({PLOT})().data[{OFF + NT}].x || [])]")
            assert xs()[:2] == [1, 2], xs()
            page.click('.widget-toggle-buttons button:has-text("optimizer steps")')
            _wait(page, lambda: (x := xs())[:2] == [20, 40], 'SGD epochs at 20 optimizer steps each (640 images, batches of 32)', 30)
            assert page.evaluate(f"() => ({PLOT})().layout.xaxis3.title.text") == 'optimizer step'
            page.click('.widget-toggle-buttons button:has-text("seconds")')
            _wait(page, lambda: (x := xs()) and x[0] not in (1, 20) and all(isinstance(v, float) for v in x), 'the x axis in seconds', 30)
            page.click('.widget-toggle-buttons button:has-text("epochs")')
            page.click('button.jupyter-button:has-text("Stop")')
            _wait(page, lambda: 'stopped' in _status(page) and 'SGD' in _status(page), 'the SGD run to stop', 60)

            # run 3: branch run 1 (full batch) into SGD for 2 epochs: its lines start at run 1's last epoch
            page.locator('.widget-dropdown:has(label:text-is("run")) select').select_option(index=0)
            page.click('.widget-toggle-button:text-is("SGD")')
            page.fill('.widget-inline-hbox:has(label:text-is("epochs")) input', '2'); page.keyboard.press('Enter')
            page.click('button.jupyter-button:has-text("Branch")')
            _wait(page, lambda: len(l := _lens(page)) == 3*NT and l[2*NT] == 3 and 'finished' in _status(page),
                  'the branch: its parent\'s last point and two SGD epochs', 120)
            bx = page.evaluate(f"() => ({PLOT})().data[{OFF + 2*NT}].x")
            assert bx == [last1, last1 + 1, last1 + 2], (bx, last1)
            assert 'branch of #1: SGD lr0.05' in _status(page), _status(page)
            assert _lens(page)[0] == n1                                   # the parent stayed as it was
            ARTIFACTS.mkdir(exist_ok=True)
            page.evaluate("() => document.querySelector('.widget-vbox').scrollIntoView({block: 'start'})")
            page.screenshot(path=str(ARTIFACTS/'dashboard-1440x900.png'))

            # run 4: a folder written by `fbtrain run`, loaded next to the live runs
            page.fill('.widget-text input[placeholder^="a run folder"]', 'cli_run')
            page.click('button.jupyter-button:has-text("Load")')
            _wait(page, lambda: len(l := _lens(page)) == 4*NT and l[3*NT] == 2, 'the two epochs of the loaded run', 30)
            names = page.evaluate(f"() => ({PLOT})().data.filter(t => t.showlegend !== false).map(t => t.name)")
            assert names[0] == 'naive full batch: FB lr0.1 #1', names
            assert names[1] == 'SGD: SGD lr0.05 #2', names
            assert names[2].startswith('branch of #1: SGD lr0.05'), names
            assert names[3] == 'mini/sgd cli_run (loaded) #4', names
            assert _lens(page)[0] == n1                                   # run 1 stayed on the plot, unchanged
            page.screenshot(path=str(ARTIFACTS/'dashboard.png'), full_page=True)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True); page.screenshot(path=str(ARTIFACTS/'dashboard-failure.png'), full_page=True)
            print('browser console errors:', *errors, sep='\n'); raise
        finally: browser.close()
    assert not errors, errors
