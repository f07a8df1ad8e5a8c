//! MQTT 3.1.1 for small and large machines: a zero-copy codec, topic rules
//! and a sans-IO client state machine.
//!
//! `#![no_std]` and allocation-free. Nothing here touches a socket or a
//! clock: time comes in as milliseconds, bytes come in as slices, bytes to
//! send are read out of the client's outbound buffer (the shape of
//! quinn-proto's `Connection`).
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod awaiting_pubrel;
pub mod client;
pub mod codec;
mod id_pool;
mod inflight;
mod outbound;
mod pending;
pub mod reconnect;
pub mod rotation;
pub mod topic;

pub use client::{
    Client, ClientError, Config, DisconnectReason, Event, LinkAction, Sizes, State, Storage, ALL_IDS_BYTES,
    AWAITING_PUBREL_RECORD, PENDING_RECORD,
};
pub use codec::{
    ConnAck, Connect, ConnectReturnCode, DecodeError, EncodeError, Packet, Publish, QoS, SubAck, SubAckCode, Subscribe,
    SubscribeFilters, Unsubscribe, UnsubscribeFilters, Will,
};
pub use reconnect::ReconnectSchedule;
