"""End to end: the web page in Debian's Chromium (headless), driven by Playwright's Python client.

The browser is the system's ``/usr/bin/chromium`` (CI installs Debian's ``chromium``); the
tests never let Playwright download one. Screenshots of the task table and of task pages
are saved in ``tests/screenshots/``.
"""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from localtask import Store, Task  # noqa: E402
from localtask.worker import Worker  # noqa: E402

from helpers_ui import UIServer, copy_store, make_template  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT = 15_000  # ms, for anything the page does by itself


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}: CI must have it (see .ci/run)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("ui-browser-template"))


@pytest.fixture
def store(tmp_path, template):
    home = copy_store(template[0], tmp_path / "home")
    opened = Store.open(home)
    opened.ids = dict(template[1])
    return opened


@pytest.fixture
def server(store):
    with UIServer(store.home) as running:
        yield running


@pytest.fixture
def page(browser, server):
    """A tab that opened the address ``localtask ui`` prints; fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    # (a refused request logs "Failed to load resource": the tests cause some on purpose)
    tab.on("console", lambda msg: errors.append(f"console: {msg.text}")
           if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    tab.goto(server.url)
    tab.wait_for_selector("tr.task-row")
    tab.errors = errors
    yield tab
    context.close()
    assert not errors, errors


def expect(locator):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def row(page, task_id: str):
    return page.locator(f"tr.task-row[data-id='{task_id}']")


def menu_item(page, action: str):
    return page.locator(f"#menu button[data-action='{action}']")


def open_menu(page, task_id: str):
    row(page, task_id).click(button="right")
    expect(page.locator("#menu")).to_be_visible()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def new_task_from_hash(page) -> str:
    page.wait_for_url(re.compile(r".*#/task/[0-9a-f]{32}/configuration$"))
    return re.search(r"#/task/([0-9a-f]{32})/", page.url).group(1)


# ------------------------------------------------------------------ the table
def test_table_lists_filters_and_is_screenshotted(page, store):
    ids = store.ids
    expect(page.locator("tr.task-row")).to_have_count(3)
    assert "token" not in page.url  # the page dropped it from the address bar and history
    header = page.locator("table.tasks thead")
    for label in ("ID", "Name", "Status", "Type", "Queue / worker", "Started", "Duration", "Parent", "Tags",
                  "General/lr"):
        expect(header).to_contain_text(label)
    expect(row(page, ids["run2"]).locator("td.param")).to_have_text("0.2")
    expect(row(page, ids["run1"]).locator(".badge")).to_have_text("completed")
    expect(page.locator("#projects")).to_contain_text("proj")
    shot(page, "task-table.png")

    page.locator(".chips label[data-status='created']").click()
    expect(page.locator("tr.task-row")).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("No task matches")
    page.locator(".chips label[data-status='created']").click()
    expect(page.locator("tr.task-row")).to_have_count(3)
    page.locator("input[name='name']").fill("run2")
    expect(page.locator("tr.task-row")).to_have_count(1)
    page.locator("input[name='name']").fill("")
    expect(page.locator("tr.task-row")).to_have_count(3)
    row(page, ids["run2"]).locator("a.tag", has_text="run2").click()  # a tag filters by it
    expect(page.locator("tr.task-row")).to_have_count(1)
    expect(page.locator("input[name='tag']")).to_have_value("run2")
    page.locator("input[name='tag']").fill("")
    page.locator("input[name='tag']").press("Enter")
    expect(page.locator("tr.task-row")).to_have_count(3)
    page.locator("#projects a[title='other']").click()
    expect(page.locator("tr.task-row")).to_have_count(1)
    expect(row(page, ids["run3"])).to_be_visible()

    # a task made elsewhere appears without a reload
    page.evaluate("window.__sameDocument = true")
    page.locator("#projects a[title='All projects']").click()
    made = Task.clone(ids["run3"], name="made elsewhere", home=store.home)
    expect(row(page, made.id).locator("td.name")).to_have_text("made elsewhere")
    assert page.evaluate("window.__sameDocument") is True


def test_wide_parameter_columns_scroll_in_their_own_box_with_names_on_one_line(page, store):
    name = "a task name long enough to need more room than its column of the table gives it"
    draft = Task.clone(store.ids["run1"], name=name, home=store.home)
    wide = {f"Sweep/a_rather_long_parameter_name_number_{i:02d}": i * 1000003 for i in range(12)}
    draft.edit_parameters(wide)
    expect(row(page, draft.id)).to_be_visible()
    expect(page.locator("table.tasks thead th.param", has_text="number_0")).not_to_have_count(0)
    header = page.locator("table.tasks thead th.param").last
    last = re.search(r"parameter (\S+)", header.get_attribute("title")).group(1)
    assert last.startswith("Sweep/a_rather_long_parameter_name_number_")

    box = page.locator(".table-scroll")
    scroll_width, client_width = box.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert scroll_width > client_width  # the columns overflow the box, which scrolls them
    # only the table scrolls sideways: the toolbar above it stays in view
    assert page.evaluate("(v => v.scrollWidth - v.clientWidth)(document.getElementById('view'))") <= 0
    assert box.evaluate("el => getComputedStyle(el).overflowX") == "auto"

    # names stay on one line (cut with an ellipsis), the whole name on hover
    name_cell = row(page, draft.id).locator("td.name")
    expect(name_cell).to_have_attribute("title", name)
    heights = page.evaluate("""() => [...document.querySelectorAll('tr.task-row')].map(r => r.offsetHeight)""")
    assert max(heights) == min(heights), heights
    header_height = header.evaluate("el => el.offsetHeight")
    id_height = page.locator("table.tasks thead th", has_text="ID").first.evaluate("el => el.offsetHeight")
    assert header_height == id_height
    cell = row(page, draft.id).locator("td.param").last
    expect(cell).to_have_attribute("title", f"{last} = {wide[last]}")

    # scrolled to its end, the last column is inside the box and the header still on top
    box.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    edge = box.bounding_box()
    cell_box = cell.bounding_box()
    assert cell_box["x"] + cell_box["width"] <= edge["x"] + edge["width"] + 1
    assert header.bounding_box()["y"] >= edge["y"] - 1
    shot(page, "task-table-wide-parameters.png")


# ------------------------------------------------------------------ clone, edit, enqueue, reset
def test_right_click_clone_with_set_as_parent_opens_the_new_draft(page, store):
    middle = Task.clone(store.ids["run1"], home=store.home)  # its parent is run1
    open_menu(page, middle.id)
    menu_item(page, "clone").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Target project").fill("ui-clones")
    dialog.get_by_label("Description").fill("cloned from the page")
    dialog.get_by_label(f"Set {middle.name} as parent").check()
    dialog.locator("button[data-role='ok']").click()

    new_id = new_task_from_hash(page)
    new = Task.get_task(task_id=new_id, home=store.home)
    assert new.status == "created" and new.parent == middle.id
    assert new.project == "ui-clones" and new.comment == "cloned from the page"
    assert Task.get_task(task_id=middle.id, home=store.home).parent == store.ids["run1"]
    expect(page.locator(".task-head h1")).to_contain_text(f"Clone of {middle.name}")
    expect(page.locator(".task-head .badge")).to_have_text("created")
    expect(page.locator(".task-head")).to_contain_text(f"parent {middle.name}")
    expect(page.locator("input[name='General/epochs']")).to_have_value("3")


def test_edit_a_draft_parameter_and_save_it_typed(page, store, server):
    draft = Task.clone(store.ids["run1"], home=store.home)
    page.goto(f"{server.base}/#/task/{draft.id}/configuration")
    epochs = page.locator("input[name='General/epochs']")
    expect(epochs).to_have_value("3")
    epochs.fill("7")
    page.locator("input[name='General/lr']").fill("0.25")
    page.locator("input[name='General/flag']").uncheck()
    page.locator("textarea[name='General/layers']").fill("[16, 8]")
    page.locator("input[name='General/opt']").fill("sgd")
    page.locator("button[data-role='save-params']").click()
    expect(page.locator("#notice")).to_have_text("Saved 5 parameter(s)")

    stored = draft.get_parameters()
    assert stored["General/epochs"] == 7 and type(stored["General/epochs"]) is int
    assert stored["General/lr"] == 0.25 and type(stored["General/lr"]) is float
    assert stored["General/flag"] is False and stored["General/layers"] == [16, 8]
    assert stored["General/opt"] == "sgd"
    expect(page.locator("input[name='General/epochs']")).to_have_value("7")

    # A whole number is required for an int: the page says so and nothing is saved.
    page.locator("input[name='General/epochs']").fill("7.5")
    page.locator("button[data-role='save-params']").click()
    expect(page.locator("#errors")).to_contain_text("General/epochs is an int")
    assert draft.get_parameters()["General/epochs"] == 7
    page.locator("#errors .error button").click()

    # A configuration object of a draft is editable too (dict: JSON).
    page.locator("textarea[data-config='model']").fill('{"depth": 4}')
    page.get_by_role("button", name="Save model").click()
    expect(page.locator("#notice")).to_have_text("Saved configuration model")
    assert draft.get_configuration_object_as_dict("model") == {"depth": 4}

    # A completed task is read-only, with the reason.
    page.goto(f"{server.base}/#/task/{store.ids['run1']}/configuration")
    expect(page.locator(".readonly-note")).to_contain_text(
        f"Read-only: Cannot edit task {store.ids['run1'][:8]}: it is completed")
    expect(page.locator("input[name='General/epochs']")).to_have_attribute("readonly", "")
    expect(page.locator("button[data-role='save-params']")).to_have_count(0)


def test_enqueue_then_a_burst_worker_runs_it_and_the_table_shows_it_completed(page, store, server):
    draft = Task.clone(store.ids["run1"], name="to run", home=store.home)
    draft.update_parameters({"General/epochs": 4})
    page.evaluate("window.__sameDocument = true")
    open_menu(page, draft.id)
    menu_item(page, "enqueue").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_contain_text("Existing: default (0)")
    dialog.get_by_label("Queue").fill("ui-queue")
    dialog.locator("button[data-role='ok']").click()
    expect(row(page, draft.id).locator(".badge")).to_have_text("queued")
    assert draft.status == "queued" and draft.data["queue"] == "ui-queue"
    expect(row(page, draft.id)).to_contain_text("ui-queue")

    worker = Worker(home=store.home, queues=["ui-queue"], burst=True, poll_interval=0.2)
    thread = threading.Thread(target=worker.run, name="burst-worker", daemon=True)
    thread.start()
    try:
        expect(row(page, draft.id).locator(".badge")).to_have_text("completed", timeout=120_000)
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert draft.status == "completed"
    assert draft.get_reported_scalars()["loss"]["train"]["x"] == [0, 1, 2, 3]
    shot(page, "task-table-after-run.png")

    page.locator(f"tr.task-row[data-id='{draft.id}'] td.name a").click()
    page.locator(".tabs a[data-tab='scalars']").click()
    chart = page.locator(".plot-card[data-title='loss'] .js-plotly-plot")
    expect(chart).to_have_count(1)
    assert chart.evaluate("el => el.data.map(t => t.name)") == ["train", "val"]
    # ClearML's scalar view: log scale, smoothing (the raw line kept faint), x axis by time
    page.locator(".scalar-tools input[name='log']").check()
    expect(page.locator(".plot-card[data-title='loss'] .js-plotly-plot")).to_have_count(1)
    page.wait_for_function("""() => { const el = document.querySelector(".plot-card[data-title='loss'] .js-plotly-plot");
                                      return el && el.layout.yaxis.type === 'log'; }""")
    raw = chart.evaluate("el => el.data[0].y")
    page.locator(".scalar-tools input[name='smooth']").fill("0.6")
    page.locator(".scalar-tools input[name='smooth']").dispatch_event("change")
    page.wait_for_function("""() => { const el = document.querySelector(".plot-card[data-title='loss'] .js-plotly-plot");
                                      return el && el.data.length === 4; }""")
    chart = page.locator(".plot-card[data-title='loss'] .js-plotly-plot")
    smoothed = chart.evaluate("el => el.data.filter(t => !t.name.endsWith('(raw)'))[0].y")
    assert smoothed[0] == pytest.approx(raw[0]) and smoothed[1:] != raw[1:]
    page.locator(".scalar-tools select[name='axis']").select_option("wall")
    page.wait_for_function("""() => { const el = document.querySelector(".plot-card[data-title='loss'] .js-plotly-plot");
                                      return el && el.layout.xaxis.title.text === 'Wall time'; }""")
    shot(page, "task-page-scalars.png")
    page.locator(".tabs a[data-tab='console']").click()
    expect(page.locator("pre.console")).to_contain_text("epoch 3 of 4")
    page.locator(".tabs a[data-tab='info']").click()
    expect(page.locator("table.info")).to_contain_text(worker.name)
    expect(page.locator("table.info")).to_contain_text("run1")  # the parent, as a link
    page.locator(".tabs a[data-tab='execution']").click()
    expect(page.locator("pre.diff span.add").first).to_be_visible()
    expect(page.locator("pre.diff")).to_contain_text("+uncommitted note")
    expect(page.locator("[data-role='drift']")).to_contain_text(f"worker {worker.name}")  # its verdict
    shot(page, "task-page-execution.png")


def test_reset_with_also_delete_artifacts(page, store):
    run1 = store.ids["run1"]
    path = Task.get_task(task_id=run1, home=store.home).artifacts["metrics"].path
    assert path.exists()
    open_menu(page, run1)
    menu_item(page, "reset").click()
    dialog = page.locator("dialog#dialog")
    dialog.get_by_label("Also delete artifacts").check()
    dialog.locator("button[data-role='ok']").click()
    expect(row(page, run1).locator(".badge")).to_have_text("created")
    task = Task.get_task(task_id=run1, home=store.home)
    assert task.status == "created" and task.artifacts == {} and not path.exists()
    assert task.get_reported_scalars() == {}


def test_reset_keeps_artifacts_unless_asked_and_they_download(page, store, server):
    run2 = store.ids["run2"]
    open_menu(page, run2)
    menu_item(page, "reset").click()
    page.locator("dialog#dialog button[data-role='ok']").click()
    expect(row(page, run2).locator(".badge")).to_have_text("created")
    assert "metrics" in Task.get_task(task_id=run2, home=store.home).artifacts
    page.goto(f"{server.base}/#/task/{run2}/artifacts")
    link = page.get_by_role("link", name="metrics")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "metrics.json"
    assert json.loads(Path(download.path()).read_text()) == {"acc": 0.9, "lr": 0.2}


def test_console_follows_new_output(page, store, server):
    run1 = store.ids["run1"]
    page.goto(f"{server.base}/#/task/{run1}/console")
    console = page.locator("pre.console")
    expect(console).to_contain_text("epoch 2 of 3")
    with open(store.console_path(run1), "a", encoding="utf-8") as fh:  # as a running task would
        fh.write("one more line, ünïcode\n")
    expect(console).to_contain_text("one more line, ünïcode")
    assert console.inner_text().count("epoch 0 of 3") == 1


# ------------------------------------------------------------------ rules and errors
def test_forbidden_actions_are_disabled_with_the_reason_and_library_errors_show(page, store):
    run1 = store.ids["run1"]
    open_menu(page, run1)
    enqueue = menu_item(page, "enqueue")
    expect(enqueue).to_have_attribute("aria-disabled", "true")
    expect(enqueue).to_have_attribute("title", re.compile(
        rf"^Cannot enqueue task {run1[:8]}: it is completed \(allowed from: created, failed, stopped\)"))
    expect(menu_item(page, "dequeue")).to_have_attribute("aria-disabled", "true")
    expect(menu_item(page, "reset")).not_to_have_attribute("aria-disabled", "true")
    enqueue.click(force=True)
    expect(page.locator("dialog#dialog")).to_be_hidden()
    menu_item(page, "publish").click()
    expect(row(page, run1).locator(".badge")).to_have_text("published")
    open_menu(page, run1)
    expect(menu_item(page, "reset")).to_have_attribute("title", re.compile("published tasks are read-only"))
    expect(menu_item(page, "delete")).to_have_attribute("aria-disabled", "true")
    page.keyboard.press("Escape")

    draft = Task.clone(run1, home=store.home)
    row(page, draft.id).locator("button.more-btn").click()  # the row's menu button: the same menu
    expect(page.locator("#menu")).to_contain_text(f"{draft.id[:8]} · {draft.name}")
    menu_item(page, "enqueue").click()
    dialog = page.locator("dialog#dialog")
    dialog.get_by_label("Queue").fill("bad name!")
    dialog.locator("button[data-role='ok']").click()
    expect(dialog.locator(".dialog-error")).to_contain_text("Invalid queue name 'bad name!'")
    assert draft.status == "created"
    dialog.get_by_role("button", name="Cancel").click()

    # Changed behind the page's back after the menu was drawn: the library's refusal shows.
    Task.enqueue(draft, "default")
    expect(row(page, draft.id).locator(".badge")).to_have_text("queued")
    open_menu(page, draft.id)
    Task.dequeue(draft, home=store.home)
    menu_item(page, "dequeue").click()
    expect(page.locator("#errors")).to_contain_text(f"Cannot dequeue task {draft.id}: it is created")
    expect(row(page, draft.id).locator(".badge")).to_have_text("created")


def test_multi_select_enqueue_abort_delete_and_compare(page, store, server):
    a = Task.clone(store.ids["run1"], name="multi a", home=store.home)
    b = Task.clone(store.ids["run2"], name="multi b", home=store.home)
    expect(page.locator("tr.task-row")).to_have_count(5)
    for task in (a, b):
        row(page, task.id).locator("td.check input").check()
    toolbar = page.locator(".toolbar").first
    expect(toolbar).to_contain_text("2 selected")
    toolbar.get_by_role("button", name="Enqueue…").click()
    dialog = page.locator("dialog#dialog")
    expect(dialog).to_contain_text("Enqueue 2 tasks")
    dialog.locator("button[data-role='ok']").click()
    for task in (a, b):
        expect(row(page, task.id).locator(".badge")).to_have_text("queued")
        assert task.status == "queued"
    toolbar.get_by_role("button", name="Abort").click()
    for task in (a, b):
        expect(row(page, task.id).locator(".badge")).to_have_text("stopped")

    # right-click on a selected row acts on the whole selection
    open_menu(page, a.id)
    expect(page.locator("#menu")).to_contain_text("2 tasks selected")
    expect(menu_item(page, "clone")).to_have_attribute("aria-disabled", "true")
    menu_item(page, "delete").click()
    expect(page.locator("dialog#dialog")).to_contain_text("Delete 2 tasks")
    page.locator("dialog#dialog button[data-role='ok']").click()
    expect(page.locator("tr.task-row")).to_have_count(3)
    assert store.task_names([a.id, b.id]) == {}

    run1, run3 = store.ids["run1"], store.ids["run3"]
    row(page, run1).click()
    row(page, run3).click(modifiers=["Control"])
    toolbar.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r".*#/compare/"))
    differs = page.locator("table.compare tr.differs")
    expect(differs).to_have_count(1)
    expect(differs).to_contain_text("General/lr")
    expect(differs.locator("td.val")).to_have_text(["0.3", "0.1"])  # in table order: newest first
    chart = page.locator(".plot-card[data-title='loss'] .js-plotly-plot")
    expect(chart).to_have_count(1)
    assert len(chart.evaluate("el => el.data.map(t => t.name)")) == 4
    shot(page, "compare.png")


# ------------------------------------------------------------------ plots and debug samples
def test_plots_and_debug_samples_tabs_show_every_report(page, store, server):
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task = Task.clone(store.ids["run1"], name="reports", home=store.home)
    task.mark_started(force=True)
    log = task.get_logger()
    log.report_histogram("hist", "h", values=[3, 1, 2], iteration=0, xaxis="bin")
    log.report_confusion_matrix("confusion", "m", matrix=[[5, 1], [2, 7]], iteration=0)
    log.report_table("table", "t", iteration=0, table_plot=[["name", "score"], ["a", 1], ["b", 2]])
    fig = plt.figure()
    plt.plot([1, 3, 2])
    log.report_matplotlib_figure("drawn", "d", figure=fig, iteration=0)  # simple: interactive
    fig = plt.figure()
    plt.imshow(np.eye(4))
    log.report_matplotlib_figure("picture", "p", figure=fig, iteration=0)  # kept as an image
    for it in range(3):
        log.report_image("image", "i", iteration=it, image=np.full((8, 8, 3), 80 * it, dtype=np.uint8))
    import io

    log.report_media("page", "p", iteration=0, stream=io.StringIO("<b>hello</b>"), file_extension="html")
    log.report_single_value("best", 0.75)
    log.flush()

    page.goto(f"{server.base}/#/task/{task.id}/plots")
    expect(page.locator(".plot-card[data-title='hist'] .js-plotly-plot")).to_have_count(1)
    expect(page.locator(".plot-card[data-title='confusion'] .js-plotly-plot")).to_have_count(1)
    kinds = page.locator(".plot-card[data-title='confusion'] .js-plotly-plot").evaluate("el => el.data[0].type")
    assert kinds == "heatmap"
    expect(page.locator(".plot-card[data-title='table'] table tbody tr")).to_have_count(2)
    expect(page.locator(".plot-card[data-title='table'] table thead")).to_contain_text("score")
    drawn = page.locator(".plot-card[data-title='drawn'] .js-plotly-plot")
    expect(drawn).to_have_count(1)
    assert drawn.evaluate("el => el.data[0].y") == [1, 3, 2]
    image = page.locator(".plot-card[data-title='picture'] img.report-image")
    expect(image).to_have_count(1)
    page.wait_for_function("() => { const i = document.querySelector(\".plot-card[data-title='picture'] img\");"
                           " return i && i.complete && i.naturalWidth > 100; }")
    # every chart is drawn at its card's width (none overflows or is clipped)
    page.wait_for_function("() => [...document.querySelectorAll('.plot-card .js-plotly-plot')].every("
                           "el => el._fullLayout && Math.abs(el._fullLayout.width - el.clientWidth) < 2)")
    shot(page, "task-page-plots.png")

    page.locator(".tabs a[data-tab='samples']").click()
    card = page.locator(".sample-card[data-title='image']")
    expect(card.locator(".sample-iteration")).to_have_text("iteration 2 (3 of 3)")
    card.locator("input.sample-slider").fill("0")
    expect(card.locator(".sample-iteration")).to_have_text("iteration 0 (1 of 3)")
    page.wait_for_function("() => { const i = document.querySelector(\".sample-card[data-title='image'] img\");"
                           " return i && i.complete && i.naturalWidth === 8; }")
    expect(page.locator(".sample-card[data-title='page'] iframe.report-html")).to_have_count(1)
    shot(page, "task-page-debug-samples.png")

    page.locator(".tabs a[data-tab='info']").click()
    expect(page.locator("table.single-values")).to_contain_text("best")
    expect(page.locator("table.single-values")).to_contain_text("0.75")


#: a self-contained html sample: its inline script draws, then tries to reach the page's
#: session (cookie, API with credentials, the page's window) and writes what happened.
PROBING_HTML = """<!doctype html><html><body><p id="drawn"></p><script>
const out = (id, text) => { const p = document.createElement("p"); p.id = id; p.textContent = text;
                            document.body.append(p); };
