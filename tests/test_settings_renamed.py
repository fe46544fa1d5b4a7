"""Renamed settings keep their old names working: as keywords and as environment variables."""

from __future__ import annotations

import pytest

from parley.config import RENAMED, Settings, deprecated_environment

OLD_VARIABLES = [
    "PARLEY_WORK_MAX_ATTEMPTS",
    "PARLEY_WORK_BACKOFF_S",
    "PARLEY_WORK_RETENTION_DAYS",
    "PARLEY_WEBHOOK_ALLOW_PRIVATE",
]
NEW_VARIABLES = [
    "PARLEY_WORKER_MAX_ATTEMPTS",
    "PARLEY_WORKER_BACKOFF_S",
    "PARLEY_WORKER_RETENTION_DAYS",
    "PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OLD_VARIABLES + NEW_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_renamed_fields() -> None:
    assert RENAMED == {
        "work_max_attempts": "worker_max_attempts",
        "work_backoff_s": "worker_backoff_s",
        "work_retention_days": "worker_retention_days",
        "webhook_allow_private": "webhook_allow_private_hosts",
    }
    assert not [name for name in Settings.model_fields if name.startswith("work_")]
    assert not RENAMED.keys() & Settings.model_fields.keys()
    private = [name for name in Settings.model_fields if "allow_private" in name]
    assert private == ["webhook_allow_private_hosts", "data_allow_private_hosts"]
    defaults = Settings()
    assert (defaults.worker_max_attempts, defaults.worker_backoff_s) == (5, 5.0)
    assert defaults.worker_retention_days == 7.0


def test_old_and_new_keywords() -> None:
    old = Settings(work_max_attempts=2, work_backoff_s=0.5, work_retention_days=1)
    assert (old.worker_max_attempts, old.worker_backoff_s, old.worker_retention_days) == (2, 0.5, 1)
    new = Settings(worker_max_attempts=3, worker_backoff_s=0.25, worker_retention_days=2)
    assert (new.worker_max_attempts, new.worker_backoff_s, new.worker_retention_days) == (
        3,
        0.25,
        2,
    )
    assert Settings(work_backoff_s=1.0, worker_backoff_s=2.0).worker_backoff_s == 2.0
    assert Settings(worker_max_attempts=4).model_copy(update={"port": 9}).worker_max_attempts == 4


def test_old_and_new_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_WORK_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("PARLEY_WORK_BACKOFF_S", "0.5")
    assert (Settings().worker_max_attempts, Settings().worker_backoff_s) == (7, 0.5)
    assert Settings(work_max_attempts=3).worker_max_attempts == 3  # a keyword wins, as always
    monkeypatch.setenv("PARLEY_WORKER_MAX_ATTEMPTS", "9")
    assert Settings().worker_max_attempts == 9  # the new name wins over the old one
    monkeypatch.setenv("parley_worker_retention_days", "3")  # not case-sensitive
    assert Settings().worker_retention_days == 3.0


def test_deprecated_environment_names_the_new_variable() -> None:
    environ = {"PARLEY_WORK_BACKOFF_S": "1", "PARLEY_WORKER_POLL_S": "1", "HOME": "/"}
    assert deprecated_environment(environ) == ["PARLEY_WORK_BACKOFF_S: use PARLEY_WORKER_BACKOFF_S"]
    assert deprecated_environment({"PARLEY_WORKER_BACKOFF_S": "1"}) == []


def test_a_bad_old_value_is_refused() -> None:
    with pytest.raises(ValueError, match="worker_max_attempts"):
        Settings(work_max_attempts=0)


def test_webhook_allow_private_is_read_as_webhook_allow_private_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().webhook_allow_private_hosts is False
    assert Settings(webhook_allow_private=True).webhook_allow_private_hosts is True
    assert Settings(webhook_allow_private_hosts=True).callback_allow_private_hosts is True
    monkeypatch.setenv("PARLEY_WEBHOOK_ALLOW_PRIVATE", "true")
    assert Settings().webhook_allow_private_hosts is True
    assert deprecated_environment({"PARLEY_WEBHOOK_ALLOW_PRIVATE": "true"}) == [
        "PARLEY_WEBHOOK_ALLOW_PRIVATE: use PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS"
    ]
    monkeypatch.setenv("PARLEY_WEBHOOK_ALLOW_PRIVATE_HOSTS", "false")
    assert Settings().webhook_allow_private_hosts is False  # the new name wins
