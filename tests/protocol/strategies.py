"""Hypothesis strategies: any valid message of protocol v1."""

from __future__ import annotations

from hypothesis import strategies as st

from stampside.firmware_protocol import messages as m

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)
serials = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)

MESSAGES: st.SearchStrategy[m.Message] = st.one_of(
    st.builds(m.Hello, u8, u8),
    st.builds(m.TimeSync, u64),
    st.just(m.Arm()),
    st.just(m.Disarm()),
    st.builds(m.Ack, u16, u32),
    st.builds(m.Resume, u16, u32),
    st.builds(m.Ping, u32),
    st.builds(m.DeviceInfo, serials, u8, u8, u8, u8, u8, u8, u8, u16, u32, u16, u16, u8, u16, u32),
    st.builds(m.Stamp, u16, u32, u32, u8, st.integers(0, 0xFFF), st.integers(0, 0xF)),
    st.builds(m.Battery, u8, u16),
    st.builds(m.HeadChanged, u32, u16, u16),
    st.builds(m.Fault, u8, u32),
    st.builds(m.TimeSyncReply, u64, u32),
    st.builds(m.ResumeReply, u16, u32, u32),
    st.builds(m.Pong, u32, u32),
    st.builds(m.ArmState, u8, u8),
    st.builds(m.Nack, u8, u8, u8),
    st.builds(m.Heartbeat, u16, u32, u16, u8),
)
