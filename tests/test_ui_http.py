"""The web page's HTTP endpoints (``localtask ui``), against stores made by real recorded runs."""
from __future__ import annotations

import json
from pathlib import Path
import os
import re
import subprocess
import sys
import time
import urllib.request
import warnings

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # newer Starlette prefers httpx2 and warns about httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from localtask import LocaltaskError, Store, Task, ui  # noqa: E402
from localtask.artifacts import artifacts_dir  # noqa: E402

from helpers_ui import TOKEN, copy_store, make_template  # noqa: E402

AUTH = {"X-Localtask-Token": TOKEN}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("ui-template"))


@pytest.fixture
def store(tmp_path, template):
    """A fresh copy of the template store, with ``store.ids`` = {run name: task id}."""
    home = copy_store(template[0], tmp_path / "home")
    opened = Store.open(home)
    opened.ids = dict(template[1])
    return opened


@pytest.fixture
def client(store):
    with TestClient(ui.create_app(store.home, TOKEN), base_url="http://127.0.0.1:8080") as c:
        yield c


def get(client, path, **kw):
    res = client.get(path, headers={**AUTH, **kw.pop("headers", {})}, **kw)
    assert res.status_code == 200, res.text
    return res.json()


def post(client, path, body=None, status=200, headers=None):
    res = client.post(path, json=body or {}, headers={**AUTH, **(headers or {})})
    assert res.status_code == status, res.text
    return res.json()


def task(store, task_id) -> Task:
    return Task.get_task(task_id=task_id, home=store.home)


# ------------------------------------------------------------------ security
def test_every_api_request_needs_the_token(client, store):
    run1 = store.ids["run1"]
    assert client.get("/api/tasks").status_code == 403
    assert client.get("/api/tasks", headers={"X-Localtask-Token": "wrong"}).status_code == 403
    assert client.get(f"/api/tasks/{run1}/artifacts/metrics").status_code == 403
    res = client.post(f"/api/tasks/{run1}/publish")
    assert res.status_code == 403 and "token" in res.json()["error"]
    assert task(store, run1).status == "completed"
    assert client.get("/api/tasks", headers=AUTH).status_code == 200


def test_the_printed_address_sets_a_strict_cookie_that_reads_but_cannot_write(client, store):
    scope = client.app.state.scope
    res = client.get("/?token=wrong")
    assert res.status_code == 200 and "set-cookie" not in res.headers
    res = client.get(f"/s/{scope}/?token={TOKEN}")
    assert res.status_code == 200 and "<title>localtask</title>" in res.text
    cookie = res.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert f"Path=/s/{scope}/" in cookie  # another server on this host never receives it
    assert "default-src 'self'" in res.headers["content-security-policy"]
    # The cookie now authenticates reads (downloads, a new tab) under the prefix ...
    assert client.get(f"/s/{scope}/api/tasks").status_code == 200
    assert client.get(f"/s/{scope}/api/session").json() == {"token": TOKEN}
    assert get(client, "/api/meta")["base"] == f"/s/{scope}"
    # ... but a state change needs the header itself, which no other page can set.
    run1 = store.ids["run1"]
    assert client.post(f"/s/{scope}/api/tasks/{run1}/publish").status_code == 403
    assert task(store, run1).status == "completed"


def test_the_cookie_is_honoured_only_under_the_servers_secret_prefix(client, store):
    scope = client.app.state.scope
    client.get(f"/?token={TOKEN}")
    # a client that sends the cookie everywhere (as no browser does) still reads nothing outside
    client.cookies.set("localtask_token_8080", TOKEN)
    assert client.get("/api/tasks").status_code == 403
    assert client.get("/s/not-the-scope/api/tasks").status_code in (403, 404)
    assert client.get(f"/s/{scope}/api/tasks").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8080", "", "10.0.0.1:8080"])
def test_a_host_header_that_is_not_the_pages_own_is_refused(client, store, host):
    """DNS rebinding: a site whose name resolves to 127.0.0.1 sends its own name as Host."""
    run1 = store.ids["run1"]
    for method, path in (("GET", "/"), ("GET", "/static/app.js"), ("GET", "/api/tasks"),
                         ("POST", f"/api/tasks/{run1}/publish")):
        res = client.request(method, path, headers={**AUTH, "Host": host})
        assert res.status_code == 403, (method, path, res.status_code)
        assert "not this page's own" in res.json()["error"] and "--allow-host" in res.json()["error"]
    assert task(store, run1).status == "completed"


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST"])
def test_the_loopback_names_are_the_pages_own(client, host):
    assert client.get("/api/tasks", headers={**AUTH, "Host": host}).status_code == 200