document.getElementById("drawn").textContent = "drawn by its own script";
try { out("cookie", "cookie: read " + JSON.stringify(document.cookie)); } catch (e) { out("cookie", "cookie: " + e.name); }
try { out("parent", "parent: read " + parent.document.title); } catch (e) { out("parent", "parent: " + e.name); }
fetch(location.href.replace(/[/]samples[/][^/]*$/, ""), {credentials: "include"}).then(
  r => out("fetch", "fetch: HTTP " + r.status), e => out("fetch", "fetch: " + e.name));
</script></body></html>"""
#: an html sample as bokeh saves it by default: its library comes from the internet.
CDN_HTML = """<!doctype html><html><head>
<script src="https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js"></script></head>
<body><p>bokeh plot</p></body></html>"""


def test_html_samples_run_their_own_scripts_in_a_sandbox_that_reaches_nothing(page, store, server):
    import io

    task = Task.clone(store.ids["run1"], name="html samples", home=store.home)
    task.mark_started(force=True)
    log = task.get_logger()
    log.report_media("html", "self-contained", iteration=0, stream=io.StringIO(PROBING_HTML), file_extension="html")
    log.report_media("html", "cdn", iteration=0, stream=io.StringIO(CDN_HTML), file_extension="html")
    log.flush()
    answered: list[str] = []
    page.on("response", lambda res: answered.append(res.url))

    page.goto(f"{server.base}/#/task/{task.id}/samples")
    card = page.locator(".sample-card[data-series='self-contained']")
    frame = card.frame_locator("iframe.report-html")
    expect(frame.locator("#drawn")).to_have_text("drawn by its own script")
    expect(frame.locator("#cookie")).to_have_text("cookie: SecurityError")  # an opaque origin has no cookies
    expect(frame.locator("#parent")).to_have_text("parent: SecurityError")
    expect(frame.locator("#fetch")).to_have_text("fetch: TypeError")  # connect-src 'none'
    expect(card.locator(".sample-note")).to_have_count(0)

    cdn = page.locator(".sample-card[data-series='cdn']")
    expect(cdn.locator(".sample-note")).to_contain_text("from the internet (cdn.bokeh.org), which this page does not fetch")
    expect(cdn.locator(".sample-note")).to_contain_text("resources=INLINE")
    expect(cdn.locator(".sample-note")).not_to_contain_text("include_plotlyjs")
    expect(cdn.frame_locator("iframe.report-html").locator("p")).to_have_text("bokeh plot")
    shot(page, "task-page-html-samples.png")
    assert not [url for url in answered if "bokeh.org" in url]
    probe = f"/s/{server.app.state.scope}/api/tasks/{task.id}"  # the sample's fetch (the page's has no /s/)
    assert not [url for url in answered if url.endswith(probe)]

    with page.expect_popup() as popup:
        card.get_by_role("link", name="open the file").click()
    raw = popup.value
    expect(raw.locator("#drawn")).to_have_text("drawn by its own script")  # the same sandbox on its own
    expect(raw.locator("#fetch")).to_have_text("fetch: TypeError")
    raw.close()
    # the blocked loads and fetches, logged by the browser as errors, are this test's point
    page.errors[:] = [e for e in page.errors if "Content Security Policy" not in e]


def _scene_box(chart) -> list[float]:
    """Where a chart's 3D scene is drawn, in the chart's own pixels (x0, y0, x1, y1)."""
    return chart.evaluate("""el => { const s = el._fullLayout._size, d = el._fullLayout.scene.domain;
        return [s.l + d.x[0] * s.w, s.t + (1 - d.y[1]) * s.h, s.l + d.x[1] * s.w, s.t + (1 - d.y[0]) * s.h]; }""")


def _ink_on_edges(png: bytes, box: list[float]) -> dict[str, int]:
    """Dark pixels on each edge of ``box`` in a screenshot: a title or label there is cut off by it
    (plotly draws a scene's axis titles inside the scene's own canvas)."""
    import io
    import math

    from PIL import Image

    grey = Image.open(io.BytesIO(png)).convert("L")
    x0, y0, x1, y1 = math.ceil(box[0]), math.ceil(box[1]), math.floor(box[2]), math.floor(box[3])
    edges = {"left": (x0, y0, x0 + 2, y1), "right": (x1 - 2, y0, x1, y1),
             "top": (x0, y0, x1, y0 + 2), "bottom": (x0, y1 - 2, x1, y1)}
    return {side: sum(grey.crop(edge).histogram()[:160]) for side, edge in edges.items()}


def test_3d_plots_show_every_axis_title_at_any_card_width(page, store, server):
    """ClearML's examples/reporting/3d_plots_reporting.py, at a wide window and at the narrowest card."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    task = Task.clone(store.ids["run1"], name="3D plot reporting", home=store.home)
    task.mark_started(force=True)
    log = task.get_logger()
    log.report_surface("example_surface", "series1", iteration=0, matrix=rng.integers(10, size=(10, 10)),
                       xaxis="title X", yaxis="title Y", zaxis="title Z")
    log.report_scatter3d("example_scatter_3d", "series_xyz", iteration=0, scatter=rng.integers(10, size=(10, 3)),
                         xaxis="title x", yaxis="title y", zaxis="title z")
    log.flush()
    assert Store.open(store.home).get_plots(task.id)[0]["figure"]["layout"].get("height") is None  # as stored

    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(f"{server.base}/#/task/{task.id}/plots")
    charts = page.locator(".plot-card .js-plotly-plot")
    expect(charts).to_have_count(2)
    for width in (1400, 640):  # 640: the cards are at their narrowest (420 px)
        page.set_viewport_size({"width": width, "height": 1100})
        page.wait_for_function("() => [...document.querySelectorAll('.plot-card .js-plotly-plot')].every("
                               "el => el._fullLayout && Math.abs(el._fullLayout.width - el.clientWidth) < 2)")
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        if width == 1400:
            shot(page, "task-page-3d-plots.png")
        for i in range(2):
            chart = charts.nth(i)
            cut = _ink_on_edges(chart.screenshot(), _scene_box(chart))
            title = chart.evaluate("el => el.closest('.plot-card').dataset.title")
            assert cut == {"left": 0, "right": 0, "top": 0, "bottom": 0}, (title, width, cut)


