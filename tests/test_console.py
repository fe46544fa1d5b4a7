"""The web console at /console, in a real headless browser (Debian's chromium through selenium)
against real `parley serve` processes: one with auth off, the demo project and a fake model for
the data agent; one with auth on. Each test follows a flow a person would and checks the DOM;
screenshots go to the test's tmp dir."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import PARLEY, _free_port, parley_env, serve
from fake_openai import FakeOpenAI, fake_openai

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

ASSETS = {
    "/console/": "text/html; charset=utf-8",
    "/console/index.html": "text/html; charset=utf-8",
    "/console/console.css": "text/css; charset=utf-8",
    **{
        f"/console/{name}": "text/javascript; charset=utf-8"
        for name in ("app.js", "api.js", "ui.js", "chart.js", "result.js", "memory.js", "data.js")
    },
}


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with fake_openai() as server:
        yield server


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, model: FakeOpenAI) -> Iterator[str]:
    """Auth off (the default), `--demo`, the data agent on the fake model."""
    folder = tmp_path_factory.mktemp("console-open")
    env = parley_env(
        folder / "data",
        PARLEY_AGENT_BASE_URL=model.base_url,
        PARLEY_AGENT_MODEL="fake-agent",
        PARLEY_LLM_MAX_RETRIES="0",
    )
    port = _free_port()
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [*PARLEY, "serve", "--port", str(port), "--demo"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert process.poll() is None, (folder / "serve.log").read_text()
            try:
                return httpx.get(f"{base_url}/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, "parley serve --demo", timeout_s=60)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Auth on; yields its URL and an admin key made by `parley keys create --admin`."""
    folder = tmp_path_factory.mktemp("console-locked")
    with serve(folder, PARLEY_AUTH_ENABLED="true") as base_url:
        made = subprocess.run(
            [*PARLEY, "keys", "create", "--admin"],
            env=parley_env(folder / "data", PARLEY_AUTH_ENABLED="true"),
            capture_output=True,
            text=True,
            check=True,
        )
        yield base_url, made.stdout.strip()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None or shutil.which(CHROMEDRIVER) is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1366,850"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - an element not there yet; tried again
            last = err
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def one(driver: Any, selector: str, *, containing: str = "") -> Any:
    """Waits for the first element matching `selector` (whose text has `containing`)."""
    return wait_for(
        lambda: next((e for e in css(driver, selector) if containing in e.text), None),
        f"{selector} containing {containing!r}",
    )


def page(driver: Any, url: str) -> None:
    driver.get(url)
    one(driver, "#key-area > *")  # the app's module ran