def test_page_hosts_for_a_wildcard_address_and_extra_names():
    assert ui.host_name("[::1]:8080") == "::1" and ui.host_name("Box.Lab:80") == "box.lab"
    assert ui.page_hosts("127.0.0.1") == ui.LOOPBACK_HOSTS
    hosts = ui.page_hosts("0.0.0.0", ["tunnel.example:9000"])
    assert "tunnel.example" in hosts and ui.socket.gethostname().lower() in hosts
    assert "evil.example" not in hosts
    assert "10.1.2.3" in ui.page_hosts("10.1.2.3")


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:9999"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_state_changes_from_another_origin_are_refused(client, store, headers):
    run1 = store.ids["run1"]
    res = client.post(f"/api/tasks/{run1}/publish", headers={**AUTH, **headers})
    assert res.status_code == 403
    assert "another" in res.json()["error"]
    assert task(store, run1).status == "completed"


def test_the_page_own_origin_may_change_state(client, store):
    run1 = store.ids["run1"]
    post(client, f"/api/tasks/{run1}/publish",
         headers={"Origin": "http://127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"})
    assert task(store, run1).status == "published"


def test_cross_site_reads_are_refused_even_with_the_cookie(client):
    scope = client.app.state.scope
    client.get(f"/?token={TOKEN}")
    assert client.get(f"/s/{scope}/api/tasks", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403


@pytest.mark.parametrize("path", ["/static/ui.py", "/static/..%2Fui.py", "/static/%2e%2e%2fstore.py",
                                  "/static/../ui.py", "/static/", "/static/.env"])
def test_static_files_come_from_a_fixed_list(client, path):
    res = client.get(path)
    assert res.status_code == 404
    assert "def " not in res.text


def test_static_files_are_served(client):
    for name in ("index.html", "app.js", "charts.js", "view-plots.js", "app.css"):
        res = client.get(f"/static/{name}")
        assert res.status_code == 200 and len(res.content) > 100
        assert res.headers["x-content-type-options"] == "nosniff"


def test_plotly_js_comes_from_the_installed_plotly_package(client):
    plotly = pytest.importorskip("plotly")
    res = client.get("/static/plotly.min.js")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/javascript")
    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert res.content == bundled.read_bytes()


def test_without_plotly_the_page_says_how_to_get_charts(client, monkeypatch):
    monkeypatch.setattr(ui, "plotly_js", lambda: None)
    res = client.get("/static/plotly.min.js")
    assert res.status_code == 404 and "pip install 'localtask[ui]'" in res.json()["error"]


def test_plots_samples_and_single_values_endpoints(client, store):
    np = pytest.importorskip("numpy")
    pytest.importorskip("PIL")
    task = Task.clone(store.ids["run1"], home=store.home)
    task.mark_started(force=True)
    log = task.get_logger()
    log.report_histogram("hist", "h", values=[1, 2, 3], iteration=0)
    log.report_histogram("hist", "h", values=[4, 5, 6], iteration=1)
    log.report_table("tbl", "t", iteration=0, table_plot=[["a", "b"], [1, 2]])
    log.report_image("img", "i", iteration=2, image=np.zeros((2, 2, 3), dtype=np.uint8))
    log.report_single_value("best", 0.75)
    log.report_media("video", "v", iteration=0, url="https://example.com/clip.mp4")
    log.flush()
    plots = get(client, f"/api/tasks/{task.id}/plots")["plots"]
    assert [(p["title"], p["iteration"]) for p in plots] == [("hist", 1), ("tbl", 0)]  # the last of each
    assert plots[0]["figure"]["data"][0]["y"] == [4, 5, 6]
    assert plots[1]["figure"]["layout"]["localtask_table"]["rows"] == [[1, 2]]
    samples = get(client, f"/api/tasks/{task.id}/samples")["samples"]
    assert [(s["title"], s["iteration"], s["mime"]) for s in samples] == [
        ("img", 2, "image/png"), ("video", 0, "text/uri-list")]
    assert samples[1]["url"] == "https://example.com/clip.mp4" and "url" not in samples[0]
    res = client.get(f"/api/tasks/{task.id}/samples/{samples[0]['filename']}", headers=AUTH)
    assert res.status_code == 200 and res.content.startswith(b"\x89PNG")
    assert res.headers["content-type"] == "image/png"
    assert res.headers["content-security-policy"].startswith("sandbox;")  # no scripts at all
    for name in ("../../localtask.db", "nothing.png"):
        assert client.get(f"/api/tasks/{task.id}/samples/{name}", headers=AUTH).status_code == 404
    data = get(client, f"/api/tasks/{task.id}")
    assert (data["plot_count"], data["sample_count"], data["single_values"]) == (3, 2, {"best": 0.75})


def test_html_samples_run_their_own_scripts_in_an_opaque_sandbox_and_name_what_they_load(client, store):
    import io

    task = Task.clone(store.ids["run1"], home=store.home)
    task.mark_started(force=True)
    log = task.get_logger()
    pages = {"inline": "<script>document.body.append('hi')</script>",
             "cdn": '<script src="https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js"></script>'
                    '<link rel="stylesheet" href="//fonts.example.org/a.css"><script>Bokeh.embed()</script>',
             "directory": '<script src="plotly.min.js"></script><img src="https://example.com/x.png">'}
    for series, html in pages.items():
        log.report_media("page", series, iteration=0, stream=io.StringIO(html), file_extension="html")
    log.flush()
    samples = {s["series"]: s for s in get(client, f"/api/tasks/{task.id}/samples")["samples"]}
    assert samples["inline"]["outside"] == {"hosts": [], "files": []}
    assert samples["cdn"]["outside"] == {"hosts": ["cdn.bokeh.org", "fonts.example.org"], "files": []}
    assert samples["directory"]["outside"] == {"hosts": [], "files": ["plotly.min.js"]}  # images are no scripts
    res = client.get(f"/api/tasks/{task.id}/samples/{samples['inline']['filename']}", headers=AUTH)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    policy = [part.strip() for part in res.headers["content-security-policy"].split(";")]
    assert policy[0] == "sandbox allow-scripts"  # never allow-same-origin: an opaque origin
    assert "script-src 'unsafe-inline' 'unsafe-eval'" in policy  # no host: nothing from the internet
    assert {"connect-src 'none'", "form-action 'none'", "frame-ancestors 'self'"} <= set(policy)


def test_scalars_carry_their_wall_time(client, store):
    scalars = get(client, f"/api/tasks/{store.ids['run1']}/scalars")["scalars"]
    train = scalars["loss"]["train"]
    assert len(train["t"]) == len(train["x"]) == 3
    assert train["t"] == sorted(train["t"]) and time.time() - 3600 < train["t"][0] <= time.time()


def test_artifact_download_is_an_attachment_of_the_stored_file(client, store):
    run1 = store.ids["run1"]
    res = client.get(f"/api/tasks/{run1}/artifacts/metrics", headers=AUTH)
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/octet-stream"
    assert res.headers["content-disposition"].startswith("attachment")
    assert json.loads(res.content) == {"acc": 0.9, "lr": 0.1}
    assert task(store, run1).artifacts["metrics"].get() == {"acc": 0.9, "lr": 0.1}


@pytest.mark.parametrize("name", ["nope", "..%2F..%2Flocaltask.db", "%2E%2E", "metrics%00"])
def test_artifact_names_cannot_reach_other_files(client, store, name):
    run1 = store.ids["run1"]
    res = client.get(f"/api/tasks/{run1}/artifacts/{name}", headers=AUTH)
    assert res.status_code == 404
    assert b"SQLite" not in res.content


@pytest.mark.parametrize("task_ref", ["..%2F..%2Flocaltask.db", "..", "zz", "0" * 32])
def test_task_ids_are_looked_up_in_the_store(client, task_ref):
    res = client.get(f"/api/tasks/{task_ref}/console", headers=AUTH)
    assert res.status_code in (404, 400)
    assert "error" in res.json()


def test_an_artifact_row_pointing_outside_its_folder_is_not_served(client, store):
    run1 = store.ids["run1"]
    store.add_artifact(run1, "evil", "file", "../../../localtask.db", 1, "0" * 64, {})
    (artifacts_dir(store, run1) / "link").symlink_to(store.db_path)
    store.add_artifact(run1, "linked", "file", "link", 1, "0" * 64, {})
    for name in ("evil", "linked"):
        res = client.get(f"/api/tasks/{run1}/artifacts/{name}", headers=AUTH)
        assert res.status_code == 404, name
        assert b"SQLite" not in res.content


def test_a_body_that_is_not_a_json_object_is_refused(client, store):
    run1 = store.ids["run1"]
    for body in (b"not json", b"[1, 2]"):
        res = client.post(f"/api/tasks/{run1}/enqueue", content=body, headers=AUTH)
        assert res.status_code == 400
    assert task(store, run1).status == "completed"


def test_without_the_ui_extra_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(ui, "_MISSING", ImportError("No module named 'starlette'"))
    with pytest.raises(LocaltaskError, match=r"pip install 'localtask\[ui\]'"):
        ui.create_app(tmp_path / "home")
    with pytest.raises(LocaltaskError, match="ui"):
        ui.serve(tmp_path / "home", port=0)


# ------------------------------------------------------------------ reading
def test_listing_shows_the_columns_and_the_differing_parameters(client, store):
    data = get(client, "/api/tasks")
    assert data["total"] == 3
    names = [t["name"] for t in data["tasks"]]
    assert names == ["run3", "run2", "run1"]  # newest first
    assert data["param_columns"] == ["General/lr"]  # the only parameter that differs
    by_name = {t["name"]: t for t in data["tasks"]}
    assert by_name["run2"]["params"] == {"General/lr": 0.2}
    run1 = by_name["run1"]
    assert run1["status"] == "completed" and run1["type"] == "training"
    assert run1["tags"] == ["ui", "run1"] and run1["started"] and run1["completed"] >= run1["started"]
    assert run1["allowed"]["publish"] is None and run1["allowed"]["reset"] is None
    short = store.ids["run1"][:8]
    assert run1["allowed"]["enqueue"].startswith(f"Cannot enqueue task {short}: it is completed")
    assert "allowed from: created, failed, stopped" in run1["allowed"]["enqueue"]


def test_listing_gives_parent_names_and_differing_parameters_of_the_page_only(client, store):
    clone = Task.clone(store.ids["run1"], home=store.home)
    clone.update_parameters({"General/epochs": 9})
    data = get(client, "/api/tasks?project=proj")
    row = data["tasks"][0]
    assert row["id"] == clone.id and row["parent"] == store.ids["run1"] and row["parent_name"] == "run1"
    assert data["param_columns"] == ["General/epochs", "General/lr"]
    assert row["params"] == {"General/epochs": 9, "General/lr": 0.1}
    assert get(client, "/api/tasks?project=other")["param_columns"] == []


@pytest.mark.parametrize("query, expected", [
    ("status=completed", ["run3", "run2", "run1"]),
    ("status=created", ["draft"]),
    ("status=created&status=completed&project=proj", ["draft", "run2", "run1"]),
    ("tag=run2", ["run2"]),
    ("tag=ui&tag=run3", ["run3"]),
    ("tag=missing", []),
    ("name=RUN", ["run3", "run2", "run1"]),
    ("name=raf", ["draft"]),
    ("project=other", ["run3"]),
    ("sort=name&desc=0", ["draft", "run1", "run2", "run3"]),
    ("sort=name&desc=1", ["run3", "run2", "run1", "draft"]),
    ("sort=started&desc=0", ["run1", "run2", "run3", "draft"]),  # never started: last
    ("sort=duration&desc=1&status=completed", None),
    ("per_page=2&page=1", ["draft", "run3"]),
    ("per_page=2&page=2", ["run2", "run1"]),
    ("per_page=2&page=3", []),
])
def test_filters_sorting_and_pages(client, store, query, expected):
    Task.clone(store.ids["run1"], name="draft", home=store.home)
    data = get(client, f"/api/tasks?{query}")
    names = [t["name"] for t in data["tasks"]]
    if expected is not None:
        assert names == expected
    else:
        assert sorted(names) == ["run1", "run2", "run3"]
    if "per_page=2" in query:
        assert data["total"] == 4 and data["per_page"] == 2


@pytest.mark.parametrize("query, message", [
    ("status=running", "Unknown status 'running'"),
    ("sort=password", "Cannot sort tasks by 'password'"),
    ("page=x", "page='x' is not an integer"),
])
def test_bad_listing_queries_say_what_is_allowed(client, query, message):
    res = client.get(f"/api/tasks?{query}", headers=AUTH)
    assert res.status_code == 400
    assert message in res.json()["error"]


def test_projects_tags_queues_and_meta(client, store):
    projects = get(client, "/api/projects")
    assert [p["name"] for p in projects["projects"]] == ["other", "proj"]
    assert projects["projects"][1]["tasks"] == 2 and projects["projects"][1]["statuses"] == {"completed": 2}
    assert projects["tags"] == ["run1", "run2", "run3", "ui"] and projects["total"] == 3
    assert get(client, "/api/queues")["queues"][0]["name"] == "default"
    meta = get(client, "/api/meta")
    assert meta["home"] == str(store.home) and "created" in meta["statuses"]
    assert meta["allowed_from"]["publish"] == ["completed", "stopped"]


def test_task_page_data(client, store):
    run1 = store.ids["run1"]
    child = Task.clone(run1, home=store.home)
    data = get(client, f"/api/tasks/{run1}")
    assert data["name"] == "run1" and data["status"] == "completed" and data["parent_task"] is None
    assert data["editable"] is False and data["edit_reason"].startswith(f"Cannot edit task {run1[:8]}")
    assert [c["id"] for c in data["children"]] == [child.id]
    params = {p["key"]: p for p in data["parameters"]}
    assert params["General/epochs"]["value"] == 3 and params["General/epochs"]["type"] == "int"
    assert params["General/layers"]["value"] == [8, 4] and params["General/flag"]["type"] == "bool"
    assert data["configurations"] == [
        {"name": "model", "kind": "dict", "text": '{"depth": 2}', "description": ""}]
    assert [a["name"] for a in data["artifacts"]] == ["metrics"]
    assert data["scalar_count"] == 6 and data["console_size"] > 0
    draft = get(client, f"/api/tasks/{child.id}")
    assert draft["editable"] is True and draft["parent_task"] == {
        "id": run1, "name": "run1", "status": "completed", "project": "proj"}


def test_execution_shows_the_recorded_code(client, store):
    data = get(client, f"/api/tasks/{store.ids['run1']}/execution")
    script = data["script"]
    assert script["kind"] == "git" and script["branch"] == "main"
    assert re.fullmatch(r"[0-9a-f]{40}", script["commit"])
    assert script["entry_point"] == "train.py" and script["argv"] == ["proj", "run1", "0.1"]
    assert "+uncommitted note" in data["diff"] and "notes.txt" in data["diff"]
    assert data["environment"]["python"] and any(p["name"] == "localtask" for p in data["packages"])


def test_the_page_and_show_json_display_one_view(client, store):
    """``localtask show --json`` and the page's task endpoints are two formats of one view."""
    run1 = store.ids["run1"]
    Task.clone(run1, home=store.home)
    proc = subprocess.run([sys.executable, "-m", "localtask", "--home", str(store.home), "show", run1,
                           "--json"], capture_output=True, text=True, timeout=60, check=True)
    shown = json.loads(proc.stdout)
    page = get(client, f"/api/tasks/{run1}")
    execution = get(client, f"/api/tasks/{run1}/execution")
    for key in ("id", "name", "status", "created", "parent_task", "children", "allowed", "tags"):
        assert page[key] == shown[key], key
    assert {p["key"]: p["value"] for p in page["parameters"]} == {
        k: v["value"] for k, v in shown["parameters"].items()}
    assert page["artifacts"] == shown["outputs"]["artifacts"]
    assert page["scalar_count"] == shown["outputs"]["scalars"] == 6
    assert page["console_size"] == shown["outputs"]["console_log"]["size"] > 0
    assert execution["script"] == shown["script"]
    assert execution["packages"] == shown["environment"]["packages"]
    assert execution["diff_size"] == shown["code"]["size"] > 0


def test_console_is_read_from_an_offset(client, store):
    run1 = store.ids["run1"]
    full = get(client, f"/api/tasks/{run1}/console")
    assert "epoch 2 of 3" in full["text"] and full["offset"] == full["size"] and not full["more"]
    rest = get(client, f"/api/tasks/{run1}/console?offset=10")
    assert rest["text"] == full["text"][10:]
    tail = get(client, f"/api/tasks/{run1}/console?offset=-12")
    assert full["text"].endswith(tail["text"]) and tail["offset"] == full["size"]
    assert get(client, f"/api/tasks/{run1}/console?offset={full['size']}")["text"] == ""
    draft = Task.clone(run1, home=store.home)
    assert get(client, f"/api/tasks/{draft.id}/console") == {
        "text": "", "offset": 0, "size": 0, "start": 0, "status": "created", "more": False}


def test_console_never_splits_a_character(client, store):
    run1 = store.ids["run1"]
    path = store.console_path(run1)
    path.write_bytes(b"ab\xc3\xa9\xe2\x82")  # "abé" and half of "€"
    data = get(client, f"/api/tasks/{run1}/console")
    assert data["text"] == "abé" and data["offset"] == 4
    with open(path, "ab") as fh:
        fh.write(b"\xac!")
    assert get(client, f"/api/tasks/{run1}/console?offset=4")["text"] == "€!"


def test_scalars(client, store):
    data = get(client, f"/api/tasks/{store.ids['run2']}/scalars")
    train = data["scalars"]["loss"]["train"]
    assert {k: train[k] for k in ("x", "y")} == {"x": [0, 1, 2], "y": [0.2, 0.1, pytest.approx(0.2 / 3)]}
    assert set(data["scalars"]["loss"]) == {"train", "val"}


def test_compare(client, store):
    ids = [store.ids["run1"], store.ids["run3"]]
    data = get(client, f"/api/compare?ids={','.join(ids)}")
    assert [t["id"] for t in data["tasks"]] == ids
    assert data["differing"] == ["General/lr"]
    assert data["values"]["General/lr"] == [0.1, 0.3] and data["values"]["General/epochs"] == [3, 3]
    assert set(data["scalars"]) == set(ids) and "loss" in data["scalars"][ids[1]]
    res = client.get(f"/api/compare?ids={ids[0]}", headers=AUTH)
    assert res.status_code == 400 and "two or more" in res.json()["error"]


# ------------------------------------------------------------------ actions
def test_clone_with_set_parent(client, store):
    run1 = store.ids["run1"]
    middle = Task.clone(run1, home=store.home)  # its parent is run1
    data = post(client, f"/api/tasks/{middle.id}/clone",
                {"project": "elsewhere", "comment": "try lr", "set_parent": True})
    new = task(store, data["id"])
    assert new.status == "created" and new.parent == middle.id and data["parent"] == middle.id
    assert new.project == "elsewhere" and new.comment == "try lr" and new.name == f"Clone of {middle.name}"
    assert new.get_parameters() == middle.get_parameters()


def test_clone_without_set_parent_follows_the_core_rule(client, store):
    run1 = store.ids["run1"]
    middle = Task.clone(run1, home=store.home)
    data = post(client, f"/api/tasks/{middle.id}/clone", {"name": "again", "project": "", "comment": ""})
    new = task(store, data["id"])
    assert new.parent == run1  # the original's parent, not the original
    assert new.project == "proj" and new.name == "again"
    assert new.comment == f"Auto-generated by cloning task {middle.id}"
    first = task(store, post(client, f"/api/tasks/{run1}/clone")["id"])
    assert first.parent == run1  # no parent of its own: the original


def test_clone_of_a_missing_task_is_404(client):
    res = client.post(f"/api/tasks/{'ab' * 16}/clone", json={}, headers=AUTH)
    assert res.status_code == 404 and "No task" in res.json()["error"]


@pytest.mark.parametrize("delete_artifacts", [False, True])
def test_reset(client, store, delete_artifacts):
    run1 = store.ids["run1"]
    path = task(store, run1).artifacts["metrics"].path
    data = post(client, f"/api/tasks/{run1}/reset", {"delete_artifacts": delete_artifacts})
    assert data["status"] == "created"
    t = task(store, run1)
    assert t.get_reported_scalars() == {} and t.get_reported_console_output() == []
    assert ("metrics" in t.artifacts) is not delete_artifacts
    assert path.exists() is not delete_artifacts


def test_enqueue_on_a_new_queue_then_dequeue(client, store):
    draft = Task.clone(store.ids["run1"], home=store.home)
    data = post(client, f"/api/tasks/{draft.id}/enqueue", {"queue": "gpu-a100"})
    assert data == {"id": draft.id, "status": "queued", "queue": "gpu-a100"}
    assert draft.status == "queued"
    queues = {q["name"]: q["queued"] for q in get(client, "/api/queues")["queues"]}
    assert queues == {"default": 0, "gpu-a100": 1}
    row = get(client, "/api/tasks?status=queued")["tasks"][0]
    assert row["queue"] == "gpu-a100" and row["allowed"]["dequeue"] is None and row["allowed"]["enqueue"]
    assert post(client, f"/api/tasks/{draft.id}/dequeue")["status"] == "created"
    assert store.queue_entries() == []


def test_enqueue_errors_come_from_the_library(client, store):
    run1 = store.ids["run1"]
    data = post(client, f"/api/tasks/{run1}/enqueue", {"queue": "default"}, status=409)
    assert data["error"].startswith(f"Cannot enqueue task {run1}: it is completed")
    assert "force" not in data["error"]  # the page has no force option to point at
    draft = Task.clone(run1, home=store.home)
    data = post(client, f"/api/tasks/{draft.id}/enqueue", {"queue": "bad name!"}, status=400)
    assert data["error"].startswith("Invalid queue name 'bad name!'")
    data = post(client, f"/api/tasks/{draft.id}/enqueue", {"queue": 5}, status=400)
    assert data["error"] == "The field 'queue' must be text, not int."
    data = post(client, f"/api/tasks/{draft.id}/clone", {"name": ["x"]}, status=400)
    assert data["error"] == "The field 'name' must be text, not list."
    assert draft.status == "created"


def test_abort_a_queued_task(client, store):
    draft = Task.clone(store.ids["run1"], home=store.home)
    Task.enqueue(draft, "default")
    assert post(client, f"/api/tasks/{draft.id}/abort")["status"] == "stopped"
    assert draft.status == "stopped" and store.queue_entries() == []
    post(client, f"/api/tasks/{draft.id}/abort", status=409)


def test_publish_then_delete_is_refused(client, store):
    run1 = store.ids["run1"]
    assert post(client, f"/api/tasks/{run1}/publish")["status"] == "published"
    data = post(client, f"/api/tasks/{run1}/delete", status=409)
    assert "Cannot delete" in data["error"]
    row = get(client, "/api/tasks?status=published")["tasks"][0]
    assert row["allowed"]["reset"].endswith("published tasks are read-only: clone it instead")
    assert row["allowed"]["clone"] is None


def test_delete_removes_rows_and_files(client, store):
    run2 = store.ids["run2"]
    folder = store.task_dir(run2)
    assert folder.is_dir()
    assert post(client, f"/api/tasks/{run2}/delete") == {"id": run2, "deleted": True}
    assert not folder.exists()
    assert client.get(f"/api/tasks/{run2}", headers=AUTH).status_code == 404
    assert get(client, "/api/tasks")["total"] == 2


def test_typed_parameter_save(client, store):
    draft = Task.clone(store.ids["run1"], home=store.home)
    values = {"General/epochs": "7", "General/lr": "0.05", "General/flag": False,
              "General/layers": "[16, 8, 4]", "General/opt": "7"}
    data = post(client, f"/api/tasks/{draft.id}/parameters", {"values": values})
    params = {p["key"]: p for p in data["parameters"]}
    assert params["General/epochs"]["value"] == 7 and params["General/epochs"]["type"] == "int"
    stored = draft.get_parameters()
    assert stored["General/epochs"] == 7 and type(stored["General/epochs"]) is int
    assert stored["General/lr"] == 0.05 and type(stored["General/lr"]) is float
    assert stored["General/flag"] is False and stored["General/layers"] == [16, 8, 4]
    assert stored["General/opt"] == "7"  # a str stays a str
    post(client, f"/api/tasks/{draft.id}/parameters", {"values": {"General/lr": 1}})
    assert draft.get_parameters()["General/lr"] == 1.0 and type(draft.get_parameters()["General/lr"]) is float


@pytest.mark.parametrize("values, message", [
    ({"General/epochs": "seven"},
     "Parameter General/epochs is of type int; 'seven' cannot be read as an int"),
    ({"General/epochs": "7.5"}, "is of type int"),
    ({"General/layers": "{\"a\": 1}"}, "is of type list"),
    ({"General/flag": "maybe"}, "is of type bool"),
    ({}, "Nothing to save"),
])
def test_bad_parameter_values_are_refused_with_the_library_message(client, store, values, message):
    draft = Task.clone(store.ids["run1"], home=store.home)
    before = draft.get_parameters()
    data = post(client, f"/api/tasks/{draft.id}/parameters", {"values": values}, status=400)
    assert message in data["error"]
    assert draft.get_parameters() == before


def test_only_a_draft_is_editable(client, store):
    run1 = store.ids["run1"]
    data = post(client, f"/api/tasks/{run1}/parameters", {"values": {"General/epochs": "7"}}, status=409)
    assert data["error"].startswith(f"Cannot edit task {run1}: it is completed")
    assert task(store, run1).get_parameters()["General/epochs"] == 3


def test_configuration_save(client, store):
    draft = Task.clone(store.ids["run1"], home=store.home)
    post(client, f"/api/tasks/{draft.id}/configuration", {"name": "model", "text": '{\n "depth": 5\n}'})
    assert draft.get_configuration_object_as_dict("model") == {"depth": 5}
    data = post(client, f"/api/tasks/{draft.id}/configuration", {"name": "model", "text": "[1"}, status=400)
    assert "must be JSON" in data["error"]
    data = post(client, f"/api/tasks/{draft.id}/configuration", {"name": "model", "text": "[1]"}, status=400)
    assert "JSON object" in data["error"]
    post(client, f"/api/tasks/{draft.id}/configuration", {"name": "notes", "text": "free text"})
    assert draft.get_configuration_object("notes") == "free text"
    post(client, f"/api/tasks/{store.ids['run1']}/configuration", {"name": "model", "text": "{}"}, status=409)


# ------------------------------------------------------------------ serving
def _start(home, *args):
    code = ("import sys; from localtask.ui import serve; "
            f"serve({str(home)!r}, host=sys.argv[1], port=0)")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _read_url(proc) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.match(r"Open (http://\S+)$", line.strip())
        if match:
            return match.group(1)
    proc.kill()
    raise AssertionError(f"no address printed; stderr:\n{proc.stderr.read()}")


@pytest.mark.parametrize("host, warns", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serve_prints_an_address_with_the_token(store, host, warns):
    proc = _start(store.home, host)
    try:
        url = _read_url(proc)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/[\w-]{16}/\?token=[\w-]{20,}", url)
        token = url.split("token=")[1]
        base = url.split("?")[0]
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(urllib.request.Request(
                        base + "api/meta", headers={"X-Localtask-Token": token}), timeout=5) as res:
                    assert json.load(res)["home"] == str(store.home)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "api/meta", timeout=5)
        assert refused.value.code == 403
        with pytest.raises(urllib.error.HTTPError) as rebound:  # a rebinding site's Host header
            urllib.request.urlopen(urllib.request.Request(
                base + "api/meta", headers={"X-Localtask-Token": token, "Host": "evil.example"}), timeout=5)
        assert rebound.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        err = proc.stderr.read()
    assert ("Warning: listening on 0.0.0.0" in err) is warns
    assert "Traceback" not in err


def test_serve_on_a_busy_port_says_what_to_do(store):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(LocaltaskError, match=f"Cannot listen on 127.0.0.1 port {port}.*--port"):
            ui.serve(store.home, port=port)


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("127.0.0.2", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                            ("::", False), ("example.org", False)])
def test_is_loopback(host, loopback):
    assert ui.is_loopback(host) is loopback


