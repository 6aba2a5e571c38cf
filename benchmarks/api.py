"""The HTTP API against its floor: a company's timeline page and exchange creation.

Usage::

    .venv/bin/python benchmarks/api.py [--exchanges 20000] [--requests 300]
        [--concurrency 1,10,50] [--workers 2] [--kinds timeline,create] [--chunks 4]

On a fresh PostgreSQL database (``grc_bench_api``), starts ``grc serve --workers N`` and, side
by side, the *floor*: a bare Starlette application served by the same uvicorn with the same
workers, authenticating the same bearer token with one indexed query and running hand-written
SQL through psycopg's connection pool, returning the same JSON.  Both are driven by the same
httpx load generator at each concurrency, taking turns by chunks of the requests (a burst
of load from other work falls on both alike); the table gives p50/p95 latency, throughput, the
CPU each server spends per request (its processes' user + system time: steadier than latencies
on a shared machine) and the API/floor ratios.  Goal: p95 ≤ 2× the floor's and throughput
≥ 50 % of it.

The floor sends the library's statements (logged with SQLAlchemy's echo;
``tests/core/test_create_statements.py`` lists the creation's): the acting user checked on
every request, then for a creation the company's name, the picklist values with the count of
required custom fields, the exchange, its assignee, its timeline rows, its search document and
its audit event with the whole snapshot and its audience; for a page, the library's page query
and the next page's signed cursor.  It answers with the same JSON as the API (the same keys
and values, the same ``ETag`` and ``Location`` for a creation): :func:`check_same_json`
compares both answers before measuring and stops the run if they differ.  What the floor does
not do is what the library adds around the SQL: validating the request and the response,
checking permissions and idempotency, the ORM's unit of work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "grc_bench_api"


def db_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


BIN = Path(sys.executable).parent

FLOOR_APP = textwrap.dedent(
    '''
    """The floor: hand-written SQL behind a bare Starlette endpoint."""
    import base64, hashlib, hmac, json, os, queue, uuid
    from contextlib import contextmanager
    from datetime import datetime, UTC
    import psycopg
    from psycopg.types.json import Json
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    _idle = queue.LifoQueue()
    for _ in range(10):
        _idle.put(psycopg.connect(os.environ["FLOOR_DSN"], autocommit=True))

    @contextmanager
    def connection():
        """Ten connections, shared by the threads (the library's engine pools ten too)."""
        conn = _idle.get()
        try:
            yield conn
        finally:
            _idle.put(conn)

    def instant(value):
        """A UTC date-time as the API writes it."""
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    # The acting user, checked on every request (the API's token cache spares it the token,
    # never the user: a deactivated user is refused at once).
    READER = (
        "SELECT u.id, u.login, u.display_name FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND u.active"
    )

    def reader(conn, request):
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        return conn.execute(READER, (hashlib.sha256(secret.encode()).hexdigest(),)).fetchone()

    # -- the company's timeline page ---------------------------------------------------------

    # The page first (timeline, exchange, visibility, order, limit), then its names and its
    # assignees' logins: the library's query.
    PAGE = """
    SELECT e.id, e.uuid, e.start_at, e.end_at, e.subject, e.details, a.code, s.code, m.code,
           c.code, e.private, e.author_id, u.display_name, e.company_id, co.name,
           (SELECT array_agg(v.login ORDER BY v.login) FROM exchange_assignees z
            JOIN users v ON v.id = z.user_id WHERE z.exchange_id = e.id)
    FROM (SELECT x.*, t.start_at AS key_start
          FROM exchange_timeline t JOIN exchanges x ON x.id = t.exchange_id
          WHERE t.scope = 'c' AND t.scope_id = %(company)s
            AND (NOT x.private OR x.author_id = %(reader)s OR EXISTS (SELECT 1
                 FROM exchange_assignees y WHERE y.exchange_id = x.id AND y.user_id = %(reader)s))
          ORDER BY t.start_at DESC, t.exchange_id DESC LIMIT 51) e
    JOIN picklist_values a ON a.id = e.action_id JOIN picklist_values s ON s.id = e.status_id
    LEFT JOIN picklist_values m ON m.id = e.medium_id
    LEFT JOIN categories c ON c.id = e.category_id
    JOIN users u ON u.id = e.author_id LEFT JOIN companies co ON co.id = e.company_id
    ORDER BY e.key_start DESC, e.id DESC
    """
    _key = []

    def cursor(conn, start, ident, company, user):
        """The next page's cursor, signed with the installation's key as the library signs
        it (read once: the library reads it again every 30 s)."""
        if not _key:
            _key.append(bytes.fromhex(conn.execute(
                "SELECT cursor_key FROM installation").fetchone()[0]))
        query = hashlib.sha256(repr(("c", company, user, None)).encode()).hexdigest()[:16]
        payload = json.dumps(
            {"s": start.astimezone(UTC).isoformat(), "i": ident, "q": query},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=")
        tag = hmac.new(_key[0], body, hashlib.sha256).digest()[:16]
        return (body + b"." + base64.urlsafe_b64encode(tag).rstrip(b"=")).decode()

    def timeline(request):
        company = int(request.path_params["company"])
        with connection() as conn:
            user = reader(conn, request)
            if user is None:
                return Response(status_code=401)
            rows = conn.execute(PAGE, {"company": company, "reader": user[0]}).fetchall()
            last = rows[49] if len(rows) > 50 else None
            more = cursor(conn, last[2], last[0], company, user[0]) if last else None
        items = [
            {"id": r[0], "uuid": str(r[1]), "subject": r[4], "details": r[5],
             "start": instant(r[2]), "end": instant(r[3]), "action": r[6], "status": r[7],
             "medium": r[8], "category": r[9], "private": r[10],
             "company": None if r[13] is None else {"id": r[13], "name": r[14]},
             "author": {"id": r[11], "name": r[12], "login": None},
             "assignees": r[15] or []}
            for r in rows[:50]
        ]
        after = str(request.url.include_query_params(cursor=more)) if more else None
        return JSONResponse({"items": items, "next_cursor": more, "next": after})

    # -- exchange creation -------------------------------------------------------------------

    # The library's statements, in its order (tests/core/test_create_statements.py).
    COMPANY = "SELECT name FROM companies WHERE id = %s"
    CHOICES = (
        "SELECT kind, id, code, active, is_closed, (SELECT count(*) FROM custom_fields"
        " WHERE entity = 'exchange' AND active AND required) FROM picklist_values"
        " WHERE (kind = 'action' AND code = %s) OR (kind = 'status' AND code = %s)"
    )
    EXCHANGE = (
        "INSERT INTO exchanges (uuid, start_at, end_at, action_id, status_id, medium_id,"
        " category_id, subject, details, private, author_id, company_id, created_at, updated_at,"
        " origin, version) VALUES (%s, %s, %s, %s, %s, NULL, NULL, %s, %s, false, %s, %s, %s,"
        " %s, NULL, 1) RETURNING id"
    )
    ASSIGNEE = "INSERT INTO exchange_assignees (exchange_id, user_id) VALUES (%s, %s)"
    TIMELINE = (
        "INSERT INTO exchange_timeline (scope, scope_id, start_at, exchange_id, action_id,"
        " status_id, category_id) VALUES (%s, %s, %s, %s, %s, %s, NULL)"
    )
    DOCUMENT = " || ".join(
        f"setweight(to_tsvector('{config}', %({field})s), '{weight}')"
        for field, weight in (("subject", "A"), ("names", "B"), ("details", "C"))
        for config in ("grc_french", "grc_simple")
    )
    # With its date blocks, as the library writes it (migration 0012).
    SEARCH = (
        "INSERT INTO exchange_search (exchange_id, names, document, slices) VALUES (%(id)s,"
        f" %(names)s, {DOCUMENT}, grc_search_slices(%(start)s)) ON CONFLICT (exchange_id)"
        " DO UPDATE SET names = excluded.names, document = excluded.document,"
        " slices = excluded.slices"
    )
    EVENT = (
        "INSERT INTO events (occurred_at, actor_id, kind, entity_type, entity_id, company_id,"
        " fanned_out, changes, audience) VALUES (%s, %s, 'exchange.created', 'exchange', %s,"
        " %s, false, %s, %s) RETURNING id"
    )

    async def create(request):
        body = json.loads(await request.body())
        return await run_in_threadpool(insert, request, body)

    def insert(request, body):
        start = datetime.fromisoformat(body["start"]).astimezone(UTC)
        company, subject, details = body["company_id"], body["subject"], body.get("details", "")
        status = body.get("status", "planned")
        key = uuid.uuid4()
        with connection() as conn:
            user = reader(conn, request)
            if user is None:
                return Response(status_code=401)
            with conn.transaction():
                name = conn.execute(COMPANY, (company,)).fetchone()[0]
                found = {r[0]: r for r in conn.execute(CHOICES, (body["action"], status))}
                action, state = found["action"], found["status"]
                if not (action[3] and state[3]) or action[5]:
                    return Response(status_code=422)
                now = datetime.now(UTC)
                ident = conn.execute(
                    EXCHANGE,
                    (key, start, start, action[1], state[1], subject, details, user[0], company,
                     now, now),
                ).fetchone()[0]
                conn.execute(ASSIGNEE, (ident, user[0]))
                conn.cursor().executemany(
                    TIMELINE,
                    [("c", company, start, ident, action[1], state[1]),
                     ("u", user[0], start, ident, action[1], state[1])],
                )
                conn.execute(
                    SEARCH,
                    {"id": ident, "names": name, "subject": subject, "details": details,
                     "start": start},
                )
                snapshot = {
                    "uuid": str(key), "subject": subject, "details": details,
                    "start": start.isoformat(), "end": start.isoformat(), "action": action[2],
                    "status": state[2], "medium": None, "category": None, "private": False,
                    "author_id": user[0], "company_id": company, "assignee_ids": [user[0]],
                    "opportunity_ids": [], "contact_ids": [], "custom": {},
                }
                audience = {"uuid": str(key), "private": False, "author_id": user[0],
                            "assignee_ids": [user[0]]}
                conn.execute(
                    EVENT,
                    (now, user[0], ident, company,
                     Json({k: [None, v] for k, v in snapshot.items()}), Json(audience)),
                )
        return JSONResponse(
            {"id": ident, "uuid": str(key), "subject": subject, "details": details,
             "start": instant(start), "end": instant(start), "action": action[2],
             "status": state[2], "medium": None, "category": None, "private": False,
             "company": {"id": company, "name": name},
             "author": {"id": user[0], "name": user[2], "login": user[1]},
             "assignees": [user[1]], "closed": state[4], "opportunities": [], "contacts": [],
             "custom": {}, "created_at": instant(now), "updated_at": instant(now),
             "version": 1},
            status_code=201,
            headers={"ETag": '"1"', "Location": f"{request.url.path}/{ident}"},
        )

    app = Starlette(routes=[
        Route("/api/v1/companies/{company:int}/history", timeline),
        Route("/api/v1/exchanges", create, methods=["POST"]),
    ])
    '''
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(exchanges: int, name: str) -> tuple[str, int]:
    """A fresh database ``name`` with users, a token and ``exchanges`` on one company."""
    from grc_core import Grc
    from grc_core.services import api_tokens, companies, users
    from grc_core.services.bulk import ExchangeRecord, import_exchanges

    admin_engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin_engine.dispose()
    with Grc.from_url(db_url(name)) as grc:
        grc.upgrade()
        with grc.session() as s:
            admin = users.create_user(s, None, login="admin", display_name="Admin", is_admin=True)
            alice = users.create_user(s, admin, login="alice", display_name="Alice")
            company = companies.create_company(s, admin, name="ACME", owner="alice")
            secret = api_tokens.create_token(s, admin, alice, name="bench").secret
            company_id, alice_id = company.id, alice.id
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        records = [
            ExchangeRecord(
                subject=f"Échange {i}",
                start=t0 + timedelta(minutes=37 * i),
                action="call",
                author_id=alice_id,
                company_id=company_id,
                private=i % 10 == 0,
            )
            for i in range(exchanges)
        ]
        with grc.session() as s:
            import_exchanges(s, admin, records)
        # Statistics, as autovacuum would gather them after an import this size (the test
        # server runs without autovacuum): both servers plan with them.
        with grc.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return secret, company_id


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server: its process and its workers (Linux ``/proc``).

    On a shared machine the latencies move with the neighbours' load; the CPU a server
    spends per request does not, so the table gives it too."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [pid, *(int(p) for p in children.read_text().split())] if children.exists() else [pid]
    total = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def serve(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/companies/0/history", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start: {' '.join(command)}")


def _shape(value: Any) -> Any:
    """The keys of every object in ``value``, nested (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


#: Fields of a new exchange that differ between any two creations.
_OWN = {"id", "uuid", "created_at", "updated_at"}


def check_same_json(bases: dict[str, str], secret: str, company: int) -> None:
    """Stop the run unless the API and the floor answer with the same JSON.

    A timeline page must be the same page (same items, same cursor; ``next`` differs only by
    the server's address); a creation must have the same keys, nested, and the same values
    but for the new record's own (id, uuid, timestamps), and the same headers.
    """
    headers = {"Authorization": f"Bearer {secret}"}
    pages: dict[str, Any] = {}
    created: dict[str, httpx.Response] = {}
    for name, base in bases.items():
        r = httpx.get(f"{base}/api/v1/companies/{company}/history?limit=50", headers=headers)
        r.raise_for_status()
        page = r.json()
        page["next"] = page["next"] and page["next"].removeprefix(base)
        pages[name] = page
    body = {"subject": "Same JSON", "start": "2026-03-02T09:00:00+00:00", "action": "call"}
    for name, base in bases.items():
        created[name] = httpx.post(
            f"{base}/api/v1/exchanges", json={**body, "company_id": company}, headers=headers
        )
        if created[name].status_code != 201:
            raise SystemExit(f"{name} creation: {created[name].status_code} {created[name].text}")
    api, floor = pages["api"], pages["floor"]
    if api != floor:
        first = next(
            (
                pair
                for pair in zip(api["items"], floor["items"], strict=False)
                if pair[0] != pair[1]
            ),
            (api["next"], floor["next"]),
        )
        raise SystemExit(f"the floor's page differs from the API's, first at:\n{first}")
    made = {name: r.json() for name, r in created.items()}
    if _shape(made["api"]) != _shape(made["floor"]):
        raise SystemExit(f"the floor's creation differs from the API's:\n{made}")
    differ = {k for k in made["api"] if k not in _OWN and made["api"][k] != made["floor"][k]}
    if differ:
        raise SystemExit(f"the floor's creation differs from the API's on {sorted(differ)}")
    for header in ("etag", "location", "content-type"):
        a, f = (created[n].headers.get(header, "") for n in ("api", "floor"))
        if header == "location":
            a, f = a.rsplit("/", 1)[0], f.rsplit("/", 1)[0]
        if a != f:
            raise SystemExit(f"the floor's creation differs from the API's on {header}: {a} {f}")
    # The key sets alone, said once more for the reader of this check: equal pages have them.
    assert _shape(api["items"]) == _shape(floor["items"])
    print("same JSON: timeline page and creation (keys and values)", flush=True)


async def load(
    base: str, secret: str, company: int, kind: str, concurrency: int, total: int
) -> dict[str, Any]:
    """Send ``total`` requests from ``concurrency`` clients: each one's latency, the time
    they took together, the errors."""
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {secret}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(total):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                started = time.perf_counter()
                try:
                    if kind == "timeline":
                        r = await c.get(f"/api/v1/companies/{company}/history?limit=50")
                        expected = 200
                    else:
                        body = {
                            "subject": f"Bench {i}",
                            "start": "2026-03-02T09:00:00+00:00",
                            "action": "call",
                            "company_id": company,
                        }
                        r = await c.post("/api/v1/exchanges", json=body)
                        expected = 201
                except httpx.TransportError as exc:  # counted, never hidden
                    errors.append(type(exc).__name__)
                    continue
                if r.status_code != expected:
                    errors.append(f"{r.status_code} {r.text[:100]}")
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "elapsed": elapsed, "errors": len(errors)}


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """p50/p95 over every chunk's latencies; throughput over the chunks' summed time."""
    latencies = sorted(x for r in runs for x in r["latencies"])
    elapsed = sum(r["elapsed"] for r in runs)
    return {
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p95_ms": latencies[max(int(len(latencies) * 0.95) - 1, 0)] * 1000 if latencies else 0.0,
        "rps": len(latencies) / elapsed,
        "errors": sum(r["errors"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--kinds", default="timeline,create", help="what to measure: timeline, create or both"
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=4,
        help="the requests of each measure are sent in this many chunks, the servers taking turns",
    )
    parser.add_argument(
        "--database",
        default=DB_NAME,
        help="PostgreSQL database to create (dropped first: give two runs different names)",
    )
    parser.add_argument(
        "--before-src",
        help="a copy of src/ with other code (the code before a change): served by a third "
        "server, measured in the same run, its CPU per request and throughput printed",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    secret, company = prepare(args.exchanges, args.database)
    url = db_url(args.database)
    folder = Path(tempfile.mkdtemp(prefix="grc-bench-api-"))
    (folder / "floor_app.py").write_text(FLOOR_APP)
    (folder / "grc.toml").write_text("")
    env = {
        **os.environ,
        "GRC_DATABASE_URL": url,
        "GRC_CONFIG": str(folder / "grc.toml"),
        "GRC_STORAGE__LOCAL__ROOT": str(folder / "blobs"),
        "FLOOR_DSN": url.replace("postgresql+psycopg", "postgresql"),
        "PYTHONPATH": str(folder),
    }
    api_port, floor_port = free_port(), free_port()
    ports = {"api": api_port, "floor": floor_port}
    servers: dict[str, subprocess.Popen[bytes]] = {}
    results: list[dict[str, Any]] = []
    try:  # the servers started are stopped however the run ends (one failing to start too)
        servers["api"] = serve(
            [str(BIN / "grc"), "serve", "--port", str(api_port), "--workers", str(args.workers),
             "--log-level", "warning"],
            env, api_port,
        )  # fmt: skip
        servers["floor"] = serve(
            [str(BIN / "uvicorn"), "floor_app:app", "--port", str(floor_port), "--workers",
             str(args.workers), "--log-level", "warning", "--no-access-log"],
            env, floor_port,
        )  # fmt: skip
        if args.before_src:
            ports["before"] = free_port()
            before_env = {**env, "PYTHONPATH": f"{Path(args.before_src).resolve()}:{folder}"}
            servers["before"] = serve(
                [str(BIN / "grc"), "serve", "--port", str(ports["before"]), "--workers",
                 str(args.workers), "--log-level", "warning"],
                before_env, ports["before"],
            )  # fmt: skip
        check_same_json(
            {"api": f"http://127.0.0.1:{api_port}", "floor": f"http://127.0.0.1:{floor_port}"},
            secret,
            company,
        )
        for kind in args.kinds.split(","):
            for concurrency in levels:
                row: dict[str, Any] = {"kind": kind, "concurrency": concurrency}
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}
                spent = dict.fromkeys(ports, 0.0)
                for port in ports.values():  # warm up
                    base = f"http://127.0.0.1:{port}"
                    asyncio.run(load(base, secret, company, kind, concurrency, 20))
                # The servers take turns, a chunk each, so that a burst of load from other
                # work on the machine falls on all of them alike.
                chunk = max(args.requests // args.chunks, concurrency)
                for _ in range(args.chunks):
                    for name, port in ports.items():
                        base = f"http://127.0.0.1:{port}"
                        cpu_before = cpu_seconds(servers[name].pid)
                        runs[name].append(
                            asyncio.run(load(base, secret, company, kind, concurrency, chunk))
                        )
                        spent[name] += cpu_seconds(servers[name].pid) - cpu_before
                for name in ports:
                    figures = summary(runs[name])
                    figures["cpu_ms"] = spent[name] * 1000 / (chunk * args.chunks)
                    row.update(
                        {
                            f"{name}_{k}": round(v, 2 if k == "cpu_ms" else 1)
                            for k, v in figures.items()
                        }
                    )
                row["p95_ratio"] = round(row["api_p95_ms"] / max(row["floor_p95_ms"], 0.1), 2)
                row["rps_ratio"] = round(row["api_rps"] / max(row["floor_rps"], 0.1), 2)
                row["cpu_ratio"] = round(row["api_cpu_ms"] / max(row["floor_cpu_ms"], 0.1), 2)
                results.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=30)
    print()
    print(
        f"{'query':10} {'clients':>7} {'API p50':>9} {'API p95':>9} {'floor p95':>9} "
        f"{'p95 ×':>6} {'API rps':>8} {'floor rps':>9} {'rps %':>6} {'CPU/req API':>11} "
        f"{'floor':>7} {'CPU ×':>6}"
    )
    for r in results:
        print(
            f"{r['kind']:10} {r['concurrency']:>7} {r['api_p50_ms']:>7.1f}ms "
            f"{r['api_p95_ms']:>7.1f}ms "
            f"{r['floor_p95_ms']:>7.1f}ms {r['p95_ratio']:>6.2f} {r['api_rps']:>8.0f} "
            f"{r['floor_rps']:>9.0f} {r['rps_ratio'] * 100:>5.0f}% {r['api_cpu_ms']:>9.1f}ms "
            f"{r['floor_cpu_ms']:>5.1f}ms {r['cpu_ratio']:>6.2f}"
            f"  errors {r['api_errors']}/{r['floor_errors']}"
        )
    if args.before_src:
        print()
        print(
            f"{'query':10} {'clients':>7} {'CPU/req before':>14} {'CPU/req now':>11} "
            f"{'rps before':>10} {'rps now':>8} {'share before':>12} {'share now':>9}"
        )
        for r in results:
            print(
                f"{r['kind']:10} {r['concurrency']:>7} {r['before_cpu_ms']:>12.2f}ms "
                f"{r['api_cpu_ms']:>9.2f}ms {r['before_rps']:>10.0f} {r['api_rps']:>8.0f} "
                f"{r['before_rps'] / max(r['floor_rps'], 0.1) * 100:>11.0f}% "
                f"{r['rps_ratio'] * 100:>8.0f}%  errors {r['before_errors']}"
            )  # fmt: skip


if __name__ == "__main__":
    main()