def js_errors(driver: Any) -> list[str]:
    """Script errors since the last call (an API answering 4xx is logged too: not one of them)."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]
    ]


def shot(driver: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def type_into(element: Any, text: str, *, submit: bool = True) -> None:
    from selenium.webdriver.common.keys import Keys

    element.clear()
    element.send_keys(text + (Keys.ENTER if submit else ""))


# --- the files ---------------------------------------------------------------------------


def test_assets_are_served_with_their_types_and_without_a_key(locked: tuple[str, str]) -> None:
    base_url, _ = locked
    with httpx.Client(base_url=base_url) as http:
        for path, kind in ASSETS.items():
            response = http.get(path)
            assert (response.status_code, response.headers["content-type"]) == (200, kind), path
        assert http.get("/console").status_code == 307
        assert http.get("/console").headers["location"] == "/console/"
        assert http.get("/console/missing.js").status_code == 404
        # the files are open; the APIs the console calls are not
        refused = http.post("/v2/workspaces/list", json={})
        assert refused.status_code == 401
        assert refused.json() == {"detail": "missing API key: send 'Authorization: Bearer <key>'"}
        assert http.get("/api/v1/projects").status_code == 401
    shipped = {p.name for p in (Path(__file__).parents[1] / "src/parley/console/static").iterdir()}
    assert {path.rsplit("/", 1)[1] for path in ASSETS} - {""} == shipped


# --- memory ------------------------------------------------------------------------------


def _memory(base_url: str, workspace: str) -> None:
    with httpx.Client(base_url=f"{base_url}/v2", timeout=30) as http:
        assert http.post("/workspaces", json={"name": workspace}).status_code == 200
        for peer in ("alice", "guide"):
            assert (
                http.post(f"/workspaces/{workspace}/peers", json={"name": peer}).status_code == 200
            )
        made = http.post(
            f"/workspaces/{workspace}/sessions",
            json={"id": "trip", "peer_names": {"alice": {}, "guide": {}}},
        )
        assert made.status_code == 200
        said = http.post(
            f"/workspaces/{workspace}/sessions/trip/messages",
            json={
                "messages": [
                    {"peer_id": "alice", "content": "I live in Berlin and I love hiking."},
                    {"peer_id": "guide", "content": "Then the Alps suit you."},
                ]
            },
        )
        assert said.status_code == 200
        # a deduction with its premise (as an import writes one), and a peer card
        deduced = http.post(
            f"/workspaces/{workspace}/observations",
            json={
                "observations": [
                    {
                        "content": "alice would enjoy a trip to the Alps",
                        "observer_id": "alice",
                        "observed_id": "alice",
                        "session_id": "trip",
                        "level": "deductive",
                        "premises": ["alice loves hiking"],
                    }
                ]
            },
        )
        assert deduced.status_code == 200
        card = http.put(
            f"/workspaces/{workspace}/peers/alice/card", json={"peer_card": ["Lives in Berlin"]}
        )
        assert card.status_code == 200
        # a session longer than a page (the console shows 25 messages a page)
        made = http.post(
            f"/workspaces/{workspace}/sessions", json={"id": "long", "peer_names": {"guide": {}}}
        )
        assert made.status_code == 200
        lines = [{"peer_id": "guide", "content": f"note {n}"} for n in range(1, 31)]
        said = http.post(
            f"/workspaces/{workspace}/sessions/long/messages", json={"messages": lines}
        )
        assert said.status_code == 200

        def reasoned() -> bool:
            status = http.get(f"/workspaces/{workspace}/queue/status").json()
            return status["pending_work_units"] == 0 and status["embedding_backlog"] == 0

        wait_for(reasoned, "the queue to drain", timeout_s=30)


def test_a_peers_memory(open_server: str, browser: Any, tmp_path: Path) -> None:
    _memory(open_server, "console-mem")
    page(browser, f"{open_server}/console/")
    one(browser, "h1", containing="Memory: workspaces")
    one(browser, "ul.cards a", containing="console-mem").click()
    one(browser, "h1", containing="Workspace console-mem")
    one(browser, "ul.peers a", containing="alice").click()
    one(browser, "h1", containing="Peer alice")
    item = one(browser, ".observation", containing="I live in Berlin and I love hiking.")
    assert "explicit" in item.find_element("css selector", ".level").text.lower()
    assert "observer alice" in item.text and "session trip" in item.text
    source = item.find_element("css selector", ".sources a")
    assert source.get_attribute("href").endswith("#/memory/console-mem/session/trip")
    deduction = one(browser, ".observation.deductive", containing="a trip to the Alps")
    assert "premises:\nalice loves hiking" in deduction.text
    shot(browser, tmp_path, "peer-observations")
    from selenium.webdriver.support.select import Select

    Select(one(browser, ".observations select")).select_by_value("deductive")
    wait_for(lambda: len(css(browser, ".observation")) == 1, "only the deduction")
    assert css(browser, ".observation")[0].get_attribute("class") == "observation deductive"

    one(browser, "#tab-card").click()
    assert one(browser, ".peer-card li").text == "Lives in Berlin"
    one(browser, "#tab-chat").click()
    ask = one(browser, "input[name=query]")
    type_into(ask, "Where does alice live?")
    answer = one(browser, ".chat-answer .content", containing="Berlin")
    wait_for(lambda: "streaming" not in answer.get_attribute("class"), "the stream's end")
    assert "No language model is configured" in answer.text
    # as another peer: what guide knows of alice
    Select(one(browser, "select[name=asker]")).select_by_value("guide")
    type_into(one(browser, "input[name=query]"), "Where does alice live?")
    answer = one(browser, ".chat-answer .content:not(.streaming)", containing="remembers")
    # guide holds no facts about alice (alice's own are hers): only the messages guide saw
    assert answer.text.startswith("No language model is configured, so this is what Parley")
    assert "Facts:" not in answer.text
    said = r"- \(\d{4}-\d\d-\d\d, session trip\) alice: I live in Berlin and I love hiking\."
    assert re.search(said, answer.text), answer.text

    one(browser, "#tab-observations").click()
    one(browser, ".observation", containing="I live in Berlin")
    one(browser, ".observation .sources a").click()
    one(browser, "h1", containing="Session trip")
    messages = wait_for(lambda: css(browser, "ol.messages .message"), "messages")
    assert [m.find_element("css selector", ".content").text for m in messages] == [
        "I live in Berlin and I love hiking.",
        "Then the Alps suit you.",
    ]
    one(browser, "#tab-search").click()
    type_into(one(browser, ".search input"), "Alps")
    found = one(browser, ".search-results .message", containing="Alps")
    assert "guide" in found.text
    one(browser, "#tab-summaries").click()
    one(browser, ".summaries", containing="Short summary")

    browser.get(f"{open_server}/console/#/memory/console-mem/session/long")
    wait_for(lambda: len(css(browser, "ol.messages .message")) == 25, "a page of 25 messages")
    assert "page 1 of 2 (30 in all)" in one(browser, ".pager").text
    one(browser, ".pager button", containing="Next").click()
    wait_for(lambda: len(css(browser, "ol.messages .message")) == 5, "the second page")
    assert css(browser, ".message .content")[-1].text == "note 30"

    # an API error reaches the person as the API wrote it
    browser.get(f"{open_server}/console/#/memory/console-mem/peer/no%20such%20peer")
    one(browser, "#tab-chat").click()
    type_into(one(browser, "input[name=query]"), "Who are you?")
    refused = one(browser, ".chat-answer .error[role=alert]")
    assert refused.text == "422 path.peer_id: String should match pattern '^[a-zA-Z0-9_-]+$'"

    browser.get(f"{open_server}/console/#/memory/console-mem")
    one(browser, "#tab-queue").click()
    queue = one(browser, ".queue", containing="Failed items")
    assert "No failed items." in queue.text and "retrieval_only" in queue.text
    assert js_errors(browser) == []


# --- data --------------------------------------------------------------------------------


def plan(sql: str) -> str:
    return json.dumps(
        {"intent": "TEXT_TO_SQL", "reasoning": "because", "sql": sql, "follow_up_questions": []}
    )


def test_catalog_and_a_table(open_server: str, browser: Any, tmp_path: Path) -> None:
    page(browser, f"{open_server}/console/#/data")
    one(browser, "ul.projects a", containing="Demo: Alpenglow Outdoor").click()
    one(browser, "h1", containing="Project demo")
    connections = one(browser, ".catalog table", containing="retail-demo")
    assert "SQLITE" in connections.text
    one(browser, "ul.tables a", containing="customers").click()
    one(browser, "h1", containing="Table customers")
    columns = one(browser, "table.data", containing="customer_id")
    assert "Customer id" in columns.text and "integer" in columns.text
    one(browser, "table.data", containing="customers.region_id")  # a relation to regions
    one(browser, "table.data", containing="grace.miller@example.com")  # a sample row
    one(browser, ".description", containing="Customers: consumers and business accounts")
    shot(browser, tmp_path, "table")
    assert js_errors(browser) == []


def test_the_agent_answers_with_sql_a_table_and_a_chart(
    open_server: str, browser: Any, model: FakeOpenAI, tmp_path: Path, downloads: Path
) -> None:
    q = "How many customers are in each segment?"
    model.script(
        f"QUESTION: {q}",
        plan("SELECT segment, COUNT(*) AS customers FROM customers GROUP BY segment"),
    )
    model.script(f"EXPLAIN THE RESULT FOR: {q}", "Most customers are consumers.")
    page(browser, f"{open_server}/console/#/data/demo/agent")
    type_into(one(browser, "input[name=message]"), q)
    turn = one(browser, ".turn.done")
    assert turn.find_element("css selector", ".question").text == f"You: {q}"
    assert "Most customers are consumers." in turn.find_element("css selector", ".answer").text
    sql = turn.find_element("css selector", "pre.sql-text").text
    assert (
        sql
        == 'SELECT segment, COUNT(*) AS customers FROM "main"."customers" GROUP BY segment LIMIT 10000'
    )
    rows = [r.text for r in turn.find_elements("css selector", "table.data tbody tr")]
    assert rows == ["Consumer 2369", "Corporate 153", "Small Business 478"]
    bars = turn.find_elements("css selector", "svg.chart-bar rect.bar")
    assert len(bars) == 3
    shot(browser, tmp_path, "agent")

    # switch the chart, sort the table, and the export is there
    turn.find_element("css selector", "button.view-line").click()
    assert len(turn.find_elements("css selector", "svg.chart-line circle.dot")) == 3
    header = turn.find_elements("css selector", "table.data th")[1]
    header.find_element("css selector", "button").click()
    header.find_element("css selector", "button").click()
    assert header.get_attribute("aria-sort") == "descending"
    rows = [r.text for r in turn.find_elements("css selector", "table.data tbody tr")]
    assert rows == ["Consumer 2369", "Small Business 478", "Corporate 153"]
    export = turn.find_element("css selector", "button.export")
    assert export.text == "Export CSV"
    export.click()
    csv = downloads / "agent-result.csv"
    wait_for(lambda: csv.exists() and csv.read_bytes(), "the CSV download")
    assert (
        csv.read_bytes()
        == b"segment,customers\r\nConsumer,2369\r\nCorporate,153\r\nSmall Business,478\r\n"
    )

    # the thread is listed, and opening it shows the stored turn again
    thread = one(browser, "ul.threads button:not(.new-thread)", containing=q)
    browser.refresh()
    one(browser, "ul.threads button:not(.new-thread)", containing=q).click()
    again = one(browser, ".conversation .turn", containing="Most customers are consumers.")
    assert len(again.find_elements("css selector", "svg.chart-bar rect.bar")) == 3
    assert thread is not None and js_errors(browser) == []


def test_an_agent_failure_is_shown(open_server: str, browser: Any, model: FakeOpenAI) -> None:
    q = "Which store sold the most tents?"
    model.script(f"QUESTION: {q}", status=500, error="the model is down")
    page(browser, f"{open_server}/console/#/data/demo/agent")
    type_into(one(browser, "input[name=message]"), q)
    error = one(browser, ".turn.done .error[role=alert]")
    assert error.text == (
        "UPSTREAM_ERROR the agent model failed: fake-agent: Error code: 500 - the model is down"
    )
    # the failed first turn stored no thread: the next question starts a new one and works
    again = "How many stores are there?"
    model.script(f"QUESTION: {again}", plan("SELECT COUNT(*) AS stores FROM stores"))
    model.script(f"EXPLAIN THE RESULT FOR: {again}", "There are 17 stores.")
    type_into(one(browser, "input[name=message]"), again)
    turn = one(browser, ".turn.done", containing="There are 17 stores.")
    assert turn.find_elements("css selector", ".error") == []
    assert [r.text for r in turn.find_elements("css selector", "tbody tr")] == ["17"]


def in_page(driver: Any, module: str, expression: str) -> Any:
    """`expression` evaluated in the page with the console's module `m` imported."""
    return driver.execute_async_script(
        f"const done = arguments[0]; import('./{module}').then((m) => done({expression}),"
        " (err) => done('import failed: ' + err));"
    )


