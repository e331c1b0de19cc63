"""The one SOAP call b2sync makes: ``emptyRecycleBin`` on the Partner endpoint.

Salesforce has no REST verb that empties the Recycle Bin; the documented route is the SOAP
API's ``emptyRecycleBin(ID[] ids)`` (SOAP API Developer Guide, "emptyRecycleBin()",
developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_emptyrecyclebin.htm):
at most 200 ids, one ``EmptyRecycleBinResult`` (``id``, ``success``, ``errors``) per id, in
order. Purged rows stay visible to ``queryAll`` for a while (see ``_store``).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from starlette.responses import Response

from emulators._base import EmuRequest

from ._host import SalesforceHost
from ._values import SaveError

__all__ = ["register"]

_MAX_IDS = 200
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns="urn:partner.soap.sforce.com"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
)


def register(emu: SalesforceHost) -> None:
    emu.route("POST", "/services/Soap/u/{version}", lambda req: _call(emu, req))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _fault(code: str, message: str) -> Response:
    body = (
        f"<soapenv:Fault><faultcode>sf:{escape(code)}</faultcode>"
        f"<faultstring>{escape(code)}: {escape(message)}</faultstring></soapenv:Fault>"
    )
    return Response(_ENVELOPE.format(body=body), 500, media_type="text/xml")


def _call(emu: SalesforceHost, req: EmuRequest) -> Response:
    try:
        root = ET.fromstring(req.body)  # noqa: S314 - the emulator parses its own test traffic
    except ET.ParseError:
        return _fault("INVALID_REQUEST", "the request is not a SOAP envelope")
    call = next((el for el in root.iter() if _local(el.tag) == "emptyRecycleBin"), None)
    if call is None:
        return _fault("INVALID_OPERATION", "the emulator implements only emptyRecycleBin")
    ids = [(el.text or "").strip() for el in call if _local(el.tag) == "ids"]
    if len(ids) > _MAX_IDS:
        return _fault("LIMIT_EXCEEDED", f"Too many ids: the maximum is {_MAX_IDS}")
    results = "".join(_one(emu, rid) for rid in ids)
    return Response(
        _ENVELOPE.format(body=f"<emptyRecycleBinResponse>{results}</emptyRecycleBinResponse>"),
        200,
        media_type="text/xml",
    )


def _one(emu: SalesforceHost, rid: str) -> str:
    try:
        emu.store.purge(rid)
    except SaveError as err:
        return (
            f"<result><errors><message>{escape(err.message)}</message>"
            f"<statusCode>{escape(err.code)}</statusCode></errors>"
            f"<id>{escape(rid)}</id><success>false</success></result>"
        )
    return f"<result><id>{escape(rid)}</id><success>true</success></result>"
