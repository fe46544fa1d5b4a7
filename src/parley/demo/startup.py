"""`parley serve --demo`: register the demo project when the server starts, then say how to
try it."""

from __future__ import annotations

import shlex

from parley.api.state import AppState
from parley.config import Settings
from parley.demo.register import CATALOG_NAME, PROJECT_ID, DemoProject, register_demo
from parley.demo.schema import TABLES

FIRST_QUESTION = "Which five customers spent the most in 2024?"


async def demo_startup(state: AppState) -> None:
    demo = await register_demo(state.data)
    print(try_it(state.settings, demo), flush=True)


def try_it(settings: Settings, demo: DemoProject) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    if ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{settings.port}/api/v1"
    auth = ""
    if settings.auth_enabled:
        auth = f' -H "Authorization: Bearer $(parley keys create --workspace {PROJECT_ID})"'
    json = "-H 'content-type: application/json'"
    chat = shlex.quote(f'{{"message": "{FIRST_QUESTION}"}}')
    sql = shlex.quote('{"statement": "SELECT segment, COUNT(*) FROM customers GROUP BY segment"}')
    made = ", ".join(dict.fromkeys(demo.created)) or "nothing new, all there from before"
    return "\n".join(
        [
            f"Demo project {PROJECT_ID!r}: catalog {CATALOG_NAME!r} with tables "
            f"{', '.join(t.name for t in TABLES)} (file {demo.path}; created: {made}).",
            "Ask the data agent:",
            f"  curl -s {base}/ai-agent/{PROJECT_ID}/chat{auth} {json} -d {chat}",
            "Or run SQL on it:",
            f"  curl -s {base}/data/projects/{PROJECT_ID}/queries/execute{auth} {json} -d {sql}",
        ]
    )