def test_compare_puts_the_reported_plots_side_by_side(page, store, server):
    tasks = []
    for scale in (1, 2):
        task = Task.clone(store.ids["run1"], name=f"scale {scale}", home=store.home)
        task.mark_started(force=True)
        task.get_logger().report_histogram("weights", "w", values=[scale, 2 * scale, 3 * scale], iteration=0)
        task.get_logger().flush()
        tasks.append(task)
    page.goto(f"{server.base}/#/compare/{tasks[0].id},{tasks[1].id}")
    row = page.locator(".compare-plots[data-plot='weights / w']")
    expect(row.locator(".js-plotly-plot")).to_have_count(2)
    ys = row.locator(".js-plotly-plot").evaluate_all("els => els.map(el => el.data[0].y)")
    assert sorted(ys) == [[1, 2, 3], [2, 4, 6]]
    shot(page, "compare-plots.png")


def test_a_new_tab_at_the_printed_folder_gets_in_by_the_cookie_and_one_at_the_root_does_not(page, server):
    """The cookie is scoped to the server's secret prefix: a new tab there needs no token; one
    at ``/`` (where another server on this host would see cookies) has none to use."""
    assert "/s/" in page.url and "token=" not in page.url  # the token left the address bar
    scoped = page.context.new_page()
    scoped.goto(server.url.split("?")[0])
    scoped.wait_for_selector("tr.task-row")
    cookies = page.context.cookies()
    assert [c["path"] for c in cookies] == [f"/s/{server.app.state.scope}/"]
    root = page.context.new_page()
    root.goto(server.base + "/")
    expect(root.locator("#view")).to_contain_text("needs the access token")


