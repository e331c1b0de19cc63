"""Communication preferences v4: statuses (resubscribe allowed), unsubscribe-all, batches."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, HttpError, json_response

from ._commprefs import STATES, CommPrefs
from ._host import HubSpotHost
from ._util import bad_request, batch_body, iso_ms, require_inputs, standard_error

BASE = "/communication-preferences/v4"


def _channel(value: Any) -> None:
    if value != "EMAIL":
        raise bad_request(f"channel is required and must be EMAIL, got {value!r}")


class CommPrefsV4:
    """``/communication-preferences/v4/...`` on top of the shared :class:`CommPrefs` state."""

    def __init__(self, emu: HubSpotHost, prefs: CommPrefs) -> None:
        self.emu = emu
        self.prefs = prefs

    def register(self) -> None:
        r = self.emu.route
        r("GET", BASE + "/definitions", self.definitions)
        r("POST", BASE + "/statuses/batch/read", self.batch_read)
        r("POST", BASE + "/statuses/batch/write", self.batch_write)
        r("POST", BASE + "/statuses/batch/unsubscribe-all", self.batch_unsubscribe_all)
        r("POST", BASE + "/statuses/batch/unsubscribe-all/read", self.batch_unsubscribe_all_read)
        r("GET", BASE + "/statuses/{email}", self.get_statuses)
        r("POST", BASE + "/statuses/{email}", self.set_status)
        r("GET", BASE + "/statuses/{email}/unsubscribe-all", self.get_unsubscribe_all)
        r("POST", BASE + "/statuses/{email}/unsubscribe-all", self.unsubscribe_all)

    # ---- shapes

    def _status(self, email: str, sid: int, reason: str | None = None) -> dict[str, Any]:
        status = self.prefs.statuses.get(email, {}).get(sid)
        row: dict[str, Any] = {
            "subscriberIdString": email,
            "subscriptionId": sid,
            "subscriptionName": self.prefs.definitions[sid]["name"],
            "channel": "EMAIL",
            "status": status.state if status else "NOT_SPECIFIED",
            "source": status.source if status else "DEFAULT",
            "timestamp": iso_ms(status.timestamp if status else self.emu.clock()),
            "legalBasis": status.legal_basis if status else None,
            "legalBasisExplanation": status.explanation if status else None,
            "businessUnitId": 0,
        }
        if reason is not None:
            row["setStatusSuccessReason"] = reason
        return row

    def _wide(self, email: str) -> list[dict[str, Any]]:
        if email not in self.prefs.opted_out:
            return []
        return [
            {
                "subscriberIdString": email,
                "wideStatusType": "PORTAL_WIDE",
                "status": "UNSUBSCRIBED",
                "channel": "EMAIL",
                "timestamp": iso_ms(self.prefs.opted_out[email]),
                "businessUnitId": 0,
            }
        ]

    def _envelope(
        self, started: float, results: list[Any], errors: list[Any] | None = None
    ) -> dict[str, Any]:
        return batch_body(results, errors or [], started, self.emu.clock())

    def _write(self, email_raw: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one status write; returns the PublicStatus with its success reason."""
        _channel(body.get("channel"))
        email = self.prefs.email(email_raw)
        sid = self.prefs.subscription(body.get("subscriptionId"))
        state = body.get("statusState")
        if state not in STATES:
            raise bad_request(f"statusState must be one of {sorted(STATES)}, got {state!r}")
        basis, explanation = self.prefs.legal_basis(body)
        before = self.prefs.state(email, sid)
        was_out = email in self.prefs.opted_out
        if before == state and not (state == "SUBSCRIBED" and was_out):
            reason = "NO_STATUS_CHANGE"
        elif state == "SUBSCRIBED" and (before == "UNSUBSCRIBED" or was_out):
            reason = "RESUBSCRIBE_OCCURRED"
        else:
            reason = "REQUESTED_CHANGE_OCCURRED"
        if reason != "NO_STATUS_CHANGE":
            self.prefs.set_state(email, sid, state, basis, explanation)
        return self._status(email, sid, reason)

    # ---- single-email routes

    def definitions(self, _req: EmuRequest) -> Response:
        started = self.emu.clock()
        return json_response(self._envelope(started, list(self.prefs.definitions.values())))

    def get_statuses(self, req: EmuRequest) -> Response:
        _channel(req.q("channel"))
        started = self.emu.clock()
        email = self.prefs.email(req.path_params["email"])
        rows = [self._status(email, sid) for sid in self.prefs.definitions]
        return json_response(self._envelope(started, rows))

    def set_status(self, req: EmuRequest) -> Response:
        started = self.emu.clock()
        row = self._write(req.path_params["email"], req.json() or {})
        return json_response(self._envelope(started, [row]))

    def get_unsubscribe_all(self, req: EmuRequest) -> Response:
        _channel(req.q("channel"))
        started = self.emu.clock()
        email = self.prefs.email(req.path_params["email"])
        return json_response(self._envelope(started, self._wide(email)))

    def unsubscribe_all(self, req: EmuRequest) -> Response:
        _channel(req.q("channel"))
        started = self.emu.clock()
        email = self.prefs.email(req.path_params["email"])
        changed = self.prefs.unsubscribe_all(email)
        verbose = (req.q("verbose") or "false").lower() == "true"
        sids = list(self.prefs.definitions) if verbose else changed
        rows = [self._status(email, sid, "UNSUBSCRIBE_FROM_ALL_OCCURRED") for sid in sids]
        return json_response(self._envelope(started, rows))

    # ---- batch routes

    def _emails(self, req: EmuRequest) -> tuple[list[str], list[dict[str, Any]]]:
        """Valid emails of a ``BatchInputString`` body, plus errors for the invalid ones."""
        _channel(req.q("channel"))
        emails, errors = [], []
        for raw in require_inputs(req.json()):
            try:
                emails.append(self.prefs.email(raw))
            except HttpError as err:
                errors.append(standard_error(err, [str(raw)]))
        return emails, errors

    def batch_read(self, req: EmuRequest) -> Response:
        started = self.emu.clock()
        emails, errors = self._emails(req)
        rows = [
            {
                "subscriberIdString": e,
                "statuses": [self._status(e, sid) for sid in self.prefs.definitions],
            }
            for e in emails
        ]
        return json_response(self._envelope(started, rows, errors), 207 if errors else 200)

    def batch_unsubscribe_all_read(self, req: EmuRequest) -> Response:
        started = self.emu.clock()
        emails, errors = self._emails(req)
        rows = [{"subscriberIdString": e, "wideStatuses": self._wide(e)} for e in emails]
        return json_response(self._envelope(started, rows, errors), 207 if errors else 200)

    def batch_unsubscribe_all(self, req: EmuRequest) -> Response:
        started = self.emu.clock()
        emails, errors = self._emails(req)
        rows = []
        for email in emails:
            changed = self.prefs.unsubscribe_all(email)
            statuses = [self._status(email, s, "UNSUBSCRIBE_FROM_ALL_OCCURRED") for s in changed]
            rows.append({"subscriberIdString": email, "statuses": statuses})
        return json_response(self._envelope(started, rows, errors))

    def batch_write(self, req: EmuRequest) -> Response:
        started = self.emu.clock()
        rows, errors = [], []
        inputs = require_inputs(req.json())
        # a ``partial`` fault fails some inputs (the others are applied): a 207
        failing, rule = self.emu.faults.partial_fault(req.template, len(inputs))
        for i, raw in enumerate(inputs):
            item = raw if isinstance(raw, dict) else {}
            try:
                if i in failing:
                    raise HttpError(
                        rule.status if rule else 500,
                        (rule.code if rule else None) or "INTERNAL_ERROR",
                        (rule.message if rule else None) or "Injected per-input failure",
                    )
                rows.append(self._write(item.get("subscriberIdString"), item))
            except HttpError as err:
                errors.append(standard_error(err, [str(item.get("subscriberIdString"))]))
        return json_response(self._envelope(started, rows, errors), 207 if errors else 200)
