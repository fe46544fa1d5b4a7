"""What the lifespan builds once and every request reaches through dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from parley.config import Settings
from parley.memory.webhook_delivery import WebhookDispatcher
from parley.store.engine import Database


@dataclass(frozen=True)
class AppState:
    settings: Settings
    database: Database
    webhooks: WebhookDispatcher
