//! Codec errors, each with a sentence a user can read.

/// Bytes that are not a well-formed MQTT 3.1.1 packet. An incomplete
/// packet is not an error: `decode` answers `Ok(None)` for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A fifth remaining-length byte (2.2.3).
    RemainingLengthTooLong,
    /// The packet is larger than the configured maximum.
    TooLarge { size: usize, max: usize },
    /// Packet type 0 or 15.
    InvalidPacketType(u8),
    /// Reserved flag bits differ from Table 2.2 [MQTT-2.2.2-2].
    InvalidFlags,
    /// QoS 3 in a PUBLISH, a will or a SUBSCRIBE [MQTT-3.3.1-4].
    InvalidQoS,
    /// DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    DupOnQoS0,
    /// Ill-formed UTF-8 [MQTT-1.5.3-1].
    InvalidUtf8,
    /// U+0000 in a string [MQTT-1.5.3-2].
    NullCharacter,
    /// The remaining length disagrees with the content.
    LengthMismatch,
    /// Not "MQTT" level 4.
    InvalidProtocol,
    /// CONNECT flags that contradict each other [MQTT-3.1.2-3/11/13/15/22].
    InvalidConnectFlags,
    /// CONNACK with reserved bits set, an unknown return code, or
    /// session-present on a refusal.
    InvalidConnAck,
    /// A packet identifier of 0 [MQTT-2.3.1-1].
    ZeroPacketId,
    /// A topic name with wildcards, empty, or otherwise invalid.
    InvalidTopic,
    /// An invalid topic filter.
    InvalidFilter,
    /// SUBSCRIBE / UNSUBSCRIBE / SUBACK with nothing in it.
    Empty,
    /// A SUBACK return code other than 0, 1, 2, 0x80.
    InvalidSubAckCode,
}

impl DecodeError {
    pub fn reason(self) -> &'static str {
        use DecodeError::*;
        match self {
            RemainingLengthTooLong => "malformed packet: remaining length longer than 4 bytes",
            TooLarge { .. } => "packet larger than the configured maximum packet size",
            InvalidPacketType(_) => "malformed packet: reserved packet type 0 or 15",
            InvalidFlags => "malformed packet: reserved fixed-header flags are wrong",
            InvalidQoS => "malformed packet: QoS 3",
            DupOnQoS0 => "malformed packet: DUP set on a QoS 0 PUBLISH",
            InvalidUtf8 => "malformed packet: ill-formed UTF-8 string",
            NullCharacter => "malformed packet: U+0000 in a string",
            LengthMismatch => "malformed packet: remaining length disagrees with the content",
            InvalidProtocol => "malformed packet: protocol is not MQTT 3.1.1",
            InvalidConnectFlags => "malformed packet: invalid CONNECT flags",
            InvalidConnAck => "malformed packet: invalid CONNACK",
            ZeroPacketId => "malformed packet: packet identifier 0",
            InvalidTopic => "malformed packet: invalid topic name",
            InvalidFilter => "malformed packet: invalid topic filter",
            Empty => "malformed packet: no topic filters or return codes",
            InvalidSubAckCode => "malformed packet: invalid SUBACK return code",
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())
    }
}

/// A packet that cannot be encoded, found before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is smaller than `needed`.
    BufferTooSmall {
        needed: usize,
    },
    /// More than 268,435,455 bytes of remaining length, or over a
    /// configured maximum packet size.
    TooLarge,
    /// A string or binary field longer than 65,535 bytes.
    FieldTooLong,
    /// U+0000 in a string [MQTT-1.5.3-2].
    NullCharacter,
    InvalidTopic,
    InvalidFilter,
    /// A packet identifier of 0, or none where QoS > 0 needs one [MQTT-2.3.1-1].
    InvalidPacketId,
    /// DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    DupOnQoS0,
    /// A password without a user name [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// An empty client identifier needs clean session [MQTT-3.1.3-7].
    EmptyClientIdNeedsCleanSession,
    /// SUBSCRIBE / UNSUBSCRIBE / SUBACK with nothing in it [MQTT-3.8.3-3] [MQTT-3.10.3-2].
    Empty,
    /// A SUBACK return code other than 0, 1, 2, 0x80.
    InvalidSubAckCode,
    /// Session present with a refusal [MQTT-3.2.2-4].
    SessionPresentWithRefusal,
}

impl EncodeError {
    pub fn reason(self) -> &'static str {
        use EncodeError::*;
        match self {
            BufferTooSmall { .. } => "output buffer too small",
            TooLarge => "packet too large",
            FieldTooLong => "string or binary field longer than 65535 bytes",
            NullCharacter => "string contains U+0000",
            InvalidTopic => "invalid topic name (empty, wildcard, or too long)",
            InvalidFilter => "invalid topic filter",
            InvalidPacketId => "packet identifier missing or 0",
            DupOnQoS0 => "DUP may not be set on a QoS 0 PUBLISH",
            PasswordWithoutUsername => "a password needs a user name",
            EmptyClientIdNeedsCleanSession => "an empty client id needs clean session",
            Empty => "no topic filters or return codes",
            InvalidSubAckCode => "invalid SUBACK return code",
            SessionPresentWithRefusal => "session present may not be set on a refused CONNACK",
        }
    }
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())
    }
}