def test_the_table_hides_archived_tasks_unless_asked(client, store):
    run1 = store.ids["run1"]
    Task.get_task(run1, home=store.home).set_archived(True)
    shown = [t["id"] for t in get(client, "/api/tasks")["tasks"]]
    assert run1 not in shown and len(shown) == 2
    assert run1 in [t["id"] for t in get(client, "/api/tasks?archived=1")["tasks"]]


def test_execution_save_on_a_draft_checks_each_field(client, store):
    """The Execution tab's edit (issue 11): checked as the CLI's, nothing changed on a refusal."""
    draft = Task.clone(store.ids["run1"], home=store.home)
    commit = draft.get_script()["commit"]
    data = post(client, f"/api/tasks/{draft.id}/execution",
                {"argv": "--lr 0.5 'two words'", "packages": ["numpy==1.26.4", "", "tqdm>=4"],
                 "python": "3.12", "image": "python:3.12-slim", "commit": commit[:10]})
    assert set(data["changed"]) == {"argv", "packages", "python", "image"}
    assert draft.get_script()["argv"] == ["--lr", "0.5", "two words"]
    x = get(client, f"/api/tasks/{draft.id}/execution")
    assert x["environment"]["image"] == "python:3.12-slim" and x["environment"]["python"] == "3.12"
    assert [p["name"] for p in x["packages"]] == ["numpy", "tqdm"]
    before = (draft.get_script(), draft.get_environment())
    for body, message in (({"commit": "deadbeef" * 5}, "does not exist in the repository"),
                          ({"packages": ["numpy=1"], "argv": "x"}, "not a valid requirement"),
                          ({"image": "BAD IMAGE"}, "not a container image name"),
                          ({"nonsense": 1}, "unknown: ['nonsense']")):
        data = post(client, f"/api/tasks/{draft.id}/execution", body, status=400)
        assert message in data["error"]
    assert (draft.get_script(), draft.get_environment()) == before
    data = post(client, f"/api/tasks/{store.ids['run1']}/execution", {"python": "3.12"}, status=409)
    assert "it is completed" in data["error"] and "only a draft" in data["error"]
