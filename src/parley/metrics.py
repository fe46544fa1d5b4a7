"""The Prometheus instruments of one app, in a registry of its own (never the process-wide
default: tests build many apps in one process, and each must count only its own).

Counters are incremented where the thing happens (the HTTP middleware, `ChatModel`, the webhook
dispatcher); the queue and embedding gauges are read from the database when `/metrics` is
scraped, so every process that serves `/metrics` reports the same shared queue.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# HTTP latency, in seconds; past 10 s only streamed chat answers and slow agent runs
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The label of a request that matched no route (any path: the label set stays bounded).
UNMATCHED = "unknown"
QUEUE_STATUSES = ("pending", "in_progress", "failed")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Honcho 2.5.1's name and labels (src/prometheus.py), so its dashboards keep working
        self.requests = Counter(
            "api_requests",
            "HTTP requests, by route template, method and status.",
            ["method", "endpoint", "status_code"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "api_request_duration_seconds",
            "Time from a request's arrival to the end of its response body (streams included).",
            ["method", "endpoint", "status_code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_items = Gauge(
            "parley_queue_items",
            "Work items in the durable queue that are not done, by task type and status.",
            ["task_type", "status"],
            registry=self.registry,
        )
        self.embedding_backlog = Gauge(
            "parley_embedding_backlog_messages",
            "Stored messages that are not embedded yet (not yet findable by meaning).",
            registry=self.registry,
        )
        self.model_calls = Counter(
            "parley_model_calls",
            "Chat model calls, by role, model and outcome (ok, error, cancelled).",
            ["role", "model", "outcome"],
            registry=self.registry,
        )
        self.model_tokens = Counter(
            "parley_model_tokens",
            "Tokens the chat models reported, by role, model and token type (input, output).",
            ["role", "model", "token_type"],
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "parley_webhook_deliveries",
            "Webhook deliveries that ended, by outcome (delivered, failed, refused, error).",
            ["outcome"],
            registry=self.registry,
        )

    def request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        code = str(status)
        self.requests.labels(method, endpoint, code).inc()
        self.request_seconds.labels(method, endpoint, code).observe(seconds)

    def model_call(
        self, role: str, model: str, outcome: str, input_tokens: int, output_tokens: int
    ) -> None:
        self.model_calls.labels(role, model, outcome).inc()
        if input_tokens:
            self.model_tokens.labels(role, model, "input").inc(input_tokens)
        if output_tokens:
            self.model_tokens.labels(role, model, "output").inc(output_tokens)

    def webhook_delivery(self, outcome: str) -> None:
        self.webhook_deliveries.labels(outcome).inc()

    def render(
        self, *, queue: dict[tuple[str, str], int], task_types: tuple[str, ...], backlog: int
    ) -> bytes:
        """The exposition text, with the gauges set from what the scrape just read. No await
        between setting and rendering: two scrapes at once never mix their readings."""
        self.queue_items.clear()  # a task type that left the queue must not linger
        for task_type in sorted(set(task_types) | {t for t, _ in queue}):
            for status in QUEUE_STATUSES:
                self.queue_items.labels(task_type, status).set(queue.get((task_type, status), 0))
        self.embedding_backlog.set(backlog)
        return generate_latest(self.registry)
