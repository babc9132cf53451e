"""Timing constants of protocol v1 (docs/protocol.md sections 3.1 and 3.4), in seconds."""

from __future__ import annotations

#: Both ends send HEARTBEAT this often.
HEARTBEAT_INTERVAL_S = 0.5
#: Without a valid frame for this long, the host declares the link lost and the device
#: considers the host gone (it stops sending live frames, keeps counting and buffering).
LINK_TIMEOUT_S = 2.0
