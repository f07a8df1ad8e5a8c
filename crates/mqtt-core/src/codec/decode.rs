//! Zero-copy decoding: packets borrow their strings and payloads from the
//! input. Never panics, never reads past the input.

use super::wire::{get_remaining_length, Reader};
use super::*;
use crate::topic;

/// The fixed header of a packet whose header bytes are all present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// Fixed header length (2 to 5).
    pub header_len: usize,
    /// Header plus remaining length: the whole packet.
    pub total_len: usize,
}

/// Reads the fixed header. `Ok(None)` means more bytes are needed. A packet
/// whose total size would exceed `max_size` is refused here, before its
/// body is buffered. Type and flags are checked as soon as the first byte
/// is in.
pub fn frame(buf: &[u8], max_size: usize) -> Result<Option<Frame>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let type_bits = first >> 4;
    let packet_type = PacketType::from_u8(type_bits).ok_or(DecodeError::InvalidPacketType(type_bits))?;
    let flags = first & 0x0f;
    match packet_type.required_flags() {
        Some(required) if flags != required => return Err(DecodeError::InvalidFlags),
        None if (flags >> 1) & 0b11 == 3 => return Err(DecodeError::InvalidQoS),
        _ => {}
    }
    let Some((remaining, len_size)) = get_remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    let header_len = 1 + len_size;
    let total_len = header_len + remaining;
    if total_len > max_size {
        return Err(DecodeError::TooLarge { size: total_len, max: max_size });
    }
    Ok(Some(Frame { packet_type, flags, header_len, total_len }))
}

/// Decodes the first packet in `buf`: `Ok(None)` when it is incomplete,
/// else the packet and the number of bytes it took.
pub fn decode(buf: &[u8], max_size: usize) -> Result<Option<(Packet<'_>, usize)>, DecodeError> {
    let Some(f) = frame(buf, max_size)? else {
        return Ok(None);
    };
    let Some(body) = buf.get(f.header_len..f.total_len) else {
        return Ok(None);
    };
    let packet = decode_body(f.packet_type, f.flags, body)?;
    Ok(Some((packet, f.total_len)))
}

/// The head of a PUBLISH too large to buffer whole: its fixed header, topic
/// and packet id, checked like any PUBLISH, from the prefix of it in `buf`.
/// `Ok(None)` until they have arrived; the payload in the result is only the
/// part that has.
pub fn publish_head(buf: &[u8]) -> Result<Option<Publish<'_>>, DecodeError> {
    let Some(f) = frame(buf, usize::MAX)? else { return Ok(None) };
    let arrived = &buf[f.header_len..buf.len().min(f.total_len)];
    match publish(f.flags, &mut Reader::new(arrived)) {
        Ok(p) => Ok(Some(p)),
        // The reader ran out of what has arrived, not out of the packet.
        Err(DecodeError::LengthMismatch) if arrived.len() < f.total_len - f.header_len => Ok(None),
        Err(e) => Err(e),
    }
}

fn decode_body(kind: PacketType, flags: u8, body: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut r = Reader::new(body);
    let packet = match kind {
        PacketType::Connect => Packet::Connect(connect(&mut r)?),
        PacketType::ConnAck => Packet::ConnAck(connack(&mut r)?),
        PacketType::Publish => Packet::Publish(publish(flags, &mut r)?),
        PacketType::PubAck => Packet::PubAck(packet_id(&mut r)?),
        PacketType::PubRec => Packet::PubRec(packet_id(&mut r)?),
        PacketType::PubRel => Packet::PubRel(packet_id(&mut r)?),
        PacketType::PubComp => Packet::PubComp(packet_id(&mut r)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut r)?),
        PacketType::SubAck => Packet::SubAck(suback(&mut r)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut r)?),
        PacketType::UnsubAck => Packet::UnsubAck(packet_id(&mut r)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect,
    };
    r.finish()?;
    Ok(packet)
}

fn packet_id(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::ZeroPacketId),
        id => Ok(id),
    }
}