def test_the_chart_follows_the_results_shape(open_server: str, browser: Any) -> None:
    page(browser, f"{open_server}/console/#/data")
    cases = {
        # a time column and a measure: a line
        "{columns: [{name: 'day', type: 'date'}, {name: 'n', type: 'bigint'}], rows: [['2024-01-01', 3], ['2024-01-02', 4]]}": {
            "kind": "line",
            "x": 0,
            "y": 1,
        },
        # month strings without a type are time too
        "{columns: [{name: 'n'}, {name: 'month'}], rows: [[3, '2024-01'], [4, '2024-02']]}": {
            "kind": "line",
            "x": 1,
            "y": 0,
        },
        # a category and a measure: bars
        "{columns: [{name: 'segment', type: 'varchar'}, {name: 'n', type: 'double'}], rows: [['a', 1.5], ['b', 2]]}": {
            "kind": "bar",
            "x": 0,
            "y": 1,
        },
        # nothing to measure, one column, no rows: no chart
        "{columns: [{name: 'a'}, {name: 'b'}], rows: [['x', 'y']]}": None,
        "{columns: [{name: 'n', type: 'bigint'}], rows: [[1]]}": None,
        "{columns: [{name: 's'}, {name: 'n', type: 'bigint'}], rows: []}": None,
    }
    for result, expected in cases.items():
        assert in_page(browser, "chart.js", f"m.chooseChart({result})") == expected, result
    csv = "m.toCsv(['a', 'b'], [['x,y', 'say \"hi\"'], [null, {k: 1}], [1.5, 'two\\nlines']])"
    assert in_page(browser, "ui.js", csv) == (
        'a,b\r\n"x,y","say ""hi"""\r\n,"{""k"":1}"\r\n1.5,"two\nlines"\r\n'
    )


