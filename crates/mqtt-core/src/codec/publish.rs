//! Helpers for PUBLISH packets this crate encoded (the outbound queue and
//! the in-flight store): the fixed-header flags, the packet id, and an
//! encoding whose topic the caller has already validated, so a publish
//! checks its topic once.

use super::wire::{remaining_length_size, Writer, MAX_REMAINING_LENGTH};
use super::{PacketType, Publish, QoS};

/// The QoS of an encoded PUBLISH, `None` for any other packet.
pub fn qos_of(packet: &[u8]) -> Option<QoS> {
    let b = *packet.first()?;
    if b >> 4 != PacketType::Publish as u8 {
        return None;
    }
    QoS::from_u8((b >> 1) & 3)
}

/// Is this encoded packet a PUBLISH of QoS 1 or 2 (one with a packet id)?
pub fn is_acked_publish(packet: &[u8]) -> bool {
    matches!(qos_of(packet), Some(QoS::AtLeastOnce | QoS::ExactlyOnce))
}

/// Marks an encoded QoS 1 or 2 PUBLISH as a re-delivery [MQTT-3.3.1-1]
/// (never a QoS 0 one [MQTT-3.3.1-2]).
pub fn set_dup(packet: &mut [u8]) {
    if is_acked_publish(packet) {
        packet[0] |= 0x08;
    }
}

/// The packet id of an encoded QoS 1 or 2 PUBLISH.
pub fn packet_id(packet: &[u8]) -> Option<u16> {
    if !is_acked_publish(packet) {
        return None;
    }
    let header = 1 + packet.get(1..)?.iter().position(|b| b & 0x80 == 0)? + 1;
    let topic_len = u16::from_be_bytes([*packet.get(header)?, *packet.get(header + 1)?]) as usize;
    let at = header + 2 + topic_len;
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

fn remaining_length(p: &Publish<'_>) -> usize {
    let id_len = if p.qos == QoS::AtMostOnce { 0 } else { 2 };
    2 + p.topic.len() + id_len + p.payload.len()
}

/// The encoded size of `p`, whose topic is already known valid; `None`
/// past MQTT's largest packet.
pub fn encoded_len_prevalidated(p: &Publish<'_>) -> Option<usize> {
    let rem = remaining_length(p);
    (rem <= MAX_REMAINING_LENGTH).then(|| 1 + remaining_length_size(rem) + rem)
}

/// Writes `p` into `buf`, exactly `encoded_len_prevalidated(p)` bytes long.
pub fn encode_prevalidated(p: &Publish<'_>, buf: &mut [u8]) {
    let rem = remaining_length(p);
    let mut w = Writer::new(buf);
    w.u8((PacketType::Publish as u8) << 4 | u8::from(p.dup) << 3 | (p.qos as u8) << 1 | u8::from(p.retain));
    w.remaining_length(rem);
    w.binary(p.topic.as_bytes());
    if let Some(id) = p.packet_id {
        w.u16(id);
    }
    w.bytes(p.payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Packet;

    #[test]
    fn the_helpers_agree_with_the_checked_encoder() {
        for (qos, id) in [(QoS::AtMostOnce, None), (QoS::AtLeastOnce, Some(0x1234)), (QoS::ExactlyOnce, Some(7))] {
            for size in [0usize, 100, 200, 20_000] {
                let payload = [7u8; 20_000];
                let p =
                    Publish { dup: false, qos, retain: true, topic: "a/b", packet_id: id, payload: &payload[..size] };
                let mut want = [0u8; 20_100];
                let n = Packet::Publish(p).encode(&mut want).unwrap();
                assert_eq!(encoded_len_prevalidated(&p), Some(n));
                let mut got = [0u8; 20_100];
                encode_prevalidated(&p, &mut got[..n]);
                assert_eq!(&got[..n], &want[..n]);
                assert_eq!(packet_id(&got[..n]), id);
                set_dup(&mut got[..n]);
                assert_eq!(got[0] & 0x08 != 0, qos != QoS::AtMostOnce);
            }
        }
    }
}
