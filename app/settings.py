"""Settings: read once from COUCHQUEUE_* environment variables and CLI flags into one frozen
object, passed down from there. Every field is a CLI flag (--max-body-bytes) with an
environment twin (COUCHQUEUE_MAX_BODY_BYTES); the help text lives with the field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from resolvers.context import Limits, Policies


def setting(default: Any, help: str, repeatable: bool = False) -> Any:
    """A field with its help text; a repeatable one's CLI flag may be given several times (the
    values are joined with commas, as its environment twin takes them)."""
    return field(default=default, metadata={"help": help, "repeatable": repeatable})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = setting("127.0.0.1", "address to bind (keep 127.0.0.1 unless you mean it)")
    port: int = setting(8080, "port to listen on")
    store: str = setting(
        "sqlite:///./couchqueue.db",
        "store URL: sqlite:///path/to/file.db or couchbase://host[:port]/bucket",
    )
    log_level: str = setting("info", "debug, info, warning or error")
    max_body_bytes: int = setting(1024 * 1024, "largest request body accepted")
    max_data_bytes: int = setting(256 * 1024, "largest task data (as JSON) accepted")
    max_interests_per_queue: int = setting(100, "interest fields one queue may have")
    max_queues_per_worker: int = setting(100, "queues one worker may take")
    max_page_size: int = setting(1000, "most items one listing returns")
    max_batch: int = setting(1000, "most events (PUT /tasks) or reports (POST /tasks) in one batch")
    max_follow_ups: int = setting(100, "most follow-up events (publish=[...]) of one completion")
    max_name_length: int = setting(200, "longest queue, worker, publisher or schedule name")
    max_regex_length: int = setting(1024, "longest interest regex")
    max_reason_length: int = setting(10_000, "longest fail reason kept (and reason filter)")
    graphql_max_depth: int = setting(10, "deepest GraphQL operation accepted")
    graphql_max_tokens: int = setting(5000, "most lexical tokens (comments too) of a document")
    graphql_max_cost: int = setting(
        50_000, "most a GraphQL operation may cost: 1 a field, times the items of its lists"
    )
    graphql_max_root_fields: int = setting(30, "most top-level fields of one operation")
    graphql_max_fields: int = setting(200, "most fields and fragment spreads in one document")
    graphql_max_aliases: int = setting(30, "most aliases in one GraphQL document")
    graphql_max_directives: int = setting(50, "most directives in one GraphQL document")
    graphql_max_arguments: int = setting(100, "most arguments in one GraphQL document")
    graphql_max_variables: int = setting(50, "most variable definitions in one document")
    graphql_cache_bytes: int = setting(
        64 * 1024 * 1024, "memory the parsed-document cache may hold (estimated)"
    )
    graphql_cache_document_bytes: int = setting(
        16 * 1024, "longest GraphQL document (characters) kept in the cache"
    )
    default_lease_seconds: float = setting(
        300.0, "leaseSeconds a new queue starts with (configureQueue changes it per queue)"
    )
    worker_timeout_seconds: float = setting(60.0, "a worker silent this long is removed")
    touch_interval_seconds: float = setting(1.0, "at most one lease extension per worker per")
    completed_retention_seconds: float = setting(3600.0, "keep completed tasks (0: not at all)")
    failed_retention_seconds: float = setting(180 * 86400.0, "keep failed tasks this long")
    stats_window_seconds: float = setting(86400.0, "keep per-minute statistics this long")
    lease_reap_interval: float = setting(1.0, "seconds between expired-lease sweeps")
    worker_reap_interval: float = setting(5.0, "seconds between silent-worker sweeps")
    schedule_interval: float = setting(0.25, "seconds between checks for due schedules")
    stats_flush_interval: float = setting(5.0, "seconds between statistics flushes")
    purge_interval: float = setting(30.0, "seconds between retention purges")
    change_poll_interval: float = setting(0.1, "seconds between checks for other nodes' writes")
    queue_cache_seconds: float = setting(
        0.05,
        "trust this node's copy of the queue records this long; a queue change is acknowledged "
        "this long after it is written, when every node sees it (0: read the stamp every time)",
    )
    max_prefetch: int = setting(100, "most unfinished pushed tasks one subscriber may hold")
    max_wait_seconds: float = setting(
        20.0, "longest a long-poll claim (GET /task?waitSeconds=, claimTask waitSeconds) waits"
    )
    max_waiting_claims: int = setting(
        1000, "most long-poll claims waiting on one node at once; beyond it 503 TOO_MANY_WAITERS"
    )
    max_task_waiters: int = setting(
        1000,
        "most waits for task outcomes (GET /task/result, taskUpdates) open on one node at once; "
        "beyond it 503 TOO_MANY_WAITERS",
    )
    ws_ping_interval: float = setting(20.0, "seconds between websocket pings")
    ws_ping_timeout: float = setting(20.0, "close a websocket whose ping is unanswered this long")
    store_check_interval: float = setting(
        600.0,
        "seconds between /readyz's integrity checks of the store (SQLite: PRAGMA quick_check, "
        "which reads the whole file; it also runs at startup; 0: only at startup)",
    )
    allowed_hosts: str = setting(
        "localhost,127.0.0.1,[::1]",
        "host names this node answers for, comma-separated (the bound address is always one; "
        "*.example.com: its subdomains; *: any): another Host gets 400, a page of another "
        "origin 403",
    )
    header_timeout_seconds: float = setting(
        10.0,
        "close a connection whose request headers are not complete this long after it opens "
        "or after its previous response (0: never)",
    )
    idle_timeout_seconds: int = setting(
        5, "close a keep-alive connection idle this long between requests"
    )
    token_cache_seconds: float = setting(
        0.5,
        "trust this node's copy of the token set this long: a token created or revoked on "
        "another node is honoured here within it",
    )
    auth_failure_limit: int = setting(
        20,
        "unknown tokens one address may send per minute; beyond it that address is answered "
        "429 until the minute has passed (0: no limit)",
    )
    insecure_no_auth: bool = setting(
        False,
        "serve on a non-loopback address although the store holds no token (anyone who can "
        "reach the port may do anything)",
    )
    ssl_certfile: str = setting(
        "",
        "PEM certificate (with its chain) to serve HTTPS and wss:// with; needs --ssl-keyfile "
        "(empty: plain HTTP)",
    )
    ssl_keyfile: str = setting(
        "", "PEM private key of --ssl-certfile, not encrypted (empty: plain HTTP)"
    )
    session_seconds: float = setting(
        12 * 3600.0, "how long a dashboard sign-in lasts (its cookie's lifetime)"
    )
    cors_origin: str = setting(
        "",
        "origins (https://app.example.com) whose pages may call the API with a bearer token, "
        "comma-separated; the flag may be repeated (none: no CORS headers at all)",
        repeatable=True,
    )
    max_concurrency: int = setting(
        10000,
        "most open connections and running requests; beyond it new requests get 503 (0: no limit)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then COUCHQUEUE_<FIELD> variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = env.get(env_name(spec.name))
            if raw is not None and raw != "":
                values[spec.name] = _convert(spec.name, raw, type(spec.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def cors_origins(self) -> list[str]:
        """The --cors-origin entries, without blanks or a trailing slash."""
        return [o.strip().rstrip("/") for o in self.cors_origin.split(",") if o.strip()]

    def limits(self) -> Limits:
        return Limits(
            max_data_bytes=self.max_data_bytes,
            max_interests_per_queue=self.max_interests_per_queue,
            max_queues_per_worker=self.max_queues_per_worker,
            max_page_size=self.max_page_size,
            max_batch=self.max_batch,
            max_follow_ups=self.max_follow_ups,
            max_name_length=self.max_name_length,
            max_regex_length=self.max_regex_length,
            max_reason_length=self.max_reason_length,
            default_lease_seconds=self.default_lease_seconds,
            max_prefetch=self.max_prefetch,
            max_wait_seconds=self.max_wait_seconds,
            max_waiting_claims=self.max_waiting_claims,
            max_task_waiters=self.max_task_waiters,
        )

    def policies(self) -> Policies:
        return Policies(
            worker_timeout_seconds=self.worker_timeout_seconds,
            touch_interval_seconds=self.touch_interval_seconds,
            completed_retention_seconds=self.completed_retention_seconds,
            failed_retention_seconds=self.failed_retention_seconds,
            stats_window_seconds=self.stats_window_seconds,
        )


def env_name(field_name: str) -> str:
    return "COUCHQUEUE_" + field_name.upper()


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(name: str, raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.strip().lower() in _TRUE + _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(f"{env_name(name)}={raw!r} is not one of {', '.join(_TRUE + _FALSE)}")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{env_name(name)}={raw!r} is not a valid {kind.__name__}") from None
