"""The LiveOps server: ingest API, query API (the CLI's JSON shapes), bearer tokens with roles.

Thin: requests are parsed, checked and handed to the same core the CLI uses (``ingest``,
``api.Workspace``). Writes go through one connection under a lock and are committed before the reply,
so an acknowledged event is in the store's write-ahead log; reads use their own cursors and never wait
for a write.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import os
import queue
import tempfile
import threading
import time
import zlib
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import ibis
import orjson
import plotly
import pyarrow as pa
import pyarrow.compute as pc
import swagger_ui_bundle
from fastapi import Depends, FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.background import BackgroundTask

from . import compliance_store as CS
from . import output as O
from . import review_tables as RT
from .alerts import Alert, AlertLog, evaluate, load_rules
from .api import Workspace
from .compliance import project_scanner, result_rows
from .compliance_model import ModelScanner, project_model
from .ingest import IngestResult, ingest_lines
from .live import LiveHub, LiveSession
from .store import EventLog, Settings
from .tokens import ROLES, Token, TokenError, TokenStore, tokens_path


@dataclass
class ServerConfig:
    max_events: int = 10_000  # per request
    max_bytes: int = 5 * 1024 * 1024  # per request, before and after gzip
    ingest_rate: float = 50_000.0  # events per second per token (burst: two seconds' worth, at least a batch)
    cors_origins: list[str] = field(default_factory=list)  # closed unless listed
    timezone: str | None = None
    alert_rules: str | None = None  # YAML file; None = liveops.toml's, else the packaged defaults
    pseudonymise_key: bytes | None = None  # store user ids as keyed hashes


log = logging.getLogger("liveops.web")


class CheckRequest(BaseModel):
    texts: list[str]
    model: bool = True  # also the n-gram model's review hits


class VerdictRequest(BaseModel):
    verdict: str  # confirmed | dismissed
    note: str = ""


class TokenRequest(BaseModel):
    role: str
    name: str | None = None


class BadBatch(ValueError):
    """A request body that is not a batch of events: 400, or 413 when too large."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_batch(body: bytes, max_events: int, max_bytes: int, gzipped: bool) -> tuple[bytes, bool]:
    """A request body (JSON array or NDJSON, maybe gzip) as NDJSON bytes; True when it was an array."""
    if gzipped or body[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(wbits=31)
            raw = d.decompress(body, max_bytes + 1)
        except zlib.error as e:
            raise BadBatch(400, f"gzip 解压失败 body is not valid gzip: {e}") from e
        if len(raw) > max_bytes or d.unconsumed_tail:
            raise BadBatch(
                413, f"解压后超过 {max_bytes:,} 字节 body exceeds {max_bytes:,} bytes uncompressed"
            )
        body = raw
    head = body.lstrip()[:1]
    if head == b"[":
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise BadBatch(400, f"JSON 数组无法解析 malformed JSON array: {e}") from e
        if len(items) > max_events:
            raise BadBatch(
                413,
                f"每次最多 {max_events:,} 条事件 at most {max_events:,} events per request, got {len(items):,}",
            )
        return b"\n".join(orjson.dumps(x) for x in items), True
    n = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if n > max_events:
        lines = sum(1 for line in body.splitlines() if line.strip())
        if lines > max_events:
            raise BadBatch(
                413,
                f"每次最多 {max_events:,} 条事件 at most {max_events:,} events per request, got {lines:,}",
            )
    return body, False


def batch_reply(res: IngestResult, was_array: bool) -> dict[str, Any]:
    errors = []
    for r in res.rejected_rows or []:
        pos = r.get("line", r.get("row"))
        e = {"index": pos - 1} if was_array else {"line": pos}
        errors.append({**e, "field": r["field"], "reason": r["reason"], "errors": r["errors"]})
    return {
        "accepted": res.stored,
        "duplicate": res.duplicate,
        "rejected": res.rejected,
        "errors": errors,
    }


class RateLimiter:
    """A token bucket per API token, counted in events."""

    def __init__(self, rate: float, largest_batch: int):
        self.rate = rate
        self.burst = max(2 * rate, largest_batch)  # a full batch must always be able to pass
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, n: int) -> float:
        """0 when ``n`` events may pass now, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if n > level:
                self._buckets[key] = (level, now)
                return (n - level) / self.rate
            self._buckets[key] = (level - n, now)
            return 0.0


class Server:
    """The store, its write lock and the token file, shared by every request."""

    def __init__(self, db: str, config: ServerConfig | None = None):
        self.db = db
        self.config = config or ServerConfig()
        settings = Settings.load()
        self.rules = load_rules(self.config.alert_rules or settings.alert_rules)  # before touching the store
        self.tz = self.config.timezone or settings.timezone
        self.scanner = project_scanner()  # a bad lexicon or rules file stops the start, before the store
        # trained now, not on the first transcript; a labels file written later is read at the next start
        self.model = project_model(tuple(self.scanner.lexicon.categories))
        self.log = EventLog(db, pseudonymise_key=self.config.pseudonymise_key)
        self.tokens = TokenStore(tokens_path(db))
        self.limiter = RateLimiter(self.config.ingest_rate, self.config.max_events)
        self._write = threading.Lock()
        self.alerts = AlertLog(self.log.con, db_path=db)
        self.live = LiveHub()
        self._live_loaded: set[str] = set()
        self._rules_done: dict[str, int] = {}  # session → whole minutes the rules have seen
        self._reviews: queue.Queue[str | None] = queue.Queue()
        self._review_pending: set[str] = set()
        self._review_worker = threading.Thread(target=self._build_reviews, name="review-tables", daemon=True)
        self._review_worker.start()

    def ingest(self, ndjson: bytes, label: str) -> IngestResult:
        """Store a batch (committed before returning), then fold what was stored into the live state."""
        with self._write:
            res = ingest_lines(self.log.con, ndjson, label, self.log.deadletter_path)
            rows = res.stored_rows
            if rows is not None and rows.num_rows:
                sids = set(pc.unique(rows["session_id"]).to_pylist())
                fresh = sids - self._live_loaded
                for sid in fresh:  # first sight since start: the log (with this batch) is the whole story
                    self._load_live(sid)
                if fresh:
                    rows = rows.filter(pc.invert(pc.is_in(rows["session_id"], pa.array(sorted(fresh)))))
                self.live.fold(rows)
                self._scan(res.stored_rows)
                for sid in sids:
                    self._check_rules(sid)
                    if self.live.sessions[sid].ended and sid not in self._review_pending:
                        self._review_pending.add(
                            sid
                        )  # the show is over: its review tables, in the background
                        self._reviews.put(sid)
            res.stored_rows = None
            return res

    def _scan(self, rows: pa.Table) -> None:
        """Scan the batch's comments and transcripts: hits are stored, shown, and raise an alert at block."""
        hits = CS.scan_rows(self.log.con, self.scanner, rows, self.db, self.model)
        if not hits.num_rows:
            return
        for sid in set(hits.column("session_id").to_pylist()):
            live = self.live.sessions.get(sid)
            if live is not None:
                live.add_hits(hits.filter(pc.equal(hits["session_id"], sid)))
        for alert in CS.block_alerts(hits, self.scanner):
            live = self.live.sessions.get(alert.session_id)
            if live is None or alert.key not in {a.key for a in live.alerts}:
                self._raise(alert)

    def _check_rules(self, sid: str) -> None:
        """Evaluate the alert rules on the session's whole minutes; store and show what is new.

        Rules only see whole minutes, so nothing can change until another minute is over.
        """
        live = self.live.sessions[sid]
        whole = live.whole_minutes()
        if self._rules_done.get(sid) == whole:
            return
        self._rules_done[sid] = whole
        known = {a.key for a in live.alerts}
        for a in evaluate(live.minute_frame(), self.rules, sid):
            if a.key not in known:
                self._raise(a)

    def _raise(self, alert: Alert) -> None:
        self.alerts.raise_alert(alert)
        live = self.live.sessions.get(alert.session_id)
        if live is not None:
            live.alerts.append(alert)

    def raise_alert(self, alert: Alert) -> None:
        """The hook for other detectors (compliance, anti-cheat): stored with the session, pushed to screens."""
        with self._write:
            if alert.session_id not in self._live_loaded:
                self._load_live(alert.session_id)
            live = self.live.sessions.get(alert.session_id)
            if live is None or alert.key not in {a.key for a in live.alerts}:
                self._raise(alert)

    def _load_live(self, sid: str) -> None:
        self.live.sessions.pop(sid, None)
        rows = self.log.con.sql(
            f"SELECT * FROM events WHERE session_id = {_sql_str(sid)} ORDER BY ts, event_id"
        ).to_arrow_table()
        for off in range(0, rows.num_rows, 100_000):
            self.live.fold(rows.slice(off, 100_000))
        self._live_loaded.add(sid)
        live = self.live.sessions.get(sid)
        if live is not None:
            live.alerts = self.alerts.of(sid)
            live.add_hits(CS.hits_table(self.log.con, sid))
            self._rules_done.pop(sid, None)
            self._check_rules(sid)

    def live_session(self, sid: str) -> LiveSession | None:
        """The live session, built from the log on first request after a start."""
        if sid not in self._live_loaded:
            with self._write:
                if sid not in self._live_loaded:
                    self._load_live(sid)
        return self.live.sessions.get(sid)

    def live_state(self, sid: str) -> dict | None:
        """A consistent copy of the live state (taken between writes)."""
        live = self.live_session(sid)
        if live is None:
            return None
        with self._write:
            state = live.state()
            names = dict(self.log.con.execute("SELECT product_id, name FROM products").fetchall())
        state["top_products"]["name"] = state["top_products"]["product_id"].map(names)
        if state["explaining"]:
            state["explaining"]["name"] = names.get(state["explaining"]["product_id"])
        cats = self.scanner.lexicon.categories
        for row in state["compliance"]["counts"] + state["compliance"]["latest"]:
            c = cats.get(row["category"])
            row["category_zh"], row["category_en"] = (c.zh, c.en) if c else (row["category"], row["category"])
        return state

    def experiment_definitions(self) -> dict:
        """The project's experiment definitions (./liveops-experiments.yaml), if any."""
        from .experiments import project_definitions

        return project_definitions()

    def workspace(self) -> Workspace:
        """A read view on its own cursor: reads run beside writes (DuckDB's MVCC), not behind them."""
        cur = self.log.con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        be = ibis.duckdb.from_connection(cur)
        return Workspace(be.table("events"), be.table("products"), tz=self.tz, log=_CursorLog(cur))

    def _build_reviews(self) -> None:
        """Build the stored review tables of ended shows on a cursor of its own, off the ingest path."""
        while (sid := self._reviews.get()) is not None:
            self._review_pending.discard(sid)
            cur = self.log.con.cursor()
            try:
                with self._write:  # hits a crash skipped; usually nothing to do. Audit appends take the lock.
                    CS.refresh(cur, self.scanner, self.db, [sid], model=self.model)
                cur.execute("SET TimeZone = 'UTC'")
                events = ibis.duckdb.from_connection(cur).table("events")
                stored = AlertLog(cur, create=False).of(sid)
                RT.save(cur, RT.build(events, sid, rules=self.rules, stored_alerts=stored))
            except Exception as e:  # never take the server down; the next batch of the session retries
                log.warning("review tables of %s not built: %s", sid, e)
            finally:
                cur.close()

    def close(self) -> None:
        self._reviews.put(None)
        self._review_worker.join(timeout=30)
        self.live.close()
        self.log.close()


