//! Encoding into a caller's buffer. `encoded_len` checks the packet and
//! gives its exact size first, so a queue can admit it whole or not at all;
//! `encode` writes nothing unless the whole packet fits.

use super::wire::{remaining_length_size, Writer, MAX_REMAINING_LENGTH};
use super::*;
use crate::topic::{self, TopicError};

fn string_len(s: &str) -> Result<usize, EncodeError> {
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    binary_len(s.as_bytes())
}

fn binary_len(b: &[u8]) -> Result<usize, EncodeError> {
    if b.len() > u16::MAX as usize {
        return Err(EncodeError::FieldTooLong);
    }
    Ok(2 + b.len())
}

fn topic_error(e: TopicError) -> EncodeError {
    match e {
        TopicError::NullCharacter => EncodeError::NullCharacter,
        TopicError::TooLong => EncodeError::FieldTooLong,
        _ => EncodeError::InvalidTopic,
    }
}

fn filter_error(e: TopicError) -> EncodeError {
    match e {
        TopicError::NullCharacter => EncodeError::NullCharacter,
        TopicError::TooLong => EncodeError::FieldTooLong,
        _ => EncodeError::InvalidFilter,
    }
}

fn nonzero(id: u16) -> Result<(), EncodeError> {
    if id == 0 {
        Err(EncodeError::InvalidPacketId)
    } else {
        Ok(())
    }
}

impl Packet<'_> {
    /// The first byte: type and flags.
    fn first_byte(&self) -> u8 {
        let kind = (self.packet_type() as u8) << 4;
        match self {
            Packet::Publish(p) => kind | ((p.dup as u8) << 3) | ((p.qos as u8) << 1) | p.retain as u8,
            _ => kind | self.packet_type().required_flags().unwrap_or(0),
        }
    }

    /// The remaining length, after checking every field.
    fn remaining_length(&self) -> Result<usize, EncodeError> {
        let len = match self {
            Packet::Connect(c) => {
                if c.password.is_some() && c.username.is_none() {
                    return Err(EncodeError::PasswordWithoutUsername);
                }
                if c.client_id.is_empty() && !c.clean_session {
                    return Err(EncodeError::EmptyClientIdNeedsCleanSession);
                }
                let mut n = 10 + string_len(c.client_id)?;
                if let Some(w) = &c.will {
                    topic::validate_name(w.topic).map_err(topic_error)?;
                    n += string_len(w.topic)? + binary_len(w.message)?;
                }
                if let Some(u) = c.username {
                    n += string_len(u)?;
                }
                if let Some(p) = c.password {
                    n += binary_len(p)?;
                }
                n
            }
            Packet::ConnAck(a) => {
                if a.session_present && a.code != ConnectReturnCode::Accepted {
                    return Err(EncodeError::SessionPresentWithRefusal);
                }
                2
            }
            Packet::Publish(p) => {
                topic::validate_name(p.topic).map_err(topic_error)?;
                match (p.qos, p.packet_id) {
                    (QoS::AtMostOnce, None) if p.dup => return Err(EncodeError::DupOnQoS0),
                    (QoS::AtMostOnce, None) => {}
                    (QoS::AtMostOnce, Some(_)) | (_, None) | (_, Some(0)) => return Err(EncodeError::InvalidPacketId),
                    (_, Some(_)) => {}
                }
                let id_len = if p.packet_id.is_some() { 2 } else { 0 };
                2 + p.topic.len() + id_len + p.payload.len()
            }
            Packet::PubAck(id)
            | Packet::PubRec(id)
            | Packet::PubRel(id)
            | Packet::PubComp(id)
            | Packet::UnsubAck(id) => {
                nonzero(*id)?;
                2
            }
            Packet::Subscribe(s) => {
                nonzero(s.packet_id)?;
                let mut n = 2;
                for (filter, _) in s.filters.iter() {
                    topic::validate_filter(filter).map_err(filter_error)?;
                    n += string_len(filter)? + 1;
                }
                if n == 2 {
                    return Err(EncodeError::Empty);
                }
                n
            }
            Packet::SubAck(s) => {
                nonzero(s.packet_id)?;
                if s.return_codes.is_empty() {
                    return Err(EncodeError::Empty);
                }
                if s.return_codes.iter().any(|&c| SubAckCode::from_u8(c).is_none()) {
                    return Err(EncodeError::InvalidSubAckCode);
                }
                2 + s.return_codes.len()
            }
            Packet::Unsubscribe(u) => {
                nonzero(u.packet_id)?;
                let mut n = 2;
                for filter in u.filters.iter() {
                    topic::validate_filter(filter).map_err(filter_error)?;
                    n += string_len(filter)?;
                }
                if n == 2 {
                    return Err(EncodeError::Empty);
                }
                n
            }
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => 0,
        };
        if len > MAX_REMAINING_LENGTH {
            return Err(EncodeError::TooLarge);
        }
        Ok(len)
    }

    /// The exact number of bytes `encode` will write, or why it cannot.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let rem = self.remaining_length()?;
        Ok(1 + remaining_length_size(rem) + rem)
    }

    /// Writes the packet at the start of `buf`; returns its length. On an
    /// error nothing is written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let rem = self.remaining_length()?;
        let total = 1 + remaining_length_size(rem) + rem;
        if buf.len() < total {
            return Err(EncodeError::BufferTooSmall { needed: total });
        }
        let mut w = Writer::new(&mut buf[..total]);
        w.u8(self.first_byte());
        w.remaining_length(rem);
        self.write_body(&mut w);
        debug_assert_eq!(w.written(), total);
        Ok(total)
    }

    fn write_body(&self, w: &mut Writer<'_>) {
        match self {
            Packet::Connect(c) => {
                w.binary(b"MQTT");
                w.u8(4);
                let mut flags = (c.clean_session as u8) << 1;
                if let Some(will) = &c.will {
                    flags |= 0x04 | ((will.qos as u8) << 3) | ((will.retain as u8) << 5);
                }
                if c.username.is_some() {
                    flags |= 0x80;
                }
                if c.password.is_some() {
                    flags |= 0x40;
                }
                w.u8(flags);
                w.u16(c.keep_alive);
                w.binary(c.client_id.as_bytes());
                if let Some(will) = &c.will {
                    w.binary(will.topic.as_bytes());
                    w.binary(will.message);
                }
                if let Some(u) = c.username {
                    w.binary(u.as_bytes());
                }
                if let Some(p) = c.password {
                    w.binary(p);
                }
            }
            Packet::ConnAck(a) => {
                w.u8(a.session_present as u8);
                w.u8(a.code as u8);
            }
            Packet::Publish(p) => {
                w.binary(p.topic.as_bytes());
                if let Some(id) = p.packet_id {
                    w.u16(id);
                }
                w.bytes(p.payload);
            }
            Packet::PubAck(id)
            | Packet::PubRec(id)
            | Packet::PubRel(id)
            | Packet::PubComp(id)
            | Packet::UnsubAck(id) => w.u16(*id),
            Packet::Subscribe(s) => {
                w.u16(s.packet_id);
                for (filter, qos) in s.filters.iter() {
                    w.binary(filter.as_bytes());
                    w.u8(qos as u8);
                }
            }
            Packet::SubAck(s) => {
                w.u16(s.packet_id);
                w.bytes(s.return_codes);
            }
            Packet::Unsubscribe(u) => {
                w.u16(u.packet_id);
                for filter in u.filters.iter() {
                    w.binary(filter.as_bytes());
                }
            }
            Packet::PingReq | Packet::PingResp | Packet::Disconnect => {}
        }
    }
}
