//! Broker failover: which of the configured brokers the next attempt goes
//! to, and whether a round (one pass over the list) is complete. The
//! reconnect schedule's delay comes before each round; within a round the
//! next broker is tried at once (at the attempt floor).

/// The most brokers one connection rotates over.
pub const MAX_BROKERS: usize = 17;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerRotation {
    count: u8,
    /// The broker of the current (or last) attempt.
    current: u8,
    /// Attempts made in the current round; 0 once it is over (or after a
    /// CONNACK): the next attempt then waits for the schedule.
    tried: u8,
    /// The broker of the last CONNACK accepted: a `Connected` event still
    /// queued names it even if that link has failed since.
    answered: u8,
}

impl BrokerRotation {
    /// `count` brokers (at least 1, at most [`MAX_BROKERS`]).
    pub const fn new(count: u8) -> Self {
        let count = if count == 0 {
            1
        } else if count as usize > MAX_BROKERS {
            MAX_BROKERS as u8
        } else {
            count
        };
        BrokerRotation { count, current: 0, tried: 0, answered: 0 }
    }

    pub fn count(&self) -> u8 {
        self.count
    }

    /// The broker of the current (or last) attempt, from 0.
    pub fn current(&self) -> u8 {
        self.current
    }

    /// The broker of the last CONNACK accepted.
    pub fn answered(&self) -> u8 {
        self.answered
    }

    /// Some brokers of this round have not been tried yet: the next attempt
    /// goes out without the schedule's delay.
    pub fn mid_round(&self) -> bool {
        self.tried > 0 && self.tried < self.count
    }

    pub fn on_attempt(&mut self) {
        self.tried = self.tried.saturating_add(1);
    }

    /// The attempt failed or the link was lost: the next broker is next.
    pub fn on_failure(&mut self) {
        self.current = (self.current + 1) % self.count;
        if self.tried >= self.count {
            self.tried = 0;
        }
    }

    /// CONNACK accepted: a later loss starts a new round (after a delay).
    pub fn on_connected(&mut self) {
        self.tried = 0;
        self.answered = self.current;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_broker_is_a_round_of_one() {
        let mut r = BrokerRotation::new(1);
        r.on_attempt();
        assert!(!r.mid_round());
        r.on_failure();
        assert_eq!((r.current(), r.mid_round()), (0, false));
    }

    #[test]
    fn three_brokers_wrap_and_the_round_ends_after_three_attempts() {
        let mut r = BrokerRotation::new(3);
        let mut seen = [0u8; 7];
        let mut mids = [false; 7];
        for i in 0..7 {
            r.on_attempt();
            seen[i] = r.current();
            r.on_failure();
            mids[i] = r.mid_round();
        }
        assert_eq!(seen, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(mids, [true, true, false, true, true, false, true]);
    }

    #[test]
    fn a_lost_link_after_connack_moves_on_and_starts_a_round() {
        let mut r = BrokerRotation::new(2);
        r.on_attempt();
        r.on_connected();
        r.on_failure();
        assert_eq!((r.current(), r.mid_round(), r.answered()), (1, false, 0));
        r.on_attempt();
        r.on_failure();
        assert_eq!((r.current(), r.mid_round()), (0, true));
    }

    #[test]
    fn count_is_clamped() {
        assert_eq!(BrokerRotation::new(0).count(), 1);
        assert_eq!(BrokerRotation::new(200).count(), MAX_BROKERS as u8);
    }
}
