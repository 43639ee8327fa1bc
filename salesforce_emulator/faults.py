"""Per-org fault injection and runtime settings.

Settable at start (``Emulator(faults={...})``), from Python (``org.faults.update(...)``)
or over HTTP (``POST /__emulator__/orgs/<name>/faults`` with the same keys as JSON):

``latency_ms``         sleep this long before answering each data API call
``latency_varies``     true: each call's sleep is drawn at random around ``latency_ms``
                       (exponential, that mean): some calls are much slower than
                       others, as a real org's are; false (default) = exactly it
``failure_rate``       share (0..1) of data API calls that fail transiently
``failure_kinds``      which transient failures to draw from: "503", "drop" (close the
                       connection without answering); default both
``seed``               seed of the failure RNG (deterministic sequence); null = random
``validation_rules``   list of {"sobject", "field", "value", "message"?}: a create or
                       update whose resulting record has field == value (strings compared
                       case-insensitively) fails with FIELD_CUSTOM_VALIDATION_EXCEPTION
``api_limit``          daily API allowance (Sforce-Limit-Info, /limits, 403 past it)
``token_lifetime``     lifetime in seconds of access tokens issued from now on
``fail_after_writes``  N: the Nth write call from now is applied, then the connection
                       is dropped before the response (one-shot); null = off
``fail_mode``          "drop" (default) or "exit" (terminate the emulator process
                       instead, after the write was committed)
``row_lock_ms``        a write call (sObject Collections, a Bulk 2.0 ingest chunk) holds
                       the row locks of its records (the records it updates and the
                       parents their lookups point to) this long before writing; other
                       calls needing one of them wait (see ``row_locks.py``); 0 = no row
                       locks (default)
``lock_timeout_ms``    how long a write waits for a row lock before its record fails with
                       UNABLE_TO_LOCK_ROW; default 10000, as in Salesforce
``lock_failures``      N: the next N records written (insert, update, upsert through
                       Collections or Bulk 2.0) fail with UNABLE_TO_LOCK_ROW; 0 = off
``expire_tokens``      true: every access token issued so far expires now (action)
``reset_api_calls``    true: set the API call counter back to 0 (action)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_API_LIMIT = 15000
DEFAULT_TOKEN_LIFETIME = 7200
# Salesforce waits this long for a record lock before UNABLE_TO_LOCK_ROW.
DEFAULT_LOCK_TIMEOUT_MS = 10_000
FAILURE_KINDS = ("503", "drop")


@dataclass(frozen=True)
class ValidationRule:
    sobject: str
    field: str
    value: Any
    message: str = ""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | ValidationRule) -> ValidationRule:
        if isinstance(spec, ValidationRule):
            return spec
        try:
            sobject, field, value = spec["sobject"], spec["field"], spec["value"]
        except (KeyError, TypeError) as exc:
            raise ValueError("validation rules need sobject, field and value") from exc
        message = spec.get("message") or f"Validation rule failed: {field} = {value}"
        return cls(str(sobject), str(field), value, str(message))

    def matches(self, record: Mapping[str, Any]) -> bool:
        actual = record.get(self.field)
        if actual is None:
            key = next((k for k in record if k.lower() == self.field.lower()), None)
            actual = record.get(key) if key else None
        if isinstance(actual, str) and isinstance(self.value, str):
            return actual.lower() == self.value.lower()
        return bool(actual == self.value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


class Faults:
    """Fault settings of one org; all methods are thread-safe."""

    ACTIONS = ("expire_tokens", "reset_api_calls")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency_ms = 0
        self.latency_varies = False
        self._latency_rng = random.Random()
        self.failure_rate = 0.0
        self.failure_kinds: tuple[str, ...] = FAILURE_KINDS
        self.seed: int | None = None
        self.validation_rules: tuple[ValidationRule, ...] = ()
        self.api_limit = DEFAULT_API_LIMIT
        self.token_lifetime = DEFAULT_TOKEN_LIFETIME
        self.fail_after_writes: int | None = None
        self.fail_mode = "drop"
        self.row_lock_ms = 0
        self.lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS
        self.lock_failures = 0
        self._rng = random.Random()
        self._writes_seen = 0
        self._rules_by_object: dict[str, tuple[ValidationRule, ...]] = {}
        self.actions: dict[str, Callable[[], None]] = {}

    def update(self, **settings: Any) -> None:
        """Change settings (keys as in the module docstring); unknown keys raise."""
        for key, value in settings.items():
            if key in self.ACTIONS:
                if value and key in self.actions:
                    self.actions[key]()
                continue
            setter = getattr(self, f"_set_{key}", None)
            if setter is None:
                raise ValueError(f"unknown fault setting {key!r}")
            with self._lock:
                setter(value)

    def reset(self) -> None:
        """Back to no faults, default allowance and token lifetime."""
        self.update(
            latency_ms=0,
            latency_varies=False,
            failure_rate=0.0,
            failure_kinds=list(FAILURE_KINDS),
            seed=None,
            validation_rules=[],
            api_limit=DEFAULT_API_LIMIT,
            token_lifetime=DEFAULT_TOKEN_LIFETIME,
            fail_after_writes=None,
            fail_mode="drop",
            row_lock_ms=0,
            lock_timeout_ms=DEFAULT_LOCK_TIMEOUT_MS,
            lock_failures=0,
        )

    def _set_latency_ms(self, value: Any) -> None:
        self.latency_ms = max(0, int(value))

    def _set_latency_varies(self, value: Any) -> None:
        self.latency_varies = bool(value)

    def draw_latency(self) -> float:
        """Seconds to sleep before answering the next data call."""
        if not self.latency_ms:
            return 0.0
        if not self.latency_varies:
            return self.latency_ms / 1000.0
        with self._lock:
            return self._latency_rng.expovariate(1000.0 / self.latency_ms)

    def _set_failure_rate(self, value: Any) -> None:
        rate = float(value)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        self.failure_rate = rate

    def _set_failure_kinds(self, value: Iterable[str]) -> None:
        kinds = tuple(str(v) for v in value)
        if not kinds or any(k not in FAILURE_KINDS for k in kinds):
            raise ValueError(
                f"failure_kinds must be a non-empty subset of {FAILURE_KINDS}"
            )
        self.failure_kinds = kinds

    def _set_seed(self, value: Any) -> None:
        self.seed = None if value is None else int(value)
        self._rng = random.Random(self.seed)
        self._latency_rng = random.Random(self.seed)

    def _set_validation_rules(self, value: Iterable[Any]) -> None:
        self.validation_rules = tuple(ValidationRule.from_spec(v) for v in value)
        by_object: dict[str, list[ValidationRule]] = {}
        for rule in self.validation_rules:
            by_object.setdefault(rule.sobject.lower(), []).append(rule)
        self._rules_by_object = {k: tuple(v) for k, v in by_object.items()}

    def _set_api_limit(self, value: Any) -> None:
        self.api_limit = max(0, int(value))

    def _set_token_lifetime(self, value: Any) -> None:
        self.token_lifetime = max(1, int(value))

    def _set_fail_after_writes(self, value: Any) -> None:
        self.fail_after_writes = None if value is None else max(1, int(value))
        self._writes_seen = 0

    def _set_fail_mode(self, value: Any) -> None:
        if value not in ("drop", "exit"):
            raise ValueError("fail_mode must be 'drop' or 'exit'")
        self.fail_mode = str(value)

    def _set_row_lock_ms(self, value: Any) -> None:
        self.row_lock_ms = max(0, int(value))

    def _set_lock_timeout_ms(self, value: Any) -> None:
        self.lock_timeout_ms = max(0, int(value))

    def _set_lock_failures(self, value: Any) -> None:
        self.lock_failures = max(0, int(value))

    # -- queries used by the server ---------------------------------------------------

    def rules_for(self, sobject: str) -> tuple[ValidationRule, ...]:
        return self._rules_by_object.get(sobject.lower(), ())

    def draw_failure(self) -> str | None:
        """'503', 'drop' or None for the next data call."""
        if self.failure_rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.failure_rate:
                return None
            return self._rng.choice(self.failure_kinds)

    def count_write(self) -> bool:
        """Note one applied write call; True when the connection must now fail."""
        with self._lock:
            if self.fail_after_writes is None:
                return False
            self._writes_seen += 1
            if self._writes_seen < self.fail_after_writes:
                return False
            self.fail_after_writes = None
            self._writes_seen = 0
            return True

    def take_lock_failure(self) -> bool:
        """Whether the record about to be written fails with UNABLE_TO_LOCK_ROW."""
        if self.lock_failures <= 0:  # the usual case: no lock taken per record
            return False
        with self._lock:
            if self.lock_failures <= 0:
                return False
            self.lock_failures -= 1
            return True

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "latency_varies": self.latency_varies,
            "failure_rate": self.failure_rate,
            "failure_kinds": list(self.failure_kinds),
            "seed": self.seed,
            "validation_rules": [r.as_dict() for r in self.validation_rules],
            "api_limit": self.api_limit,
            "token_lifetime": self.token_lifetime,
            "fail_after_writes": self.fail_after_writes,
            "fail_mode": self.fail_mode,
            "row_lock_ms": self.row_lock_ms,
            "lock_timeout_ms": self.lock_timeout_ms,
            "lock_failures": self.lock_failures,
        }