def test_a_reproduction_shows_its_verdict_per_aspect_in_the_info_tab(page, store, server):
    from localtask.reproduction import reproduce

    mark = reproduce(store.ids["run1"], queue="repro-ui", home=store.home)
    worker = Worker(home=store.home, queues=["repro-ui"], burst=True, poll_interval=0.2)
    thread = threading.Thread(target=worker.run, name="burst-worker", daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    verdict = store.get_verdict(mark["task_id"])["verdict"]
    assert verdict in ("identical", "differ")
    page.goto(f"{server.base}/#/task/{mark['task_id']}/info")
    heading = page.locator("h2", has_text="Reproduction of")
    expect(heading).to_contain_text(store.ids["run1"][:8])
    expect(heading.locator(".verdict")).to_have_text(verdict)
    table = page.locator("table.verdict-table")
    expect(table.locator("tr")).to_have_count(12)
    expect(table.locator("tr", has_text="scalars").locator(".verdict")).to_have_text(
        {a["aspect"]: a["verdict"] for a in store.get_verdict(mark["task_id"])["details"]["aspects"]}["scalars"])
    shot(page, "task-reproduction-verdict.png")
    page.goto(f"{server.base}/#/task/{store.ids['run1']}/info")
    expect(page.locator("table.reproductions")).to_contain_text(mark["task_id"][:8])


def test_edit_a_drafts_execution_in_its_tab(page, store, server):
    draft = Task.clone(store.ids["run1"], home=store.home)
    page.goto(f"{server.base}/#/task/{draft.id}/execution")
    page.locator("input[name='python']").fill("3.12")
    page.locator("input[name='image']").fill("python:3.12-slim")
    page.locator("textarea[name='packages']").fill("numpy==1.26.4\ntqdm>=4")
    page.locator("button[data-role='save-execution']").click()
    expect(page.locator("#notice")).to_have_text("Saved: packages, python, image")
    env = draft.get_environment()
    assert env["python"] == "3.12" and env["image"] == "python:3.12-slim"
    assert [p["name"] for p in env["packages"]] == ["numpy", "tqdm"]
    expect(page.locator("input[name='image']")).to_have_value("python:3.12-slim")

    # A commit the repository does not have: the page says so and nothing is saved.
    page.locator("input[name='commit']").fill("0" * 40)
    page.locator("button[data-role='save-execution']").click()
    expect(page.locator("#errors")).to_contain_text("does not exist in the repository")
    assert draft.get_script()["commit"] != "0" * 40

    # A completed task's execution is read-only.
    page.goto(f"{server.base}/#/task/{store.ids['run1']}/execution")
    expect(page.locator(".readonly-note")).to_contain_text("Read-only")
    expect(page.locator("button[data-role='save-execution']")).to_have_count(0)


# ------------------------------------------------------------------ models (issue 10)
def test_artifacts_tab_lists_the_tasks_models(page, store, server):
    run1 = store.ids["run1"]
    store.add_model({"id": "a" * 32, "name": "resnet", "project": "proj", "framework": "pytorch",
                     "filename": "resnet.pt", "size": 2048, "tags": ["base", "v1"], "published": True})
    store.add_model({"id": "b" * 32, "name": "head", "project": "proj", "framework": "keras",
                     "uri": "https://models.example/head.h5"})
    store.set_task_model(run1, "input", "backbone", "a" * 32)
    store.set_task_model(run1, "output", "head", "b" * 32)
    page.goto(f"{server.base}/#/task/{run1}/artifacts")
    inputs = page.locator("table.input-models tbody tr")
    expect(inputs).to_have_count(1)
    expect(inputs.locator("td")).to_have_text(["backbone", f"resnet · {'a' * 8}", "pytorch", "resnet.pt",
                                               "2.0 KiB", "base, v1", "yes"])
    expect(page.locator("table.output-models tbody tr td")).to_have_text(
        ["head", f"head · {'b' * 8}", "keras", "https://models.example/head.h5", "", "", "no"])
    expect(page.get_by_role("link", name="metrics")).to_be_visible()  # the artifacts stay below
    shot(page, "task-models.png")


def test_a_created_draft_shows_its_code_and_requirements(page, store, server, tmp_path):
    from helpers_worker import make_repo

    repo = make_repo(tmp_path / "made", {"src/train.py": "print('hi')\n"})
    task = Task.create(project_name="proj", task_name="made from code", repo=str(repo), script="src/train.py",
                       working_directory="src", packages=["numpy==1.26.4", "tqdm>=4", "click"],
                       docker="python:3.11-slim", home=store.home)
    page.goto(f"{server.base}/#/task/{task.id}/execution")
    expect(page.locator("table.kv").first).to_contain_text(str(repo))
    expect(page.locator("table.kv").first).to_contain_text("src/train.py")
    expect(page.locator("table.packages tbody tr td:nth-child(2)")).to_have_text(["1.26.4", ">=4", "any"])
    expect(page.locator("table.kv").nth(1)).to_contain_text("python:3.11-slim")
    shot(page, "task-created-draft.png")