# The per-session query endpoints: path, Workspace method, summary. Same JSON as the CLI's --format json.
SESSION_QUERIES = [
    ("metrics", "metric_values", "指标 Every catalog metric"),
    ("timeline", "timeline", "分钟序列 Per-minute timeline"),
    ("funnel", "funnel_result", "五维四率 Funnel"),
    ("sources", "sources", "流量来源 Traffic sources"),
    ("products", "products", "商品 Products"),
    ("segments", "segments", "讲解片段 Content segments"),
]

_CACHE = {"Cache-Control": "max-age=3600"}

_LIVE_BODY = """
<main>
  <div id="tiles" class="tiles"></div>
  <div>
    <div class="panel explaining" id="explaining"></div>
    <div class="charts" style="margin-top:12px">
      <div class="panel"><h2 data-zh="在线人数（每分钟）" data-en="Online viewers per minute">在线人数</h2><div id="chart-online" class="chart"></div></div>
      <div class="panel"><h2 data-zh="每分钟成交额" data-en="GMV per minute">每分钟成交额</h2><div id="chart-gmv" class="chart"></div></div>
      <div class="panel"><h2 data-zh="五维漏斗" data-en="Funnel">五维漏斗</h2><div id="chart-funnel" class="chart"></div></div>
      <div class="panel"><h2 data-zh="流量来源" data-en="Traffic sources">流量来源</h2><table id="sources"></table></div>
    </div>
  </div>
  <div class="side">
    <div class="panel"><h2 data-zh="告警" data-en="Alerts">告警</h2><ul id="alerts" class="feed alerts"></ul></div>
    <div class="panel"><h2 data-zh="合规风控" data-en="Compliance">合规风控</h2><div id="compliance-counts" class="chips"></div><ul id="compliance" class="feed compliance"></ul></div>
    <div class="panel"><h2 data-zh="商品排行（近5分钟）" data-en="Top products (last 5 min)">商品排行</h2><table id="products"></table></div>
    <div class="panel"><h2 data-zh="弹幕" data-en="Danmaku">弹幕</h2><ul id="comments" class="feed"></ul></div>
  </div>
</main>
"""


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class _CursorLog:
    """What a Workspace needs of a log: a connection for stored review tables, and close()."""

    def __init__(self, con):
        self.con = con

    def close(self) -> None:
        self.con.close()


