"""The generated hubspot-api-client APIs, built once, behind one guarded call path.

Every property access such as ``client.crm.objects.batch_api`` builds a new ApiClient and
urllib3 pool, so each API object is built once per connector and kept. Every call goes
through :meth:`HubSpotApi.call`: the governor waits or refuses first (one governor slot per
call, so any number of threads may share the connector's budget), the call is counted,
the ``*_with_http_info`` variant hands back the headers the governor learns from, and vendor
exceptions become connector errors at this boundary.

:meth:`HubSpotApi.call_json` is the same path for the hot calls (batch upsert/update/read,
search, association batches): the SDK still builds, authenticates and sends the request, but
is told ``_preload_content=False`` and hands back the undecoded response, whose JSON is
parsed here into plain dicts (the wire's camelCase keys). Deserialising a 100-record batch
into generated models costs more CPU than the whole rest of the connector's work on it (each
model instance deep-copies the client's default Configuration), and the connector only
reads a few keys of each row.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

import hubspot
import structlog
import urllib3
from hubspot.crm.associations.v4 import exceptions as assoc_exc
from hubspot.crm.contacts import exceptions as contacts_exc
from hubspot.crm.lists import exceptions as lists_exc
from hubspot.crm.objects import exceptions as objects_exc
from hubspot.crm.objects.tasks import exceptions as tasks_exc
from hubspot.crm.properties import exceptions as properties_exc
from urllib3.util.retry import Retry

from connectors.calls import CallCounter
from connectors.errors import Retriable, display_url

from ._errors import AuthFailed, from_exception, translate
from ._governor import RateGovernor

__all__ = ["API_EXCEPTIONS", "HubSpotApi"]


log = structlog.get_logger(__name__)

#: each sub-package has its own ApiException; these are the packages the connector uses
API_EXCEPTIONS: tuple[type[Exception], ...] = (
    objects_exc.ApiException,
    properties_exc.ApiException,
    assoc_exc.ApiException,
    contacts_exc.ApiException,
    lists_exc.ApiException,
    tasks_exc.ApiException,
)


class HubSpotApi:
    """Cached generated APIs of one portal and the single place calls are made."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        governor: RateGovernor,
        timeout_s: float = 30.0,
        token_source: Callable[[], str] | None = None,
        pool_size: int | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.governor = governor
        self.timeout_s = timeout_s
        self.calls: Counter[str] = CallCounter()
        self._count_lock = threading.Lock()
        self._token = token
        self._token_source = token_source
        # no urllib3 retries: the engine decides when to try again (status retries off,
        # Retry-After not slept on)
        retry = Retry(total=0, raise_on_status=False, respect_retry_after_header=False)
        # a connection kept per call in flight (the SDK keeps 5 per CPU: more calls at once
        # would open and discard a connection, a TLS handshake, each time)
        self.client = hubspot.Client.create(
            access_token=token,
            host=self.url,
            base_url=self.url,
            retry=retry,
            connection_pool_maxsize=pool_size,
        )

    # ---- the API objects, each built once

    @cached_property
    def basic(self) -> Any:
        return self.client.crm.objects.basic_api

    @cached_property
    def batch(self) -> Any:
        return self.client.crm.objects.batch_api

    @cached_property
    def search(self) -> Any:
        return self.client.crm.objects.search_api

    @cached_property
    def properties(self) -> Any:
        return self.client.crm.properties.core_api

    @cached_property
    def associations(self) -> Any:
        return self.client.crm.associations.v4.batch_api

    @cached_property
    def contacts(self) -> Any:
        return self.client.crm.contacts.basic_api

    @cached_property
    def lists(self) -> Any:
        return self.client.crm.lists.memberships_api

    @cached_property
    def lists_by_name(self) -> Any:
        return self.client.crm.lists.lists_api

    @cached_property
    def tasks(self) -> Any:
        return self.client.crm.objects.tasks.basic_api

    def _built(self) -> list[Any]:
        names = (
            *("basic", "batch", "search", "properties", "associations", "contacts"),
            *("lists", "lists_by_name", "tasks"),
        )
        return [self.__dict__[n] for n in names if n in self.__dict__]

    # ---- calls

    def call(
        self, template: str, fn: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any
    ) -> tuple[Any, int]:
        """Run ``fn`` (a ``*_with_http_info`` method) and return (data, status).

        Raises the connector error for 401/403/429/5xx/transport problems, and
        :class:`HubSpotApiError` for statuses the caller decides about (400, 404, 409...).
        """
        return self._rotating(partial(self._call_once, template, fn, args, kwargs, search, False))

    def call_json(
        self, template: str, fn: Callable[..., Any], *args: Any, search: bool = False, **kwargs: Any
    ) -> tuple[dict[str, Any], int]:
        """Like :meth:`call`, but the 2xx body comes back as parsed JSON (plain dicts with the
        wire's camelCase keys; ``{}`` for an empty body), not as generated models."""
        once = partial(self._call_once, template, fn, args, kwargs, search, True)
        data, status = self._rotating(once)
        return data, status

    def _rotating(self, once: Callable[[], tuple[Any, int]]) -> tuple[Any, int]:
        """``once()``; after a 401, once more if the token source has a rotated token."""
        try:
            return once()
        except AuthFailed:
            if not self._refresh_token():
                raise
            log.info("hubspot.token_rotated")
            return once()

    def _call_once(
        self,
        template: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        search: bool,
        raw: bool,
    ) -> tuple[Any, int]:
        with self.governor.slot(search=search):
            with self._count_lock:  # several threads may share the connector
                self.calls[template] += 1
            started = time.monotonic()
            try:
                if raw:
                    data, status, headers = _undecoded(fn, args, kwargs, self.timeout_s)
                else:
                    data, status, headers = fn(*args, _request_timeout=self.timeout_s, **kwargs)
            except API_EXCEPTIONS as exc:
                err, headers = from_exception(exc, template)
                if err.status != 429:
                    self.governor.observe(headers, err.status, time.monotonic() - started)
                else:
                    self.governor.rejected(headers)
                translated = translate(err, headers, self.governor)
                if translated is not None:
                    log.warning(
                        "hubspot.call_failed",
                        call=template,
                        status=err.status,
                        category=err.body.category,
                    )
                    raise translated from exc
                raise err from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise Retriable(
                    f"HubSpot at {display_url(self.url)} could not be reached for {template} ({type(exc).__name__})",
                    code="CONNECTION",
                ) from exc
            self.governor.observe(dict(headers or {}), int(status), time.monotonic() - started)
        return data, int(status)

    def _refresh_token(self) -> bool:
        """Re-resolve the token once after a 401; True when it changed (a rotated secret)."""
        if self._token_source is None:
            return False
        fresh = self._token_source()
        if not fresh or fresh == self._token:
            return False
        self._token = fresh
        self.client.access_token = fresh
        for api in self._built():
            api.api_client.configuration.access_token = fresh
        return True

    def close(self) -> None:
        """Close the connection pools of every API object built so far."""
        for api in self._built():
            api.api_client.rest_client.pool_manager.clear()
            api.api_client.close()


def _undecoded(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], timeout_s: float
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Run ``fn`` with ``_preload_content=False``; (parsed JSON body, status, headers).

    The generated client still raises its ``ApiException`` for a non-2xx status; a 2xx
    response is the urllib3 one, read to the end here and its connection given back.
    """
    response = fn(*args, _request_timeout=timeout_s, _preload_content=False, **kwargs)
    try:
        body = response.data
    finally:
        response.release_conn()
    try:
        data = json.loads(body) if body else {}
    except ValueError as exc:
        raise Retriable(
            f"HubSpot sent a response that is not JSON ({response.status})", code="BAD_RESPONSE"
        ) from exc
    return (data if isinstance(data, dict) else {}), int(response.status), dict(response.headers)