def test_sql_box_charts_a_time_series_and_shows_the_guards_refusal(
    open_server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    page(browser, f"{open_server}/console/#/data/demo/sql")
    box = one(browser, "textarea[name=statement]")
    box.send_keys(
        "SELECT substr(order_date, 1, 7) AS month, COUNT(*) AS orders FROM orders "
        "WHERE order_date < '2022-04' GROUP BY 1 ORDER BY 1"
    )
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    result = one(browser, ".sql-result .result")
    assert result.get_attribute("data-chart") == "line"
    assert len(result.find_elements("css selector", "svg.chart-line circle.dot")) == 3
    months = [r.text.split()[0] for r in result.find_elements("css selector", "tbody tr")]
    assert months == ["2022-01", "2022-02", "2022-03"]

    box.clear()
    box.send_keys("DELETE FROM customers")
    one(browser, "form.sql button[type=submit]").click()
    error = one(browser, ".sql-result .error[role=alert]")
    assert error.text == (
        "400 QUERY_NOT_ALLOWED only SELECT queries may run; this statement starts with DELETE"
    )
    shot(browser, tmp_path, "refused-sql")


def test_keyboard_focus_order_and_visible_focus(open_server: str, browser: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page(browser, f"{open_server}/console/#/data")
    one(browser, "ul.projects a")
    # a page's content takes the focus when it opens: Tab goes on from there
    assert browser.execute_script("return document.activeElement.id") == "main"

    def press(back: bool = False) -> list[str]:
        if back:
            ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(
                Keys.SHIFT
            ).perform()
        else:
            ActionChains(browser).send_keys(Keys.TAB).perform()
        return list(
            browser.execute_script(
                "const e = document.activeElement;"
                " return [e.tagName, e.id || e.textContent.trim(), getComputedStyle(e).outlineStyle];"
            )
        )

    seen = [press()] + [press(back=True) for _ in range(5)]
    assert [(tag, name) for tag, name, _ in seen] == [
        ("A", "Demo: Alpenglow Outdoor"),
        ("BUTTON", "Use key"),
        ("INPUT", "key-input"),
        ("A", "nav-data"),
        ("A", "nav-memory"),
        ("A", "Skip to content"),
    ]
    assert {outline for _, _, outline in seen} == {"solid"}  # the focus is visible


# --- auth ----------------------------------------------------------------------------------


def test_a_bad_key_shows_the_401_and_a_good_one_works(
    locked: tuple[str, str], browser: Any, tmp_path: Path
) -> None:
    base_url, admin = locked
    page(browser, f"{base_url}/console/#/data")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    missing = one(browser, "main .error[role=alert]", containing="missing API key")
    assert missing.text == "401 UNAUTHORIZED missing API key: send 'Authorization: Bearer <key>'"

    key = one(browser, "#key-input")
    assert key.get_attribute("type") == "password"
    type_into(key, "not-a-key")
    error = one(browser, "main .error[role=alert]", containing="API key is invalid")
    assert error.text.startswith("401 ")
    assert "not-a-key" not in browser.page_source  # a key is never shown back
    shot(browser, tmp_path, "bad-key")

    one(browser, "#forget-key").click()
    type_into(one(browser, "#key-input"), admin)
    one(browser, "main h1", containing="Data: projects")
    one(browser, "main", containing="No projects yet.")
    assert admin not in browser.page_source
    one(browser, "#forget-key").click()

    # a token in the fragment (as /ui/initSession hands one) is taken and dropped from the URL
    browser.get(f"{base_url}/console/#token={admin}")
    one(browser, "main h1", containing="Memory: workspaces")
    one(browser, ".key-state", containing="Key set")
    assert admin not in browser.current_url and admin not in browser.page_source
    assert js_errors(browser) == []


def test_an_embedded_session_link_opens_its_project_and_reaches_nothing_else(
    locked: tuple[str, str], browser: Any
) -> None:
    """The flow of Peaka's embedded UI: a partner's backend asks /ui/initSession for a project
    and hands the person the sessionUrl; the console opens that project with the token."""
    base_url, admin = locked
    headers = {"Authorization": f"Bearer {admin}"}
    made = httpx.post(f"{base_url}/api/v1/projects", json={"name": "embedded"}, headers=headers)
    pid = made.json()["id"]
    started = httpx.post(
        f"{base_url}/api/v1/ui/initSession", json={"projectId": pid}, headers=headers
    ).json()
    token = started["sessionToken"]
    assert started["sessionUrl"] == f"{base_url}/console/#token={token}&page=/data/{pid}"
    page(browser, f"{base_url}/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(started["sessionUrl"])
    one(browser, "main h1", containing=f"Project {pid}")
    one(browser, ".catalog", containing="No connections.")
    assert browser.current_url == f"{base_url}/console/#/data/{pid}"
    assert token not in browser.page_source
    # the token reaches its project only: the list of every project is refused, and says so
    browser.get(f"{base_url}/console/#/data")
    refused = one(browser, "main .error[role=alert]")
    assert refused.text.startswith("403 FORBIDDEN "), refused.text
    assert js_errors(browser) == []
    one(browser, "#forget-key").click()