def _bearer(server: Server, headers) -> Token | None:
    """The active token of an ``Authorization: Bearer …`` header (HTTP or WebSocket handshake)."""
    scheme, _, secret = headers.get("authorization", "").partition(" ")
    return server.tokens.check(secret.strip()) if scheme.lower() == "bearer" else None


def _token(request: Request) -> Token:
    tok = _bearer(request.app.state.server, request.headers)
    if tok is None:
        raise HTTPException(
            401,
            "需要有效令牌 a valid bearer token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tok


def _require(permission: str):
    def dep(tok: Annotated[Token, Depends(_token)]) -> Token:
        if not tok.can(permission):
            raise HTTPException(
                403, f"令牌角色 {tok.role} 无权 {permission} — role {tok.role} may not {permission}"
            )
        return tok

    return dep


Reader = Annotated[Token, Depends(_require("read"))]
Analyst = Annotated[Token, Depends(_require("analyse"))]
Admin = Annotated[Token, Depends(_require("admin"))]
Ingester = Annotated[Token, Depends(_require("ingest"))]


def _has_session(cur, session_id: str) -> bool:
    return bool(
        cur.execute(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE session_id = ? LIMIT 1)", [session_id]
        ).fetchall()[0][0]
    )


def _json(v: Any, status: int = 200) -> Response:
    return Response(O.to_json(v), status_code=status, media_type="application/json")


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(db: str | Path, config: ServerConfig | None = None) -> FastAPI:
    server = Server(str(db), config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        server.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,  # served below from the installed swagger-ui-bundle: no CDN
        redoc_url=None,
        title="LiveOps 直播间运营系统",
        version="0.1.0",
        description="事件接入与查询 API — ingest room events, query sessions, metrics and analyses.",
    )
    app.state.server = server
    if server.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return _error(
            422,
            "请求参数无效 invalid request parameters",
            detail=orjson.loads(orjson.dumps(exc.errors(), default=str)),
        )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        return {"status": "ok"}

    # -- ingest -----------------------------------------------------------------------------
    async def _read_body(request: Request) -> bytes:
        cap = server.config.max_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise BadBatch(413, f"请求体超过 {cap:,} 字节 body exceeds {cap:,} bytes")
        buf = bytearray()
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > cap:
                raise BadBatch(413, f"请求体超过 {cap:,} 字节 body exceeds {cap:,} bytes")
        return bytes(buf)

    def _label(tok: Token) -> str:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%f")
        return f"http/{tok.name}/{stamp}.jsonl"

    async def _ingest_batch(body: bytes, gzipped: bool, tok: Token) -> tuple[int, dict]:
        cfg = server.config
        try:
            ndjson, was_array = parse_batch(body, cfg.max_events, cfg.max_bytes, gzipped)
        except BadBatch as e:
            return e.status, {"error": str(e)}
        n = ndjson.count(b"\n") + 1 if ndjson.strip() else 0
        if n == 0:
            return 400, {"error": "没有事件 the request holds no events"}
        wait = server.limiter.take(tok.id, n)
        if wait:
            return 429, {"error": f"超过限速 rate limit exceeded: retry in {wait:.1f}s", "retry_after": wait}
        res = await run_in_threadpool(server.ingest, ndjson, _label(tok))
        reply = batch_reply(res, was_array)
        return (422 if res.rejected and not res.stored and not res.duplicate else 200), reply

    @app.post(
        "/v1/events", tags=["ingest"], summary="导入事件 Ingest a batch (JSON array or NDJSON, gzip allowed)"
    )
    async def post_events(request: Request, tok: Ingester) -> Response:
        try:
            body = await _read_body(request)
        except BadBatch as e:
            return _error(e.status, str(e))
        gz = "gzip" in request.headers.get("content-encoding", "") or "gzip" in request.headers.get(
            "content-type", ""
        )
        status, reply = await _ingest_batch(body, gz, tok)
        headers = {"Retry-After": str(int(reply["retry_after"]) + 1)} if status == 429 else None
        return JSONResponse(reply, status_code=status, headers=headers)

    @app.websocket("/v1/ingest")
    async def ws_ingest(ws: WebSocket) -> None:
        """A stream of batches for platform bridges: each message is a JSON array or NDJSON; each gets a reply."""
        await ws.accept()
        tok = _bearer(server, ws.headers)
        if tok is None or not tok.can("ingest"):
            await ws.send_json(
                {
                    "status": 401 if tok is None else 403,
                    "error": "需要 ingest 令牌 an ingest token is required",
                }
            )
            await ws.close(code=1008)
            return
        try:
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    return
                data = msg.get("bytes") or (msg.get("text") or "").encode()
                if len(data) > server.config.max_bytes:
                    await ws.send_json(
                        {
                            "status": 413,
                            "error": f"消息超过 {server.config.max_bytes:,} 字节 message too large",
                        }
                    )
                    continue
                status, reply = await _ingest_batch(data, False, tok)
                await ws.send_text(orjson.dumps({"status": status, **reply}).decode())
        except WebSocketDisconnect:
            return

    # -- queries: the CLI's JSON shapes -------------------------------------------------------
    def _query(fn):
        ws = server.workspace()
        try:
            return _json(fn(ws))
        except LookupError as e:
            return _error(404, str(e).strip("'\""))
        except KeyError as e:
            return _error(404, f"未找到 not found: {e}")
        except ValueError as e:  # a bad parameter or definitions file: the caller's to fix
            return _error(400, str(e))
        finally:
            ws.close()

    @app.get("/v1/me", tags=["query"], summary="当前令牌 The token's name, role and what it may do")
    def get_me(tok: Annotated[Token, Depends(_token)]) -> Response:
        return _json({"name": tok.name, "role": tok.role, "can": sorted(ROLES[tok.role])})

    @app.get("/v1/sessions", tags=["query"], summary="场次 Sessions")
    def get_sessions(tok: Reader) -> Response:
        return _query(lambda ws: ws.sessions())

    def _session_query(method: str):
        def endpoint(session_id: str, tok: Reader) -> Response:
            return _query(lambda ws: getattr(ws, method)(session_id))

        return endpoint

    for path, method, summary in SESSION_QUERIES:
        app.add_api_route(
            f"/v1/sessions/{{session_id}}/{path}",
            _session_query(method),
            methods=["GET"],
            tags=["query"],
            summary=summary,
            name=f"get_{path}",
        )

    @app.get(
        "/v1/sessions/{session_id}/report.html",
        tags=["query"],
        summary="复盘报告 The post-show review as one offline HTML file",
        response_class=HTMLResponse,
    )
    def get_report(session_id: str, tok: Reader) -> Response:
        from .report import build_review, render_html

        ws = server.workspace()
        try:
            return HTMLResponse(render_html(build_review(ws, ws.resolve_session(session_id))))
        except LookupError as e:
            return _error(404, str(e).strip("'\""))
        finally:
            ws.close()

    @app.get(
        "/v1/sessions/{session_id}/events",
        tags=["query"],
        summary="事件导出 A session's stored events as Parquet or NDJSON (analyst and admin only)",
    )
    def get_events(session_id: str, tok: Analyst, format: str = "parquet") -> Response:  # noqa: A002
        if format not in ("parquet", "ndjson"):
            return _error(400, f"format 应为 parquet 或 ndjson, got {format!r}")
        cur = server.log.con.cursor()
        try:
            if not _has_session(cur, session_id):
                return _error(404, f"未找到场次 session not found: {session_id}")
            fd, tmp = tempfile.mkstemp(suffix="." + format)
            os.close(fd)
            opts = "FORMAT parquet, COMPRESSION zstd" if format == "parquet" else "FORMAT json"
            cur.execute(
                f"COPY (SELECT * FROM events WHERE session_id = {_sql_str(session_id)} ORDER BY ts, event_id) "
                f"TO {_sql_str(tmp)} ({opts})"
            )
        finally:
            cur.close()
        media = "application/vnd.apache.parquet" if format == "parquet" else "application/x-ndjson"
        return FileResponse(
            tmp,
            media_type=media,
            filename=f"{session_id}.{format}",
            background=BackgroundTask(os.unlink, tmp),
        )

    @app.get(
        "/v1/experiments", tags=["experiments"], summary="实验列表 Experiments (as `liveops experiment list`)"
    )
    def get_experiments(tok: Reader) -> Response:
        return _query(lambda ws: ws.experiment_list(server.experiment_definitions()))

    @app.get(
        "/v1/experiments/{experiment_id}",
        tags=["experiments"],
        summary="实验分析 One experiment analysed (as `liveops experiment analyze --format json`)",
    )
    def get_experiment(experiment_id: str, tok: Reader, metrics: str | None = None) -> Response:
        keys = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        return _query(
            lambda ws: ws.experiment(experiment_id, keys, server.experiment_definitions()).to_dict()
        )

    @app.get(
        "/v1/sessions/{session_id}/drivers",
        tags=["experiments"],
        summary="成交驱动因素 What drove conversion and GMV (as `liveops drivers --format json`)",
    )
    def get_drivers(session_id: str, tok: Reader) -> Response:
        from dataclasses import asdict

        return _query(lambda ws: asdict(ws.drivers(session_id)))

    @app.get("/v1/sessions/{session_id}/alerts", tags=["query"], summary="告警 Alerts raised during the show")
    def get_alerts(session_id: str, tok: Reader) -> Response:
        return _query(lambda ws: ws.alerts(session_id))

    @app.get(
        "/v1/sessions/{session_id}/compliance",
        tags=["compliance"],
        summary="合规命中 Compliance hits of a session (as `liveops compliance hits --format json`)",
    )
    def get_compliance(
        session_id: str, tok: Reader, severity: str | None = None, category: str | None = None
    ) -> Response:
        cur = server.log.con.cursor()
        try:
            if not _has_session(cur, session_id):
                return _error(404, f"未找到场次 session not found: {session_id}")
            return _json(CS.hits(cur, session_id, severity, category))
        finally:
            cur.close()

    @app.post(
        "/v1/compliance/hits/{hit_id}/verdict",
        tags=["compliance"],
        summary="人工复核 A reviewer's verdict on a hit (as `liveops compliance verdict`; reviewer = the token's name)",
    )
    def post_verdict(hit_id: str, body: VerdictRequest, tok: Analyst) -> Response:
        with server._write:
            try:
                row = CS.record_verdict(server.log.con, hit_id, body.verdict, tok.name, body.note, server.db)
            except CS.VerdictError as e:
                return _error(404 if isinstance(e, CS.UnknownHit) else 400, str(e))
            if (live := server.live.sessions.get(row["session_id"])) is not None:
                live.set_verdict(row["hit_id"], body.verdict)
        return _json(row)

    @app.post(
        "/v1/check",
        tags=["compliance"],
        summary="合规检查 Check texts (scripts, lines, danmaku) against the lexicon; as `liveops check --format json`",
    )
    def post_check(body: CheckRequest, tok: Reader) -> Response:
        if len(body.texts) > server.config.max_events:
            return _error(
                413,
                f"一次最多 {server.config.max_events} 条 at most {server.config.max_events} texts per request",
            )
        scanner = ModelScanner(server.scanner, server.model) if body.model else server.scanner
        return _json(result_rows(scanner.scan(body.texts)))

    # -- tokens (admin) -----------------------------------------------------------------------
    def _token_row(t: Token) -> dict:
        return {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "created_at": t.created_at,
            "revoked_at": t.revoked_at,
        }

    @app.get("/v1/tokens", tags=["admin"], summary="令牌列表 List tokens (never their secrets)")
    def list_tokens(tok: Admin) -> list[dict]:
        return [_token_row(t) for t in server.tokens.list()]

    @app.post(
        "/v1/tokens", tags=["admin"], summary="创建令牌 Create a token; the secret is in this reply only"
    )
    def create_token(body: TokenRequest, tok: Admin) -> Response:
        try:
            new, secret = server.tokens.create(body.role, body.name)
        except TokenError as e:
            return _error(400, str(e))
        return JSONResponse({**_token_row(new), "token": secret}, status_code=201)

    @app.delete("/v1/tokens/{id_or_name}", tags=["admin"], summary="吊销令牌 Revoke a token")
    def revoke_token(id_or_name: str, tok: Admin) -> Response:
        try:
            return JSONResponse(_token_row(server.tokens.revoke(id_or_name)))
        except TokenError as e:
            return _error(404, str(e))

    # -- pages: public shells; every number they show comes through the API with the viewer's token --
    static = resources.files("liveops") / "static"
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(plotly_js, media_type="text/javascript", headers=_CACHE)
        if name in ("app.js", "live.css"):
            return FileResponse(static / name, headers=_CACHE)
        raise HTTPException(404, "not found")

    def _page(
        title: str, zh: str, en: str, subtitle: str, body: str, script: str, extra: str = ""
    ) -> HTMLResponse:
        tpl = (static / "page.html").read_text(encoding="utf-8")
        for k, v in {
            "title": html.escape(title),
            "heading_zh": zh,
            "heading_en": en,
            "subtitle": html.escape(subtitle),
            "header_extra": extra,
            "body": body,
            "script": script,
        }.items():
            tpl = tpl.replace("{{" + k + "}}", v)
        return HTMLResponse(tpl)

    swagger = Path(swagger_ui_bundle.swagger_ui_path)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="LiveOps API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )

    @app.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_file(name: str) -> Response:
        if name not in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
            raise HTTPException(404, "not found")
        return FileResponse(swagger / name, headers=_CACHE)

    @app.get("/", include_in_schema=False)
    def sessions_page() -> HTMLResponse:
        body = '<main style="display:block"><div class="panel"><table id="sessions"></table></div></main>'
        extra = '<a class="meta" href="/experiments" data-zh="实验" data-en="Experiments">实验</a>'
        return _page("场次 Sessions", "场次", "Sessions", "", body, "sessionsPage();", extra)

    @app.get("/live/{session_id}", include_in_schema=False)
    def live_page(session_id: str) -> HTMLResponse:
        review = f'<a class="meta" href="/review/{html.escape(session_id)}" data-zh="复盘" data-en="Review">复盘</a>'
        extra = '<span id="updated" class="meta"></span><span id="status" class="status">…</span>' + review
        script = f"liveScreen({orjson.dumps(session_id).decode()});"
        return _page(
            f"大屏 {session_id}", "直播大屏", "Live big screen", session_id, _LIVE_BODY, script, extra
        )

    @app.get("/experiments", include_in_schema=False)
    def experiments_page() -> HTMLResponse:
        body = (
            '<main style="display:block"><div class="panel"><table id="experiments"></table></div>'
            '<div class="panel"><h2 id="exp-title"></h2><div id="exp-meta" class="meta"></div>'
            '<div style="overflow-x:auto"><table id="exp-result"></table></div><div id="exp-notes" class="meta"></div></div></main>'
        )
        return _page("实验 Experiments", "实验", "Experiments", "", body, "experimentsPage();")

    @app.get("/review/{session_id}", include_in_schema=False)
    def review_page(session_id: str) -> HTMLResponse:
        body = '<iframe id="review" title="复盘 review" style="border:0;width:100%;height:calc(100vh - 52px);background:#fff"></iframe>'
        script = f"reviewPage({orjson.dumps(session_id).decode()});"
        return _page(f"复盘 {session_id}", "复盘报告", "Post-show review", session_id, body, script)

    # -- live -------------------------------------------------------------------------------
    def _live_or_404(session_id: str) -> dict:
        state = server.live_state(session_id)
        if state is None:
            raise HTTPException(404, f"未找到场次 session not found: {session_id}")
        return state

    @app.get("/v1/sessions/{session_id}/live", tags=["live"], summary="实时状态 Live room state")
    async def get_live(session_id: str, tok: Reader) -> Response:
        return _json(await run_in_threadpool(_live_or_404, session_id))

    @app.websocket("/v1/live/{session_id}")
    async def ws_live(ws: WebSocket, session_id: str) -> None:
        """Pushes of the live state, at most every 500 ms and only when it changed.

        The first message must be {"token": "…"}: browsers cannot set headers on a WebSocket, and a
        token in the URL would end up in logs and history.
        """
        await ws.accept()
        try:
            first = orjson.loads(await ws.receive_text())
            tok = server.tokens.check(str(first.get("token", ""))) if isinstance(first, dict) else None
        except (orjson.JSONDecodeError, WebSocketDisconnect):
            tok = None
        if tok is None or not tok.can("read"):
            await ws.send_json({"status": 401, "error": "需要有效令牌 a valid token is required"})
            await ws.close(code=1008)
            return
        sent = -1
        try:
            while True:
                live = server.live.sessions.get(session_id)
                if live is None or live.events != sent:
                    state = await run_in_threadpool(server.live_state, session_id)
                    if state is None:
                        await ws.send_json(
                            {"status": 404, "error": f"未找到场次 session not found: {session_id}"}
                        )
                        await ws.close(code=1008)
                        return
                    sent = state["events"]
                    await ws.send_text(O.to_json({"status": 200, **state}))
                try:  # wait 500 ms, noticing at once if the screen went away
                    msg = await asyncio.wait_for(ws.receive(), timeout=0.5)
                    if msg["type"] == "websocket.disconnect":
                        return
                except TimeoutError:
                    pass
        except (WebSocketDisconnect, RuntimeError):
            return

    return app
