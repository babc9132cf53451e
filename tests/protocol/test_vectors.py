"""The shipped test vectors decode to their documented fields, and the code re-encodes them."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from stampside.firmware_protocol import BadFrame, Connection, Frame, Role
from stampside.firmware_protocol.messages import BY_NAME


def _vectors() -> dict[str, Any]:
    text = resources.files("firmware_protocol").joinpath("vectors.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


GOOD = _vectors()["frames"]
BAD = _vectors()["bad_frames"]


def test_every_message_type_has_a_vector() -> None:
    assert {v["type"] for v in GOOD} == set(BY_NAME)


def test_every_layout_of_every_version_has_a_vector() -> None:
    """A message whose layout grew in a later version has a vector in that version too."""
    wanted = {(name, since) for name, cls in BY_NAME.items() for since, _ in cls._LATER}
    assert wanted <= {(v["type"], v["version"]) for v in GOOD}


def test_vector_senders_are_the_roles_that_send_them() -> None:
    for vector in GOOD:
        assert Role(vector["sender"]) in BY_NAME[vector["type"]].SENDERS, vector["name"]
        assert ("host" in vector["name"]) <= (vector["sender"] == "host"), vector["name"]
        assert ("from device" in vector["name"]) <= (vector["sender"] == "device"), vector["name"]


@pytest.mark.parametrize("vector", GOOD, ids=[v["name"] for v in GOOD])
def test_vector_decodes_to_its_fields(vector: dict[str, Any]) -> None:
    receiver = Connection(Role.DEVICE if vector["sender"] == "host" else Role.HOST)
    (event,) = receiver.receive_data(bytes.fromhex(vector["hex"]))
    assert isinstance(event, Frame)
    assert event.message.TYPE.name == vector["type"]
    assert event.message.to_dict(vector["version"]) == vector["fields"]
    assert (event.version, event.flags, event.lseq) == (vector["version"], vector["flags"], vector["lseq"])


@pytest.mark.parametrize("vector", GOOD, ids=[v["name"] for v in GOOD])
def test_vector_encodes_from_its_fields(vector: dict[str, Any]) -> None:
    sender = Connection(Role.HOST if vector["sender"] == "host" else Role.DEVICE)
    sender._tx_lseq = vector["lseq"]  # the vectors pin the link sequence number
    sender.version = vector["version"]
    message = BY_NAME[vector["type"]](**vector["fields"])
    assert sender.send(message, vector["flags"]).hex(" ") == vector["hex"]


@pytest.mark.parametrize("vector", BAD, ids=[v["name"] for v in BAD])
def test_bad_vector_is_rejected_with_its_reason(vector: dict[str, Any]) -> None:
    receiver = Connection(Role.HOST)
    events = receiver.receive_data(bytes.fromhex(vector["hex"]))
    assert [type(e) for e in events] == [BadFrame]
    assert events[0].reason == vector["reason"]  # type: ignore[union-attr]
