"""The XML bodies of the Query protocol: an operation's answer in ElastiCache's namespace, and
AWS's ErrorResponse."""
from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from google.protobuf.message import Message

from coordinator.queryapi import model, xmlplan
from coordinator.queryapi.model import XMLNS, http_status


def success(action: str, operation: Any, response: Message, request_id: str) -> str:
    out = [f'<{action}Response xmlns="{XMLNS}">']
    shape = operation.output_shape
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{action}Result")
        out.append(f"<{wrapper}>")
        xmlplan.writer(shape, response.DESCRIPTOR, top=True)(out, response)
        out.append(f"</{wrapper}>")
    out.append(f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>")
    return "".join(out)


def prepare() -> None:
    """Read the model and compile the writer of every operation's answer now, at start, rather
    than in the first requests (the model alone takes some 50 ms to load)."""
    for action in sorted(model.implemented()):
        shape = model.operation(action).output_shape
        if shape is not None:
            xmlplan.writer(shape, model.SERVICE.methods_by_name[action].output_type, top=True)
    http_status("InternalFailure")      # the table of every code's status, read from the model once


def error(code: str, message: str, request_id: str) -> tuple[int, str]:
    """(HTTP status, body) of a refusal: the status AWS gives the code; Sender below 500."""
    status = http_status(code)
    kind = "Sender" if status < 500 else "Receiver"
    return status, (f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
                    f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
                    "</ErrorResponse>")