fn connect<'a>(r: &mut Reader<'a>) -> Result<Connect<'a>, DecodeError> {
    if r.string()? != "MQTT" || r.u8()? != 4 {
        return Err(DecodeError::InvalidProtocol);
    }
    let flags = r.u8()?;
    let has_user = flags & 0x80 != 0;
    let has_password = flags & 0x40 != 0;
    let will_retain = flags & 0x20 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let has_will = flags & 0x04 != 0;
    let clean_session = flags & 0x02 != 0;
    if flags & 0x01 != 0 || (!has_will && (will_qos != 0 || will_retain)) || (has_password && !has_user) {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidQoS)?;
    let keep_alive = r.u16()?;
    let client_id = r.string()?;
    let will = if has_will {
        let topic = r.string()?;
        topic::validate_name(topic).map_err(|_| DecodeError::InvalidTopic)?;
        let message = r.binary()?;
        Some(Will { topic, message, qos: will_qos, retain: will_retain })
    } else {
        None
    };
    let username = if has_user { Some(r.string()?) } else { None };
    let password = if has_password { Some(r.binary()?) } else { None };
    Ok(Connect { clean_session, keep_alive, client_id, will, username, password })
}

fn connack(r: &mut Reader<'_>) -> Result<ConnAck, DecodeError> {
    let ack_flags = r.u8()?;
    let code = ConnectReturnCode::from_u8(r.u8()?).ok_or(DecodeError::InvalidConnAck)?;
    let session_present = ack_flags & 1 != 0;
    if ack_flags & 0xfe != 0 || (session_present && code != ConnectReturnCode::Accepted) {
        return Err(DecodeError::InvalidConnAck);
    }
    Ok(ConnAck { session_present, code })
}

fn publish<'a>(flags: u8, r: &mut Reader<'a>) -> Result<Publish<'a>, DecodeError> {
    let dup = flags & 0b1000 != 0;
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
    let retain = flags & 1 != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupOnQoS0);
    }
    let topic = r.string()?;
    topic::validate_name(topic).map_err(|_| DecodeError::InvalidTopic)?;
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        _ => Some(packet_id(r)?),
    };
    Ok(Publish { dup, qos, retain, topic, packet_id, payload: r.rest() })
}

/// Checks SUBSCRIBE / UNSUBSCRIBE filters (each followed by a QoS byte when
/// `with_qos`); returns the checked bytes for zero-copy iteration.
fn filters<'a>(r: &mut Reader<'a>, with_qos: bool) -> Result<&'a [u8], DecodeError> {
    let wire = r.rest();
    let mut items = Reader::new(wire);
    if items.is_empty() {
        return Err(DecodeError::Empty);
    }
    while !items.is_empty() {
        let filter = items.string()?;
        topic::validate_filter(filter).map_err(|_| DecodeError::InvalidFilter)?;
        // Upper six bits reserved [MQTT-3.8.3-4]; QoS 3 is malformed.
        if with_qos && items.u8()? > 2 {
            return Err(DecodeError::InvalidQoS);
        }
    }
    Ok(wire)
}

fn subscribe<'a>(r: &mut Reader<'a>) -> Result<Subscribe<'a>, DecodeError> {
    let packet_id = packet_id(r)?;
    Ok(Subscribe { packet_id, filters: SubscribeFilters::Wire(filters(r, true)?) })
}

fn unsubscribe<'a>(r: &mut Reader<'a>) -> Result<Unsubscribe<'a>, DecodeError> {
    let packet_id = packet_id(r)?;
    Ok(Unsubscribe { packet_id, filters: UnsubscribeFilters::Wire(filters(r, false)?) })
}

fn suback<'a>(r: &mut Reader<'a>) -> Result<SubAck<'a>, DecodeError> {
    let packet_id = packet_id(r)?;
    let return_codes = r.rest();
    if return_codes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if return_codes.iter().any(|&c| SubAckCode::from_u8(c).is_none()) {
        return Err(DecodeError::InvalidSubAckCode);
    }
    Ok(SubAck { packet_id, return_codes })
}
