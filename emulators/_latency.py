"""Per-route response latency: what a real vendor call costs in time, so throughput is
measurable against the emulators.

A plan maps route patterns to a delay, fixed or drawn from a distribution::

    {"default": 250,
     "/crm/v3/objects/*/batch/*": {"dist": "lognormal", "median_ms": 250, "p95_ms": 600},
     "GET /crm/v3/properties/*": {"dist": "uniform", "min_ms": 50, "max_ms": 150}}

A key is a glob (``fnmatch``) on the request path, optionally prefixed by the HTTP method;
the first key that matches wins (in the plan's order), ``default`` serves every other vendor
route. A bare number is a fixed delay in milliseconds. Distributions: ``fixed`` (``ms``),
``uniform`` (``min_ms``, ``max_ms``) and ``lognormal`` (``median_ms``, ``p95_ms``: the
median and the 95th percentile, the way latency is usually quoted). Draws come from a seeded
generator, so a run is repeatable. Admin routes (``/_emulator/...``) never wait.

A call is served when it arrives (rate limits counted, data changed, as the vendor's gateway
counts a call when it comes in) and its answer is held back for the delay. The emulators
wait with ``asyncio.sleep`` on their event loop, so a slow call never holds up the others:
concurrent calls overlap as they would against the vendor.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["Delay", "LatencyError", "LatencyPlan", "parse_latency"]

#: z-score of the 95th percentile of a standard normal distribution
_Z95 = 1.6448536269514722
_DISTS = {"fixed": ("ms",), "uniform": ("min_ms", "max_ms"), "lognormal": ("median_ms", "p95_ms")}


class LatencyError(ValueError):
    """A latency plan that cannot be used (the message says which key and why)."""


@dataclass(frozen=True)
class Delay:
    """One route's delay: ``dist`` and its parameters in milliseconds."""

    dist: str
    params: tuple[float, ...]

    @classmethod
    def parse(cls, key: str, raw: Any) -> Delay:
        if isinstance(raw, bool):
            raise LatencyError(f"latency {key!r}: expected milliseconds or a distribution")
        if isinstance(raw, int | float):
            return cls._checked(key, "fixed", (float(raw),))
        if not isinstance(raw, dict):
            raise LatencyError(f"latency {key!r}: expected milliseconds or a distribution")
        dist = str(raw.get("dist", "fixed"))
        names = _DISTS.get(dist)
        if names is None:
            raise LatencyError(f"latency {key!r}: unknown dist {dist!r} (use {sorted(_DISTS)})")
        unknown = set(raw) - {"dist", *names}
        missing = [n for n in names if n not in raw]
        if unknown or missing:
            raise LatencyError(
                f"latency {key!r}: {dist} takes {', '.join(names)}"
                + (f"; unknown {sorted(unknown)}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        try:
            params = tuple(float(raw[n]) for n in names)
        except (TypeError, ValueError) as exc:
            raise LatencyError(f"latency {key!r}: {names} must be numbers") from exc
        return cls._checked(key, dist, params)

    @classmethod
    def _checked(cls, key: str, dist: str, params: tuple[float, ...]) -> Delay:
        if any(p < 0 or math.isnan(p) for p in params):
            raise LatencyError(f"latency {key!r}: milliseconds must be >= 0")
        if dist == "uniform" and params[0] > params[1]:
            raise LatencyError(f"latency {key!r}: min_ms is above max_ms")
        if dist == "lognormal" and (params[0] <= 0 or params[1] < params[0]):
            raise LatencyError(f"latency {key!r}: needs 0 < median_ms <= p95_ms")
        return cls(dist, params)

    def draw_ms(self, rng: random.Random) -> float:
        if self.dist == "fixed":
            return self.params[0]
        if self.dist == "uniform":
            return rng.uniform(*self.params)
        median, p95 = self.params
        sigma = (math.log(p95) - math.log(median)) / _Z95
        return rng.lognormvariate(math.log(median), sigma)

    def to_json(self) -> Any:
        if self.dist == "fixed":
            return self.params[0]
        return {"dist": self.dist, **dict(zip(_DISTS[self.dist], self.params, strict=True))}


class LatencyPlan:
    """Route patterns to delays; empty (no delay anywhere) by default."""

    def __init__(self, routes: dict[str, Delay] | None = None, seed: int = 0) -> None:
        self.routes = dict(routes or {})
        self.rng = random.Random(seed)  # repeatable latency, not crypto

    @classmethod
    def parse(cls, raw: Any, seed: int = 0) -> LatencyPlan:
        """A plan from milliseconds (every route) or a ``{pattern: delay}`` mapping."""
        if raw is None:
            return cls(seed=seed)
        if not isinstance(raw, dict):
            return cls({"default": Delay.parse("default", raw)}, seed)
        return cls({str(k): Delay.parse(str(k), v) for k, v in raw.items()}, seed)

    def delay_s(self, method: str, path: str) -> float:
        """Seconds the call ``METHOD path`` waits before it is served."""
        delay = self.routes.get("default")
        for key, candidate in self.routes.items():
            if key == "default":
                continue
            verb, _, pattern = key.partition(" ") if " " in key else ("", "", key)
            if verb and verb.upper() != method.upper():
                continue
            if fnmatchcase(path, pattern):
                delay = candidate
                break
        return 0.0 if delay is None else delay.draw_ms(self.rng) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {k: d.to_json() for k, d in self.routes.items()}


def parse_latency(text: str) -> Any:
    """A latency setting as typed on a command line or in an environment variable:
    milliseconds (``250``) or a JSON plan; raises :class:`LatencyError` otherwise."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LatencyError(
            f"latency {text!r}: expected milliseconds (250) or a JSON plan "
            '({"default": 250, "/crm/v3/objects/*/batch/*": 400})'
        ) from exc
