"""The committed results pages (`bench/results/*/ladder.html`, `study.html`) as a fresh clone has them: only the files
git tracks are copied to an empty folder, each page is opened from disk (file://) in headless Debian chromium with every
other request blocked, and it must show its heading, rungs, table, PASS/FAIL checks, machine and drawn plots, at 1400
and 390 pixels wide. A screenshot of each goes to tests/artifacts/ (not committed)."""
import os, shutil, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from conftest import CHROMIUM, CHROMIUM_ARGS
ARTIFACTS = Path(__file__).parent/'artifacts'
pytestmark = pytest.mark.xdist_group('results_pages')      # one browser for all pages, in one worker

def tracked(pattern:str)->list:
    "Paths git tracks that match `pattern`, relative to the repository."
    r = subprocess.run(['git', 'ls-files', '-z', '--', pattern], cwd=ROOT, capture_output=True, text=True, check=True)
    return [p for p in r.stdout.split('\0') if p]

PAGES = [p for p in tracked('bench/results') if p.endswith(('/ladder.html', '/study.html'))]

@pytest.fixture(scope='module')
def clone(tmp_path_factory):
    "bench/results as a fresh clone has it: the tracked files only (no git-ignored plotly.min.js or anything else)."
    d = tmp_path_factory.mktemp('clone')
    for p in tracked('bench/results'):
        (d/p).parent.mkdir(parents=True, exist_ok=True); shutil.copy(ROOT/p, d/p)
    return d

@pytest.fixture(scope='module')
def page():
    pw = pytest.importorskip('playwright.sync_api', reason='playwright not installed')
    if not Path(CHROMIUM).exists():
        if os.environ.get('CI'): pytest.fail(f'{CHROMIUM} missing (CI installs chromium first)')
        pytest.skip(f'{CHROMIUM} missing')
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try: yield b.new_page()
        finally: b.close()

def test_committed_pages_found():
    assert 'bench/results/mini/ladder.html' in PAGES and 'bench/results/mini2560/study.html' in PAGES, PAGES
    assert not tracked('bench/results/**/plotly.min.js')

@pytest.mark.parametrize('width', [1400, 390])
@pytest.mark.parametrize('rel', PAGES)
def test_results_page_opens_offline(clone, page, rel, width):
    "The page draws its heading, rungs, table, checks, machine and plots from the one file, with no request elsewhere."
    outside, errors = [], []
    page.unroute('**/*')                                   # the previous page's handler
    page.route('**/*', lambda r: r.continue_() if r.request.url.startswith(('file:', 'data:', 'blob:', 'about:'))
               else (outside.append(r.request.url), r.abort()))
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.set_viewport_size({'width': width, 'height': 900})
    page.goto((clone/rel).as_uri(), wait_until='load')
    page.wait_for_function('document.querySelectorAll(".js-plotly-plot .trace").length > 0', timeout=15_000)
    page.wait_for_timeout(300)
    assert page.locator('h1').inner_text().startswith(('Ladder:', 'Study:'))
    for h in ('Rungs', 'Results', 'Machine'): assert page.locator('h2', has_text=h).count() == 1, f'{rel}: no {h} heading'
    assert page.locator('table tbody tr').count() >= 3
    assert page.locator('li', has_text='threads per run').count() >= 1 and page.locator('li', has_text='CPU:').count() == 1
    if rel.endswith('ladder.html'):
        checks = page.locator('strong.pass, strong.fail').count()
        assert checks >= 1 or page.get_by_text('No check applies').count() == 1, f'{rel}: no PASS/FAIL check'
    figs = page.locator('.js-plotly-plot')
    assert figs.count() >= 1 and figs.first.locator('.trace').count() >= 2
    assert page.evaluate('document.documentElement.scrollWidth') <= width, f'{rel}: wider than the window'
    assert not outside and not errors, (outside, errors)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS/f"results-{rel.split('/')[-2]}-{Path(rel).stem}-{width}.png"), full_page=True)
