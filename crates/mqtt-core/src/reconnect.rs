//! The reconnect schedule: up to 8 delays, the last repeats, the index goes
//! back to the start after a successful connect; 1 s when none is set.

pub const MAX_DELAYS: usize = 8;
pub const DEFAULT_DELAY_MS: u32 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleError {
    TooManyDelays,
    /// Negative, not a number, or longer than u32 milliseconds.
    InvalidDelay,
}

impl ScheduleError {
    pub fn reason(self) -> &'static str {
        match self {
            ScheduleError::TooManyDelays => "at most 8 reconnect delays",
            ScheduleError::InvalidDelay => "a reconnect delay must be a finite number of seconds from 0 to 4294967",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectSchedule {
    delays_ms: [u32; MAX_DELAYS],
    len: u8,
    index: u8,
}

impl Default for ReconnectSchedule {
    fn default() -> Self {
        Self::new()
    }
}

impl ReconnectSchedule {
    pub const fn new() -> Self {
        ReconnectSchedule { delays_ms: [0; MAX_DELAYS], len: 0, index: 0 }
    }

    /// Delays in milliseconds. An empty list means the 1 s default. The
    /// index starts again from the first delay.
    pub fn set_delays_ms(&mut self, delays: &[u32]) -> Result<(), ScheduleError> {
        if delays.len() > MAX_DELAYS {
            return Err(ScheduleError::TooManyDelays);
        }
        self.delays_ms[..delays.len()].copy_from_slice(delays);
        self.len = delays.len() as u8;
        self.index = 0;
        Ok(())
    }

    /// Delays in seconds, fractions allowed (rounded to the millisecond).
    pub fn set_delays_secs(&mut self, delays: &[f64]) -> Result<(), ScheduleError> {
        if delays.len() > MAX_DELAYS {
            return Err(ScheduleError::TooManyDelays);
        }
        let mut ms = [0u32; MAX_DELAYS];
        for (out, &s) in ms.iter_mut().zip(delays) {
            let v = s * 1000.0;
            if !(v >= 0.0 && v <= u32::MAX as f64) {
                return Err(ScheduleError::InvalidDelay);
            }
            *out = (v + 0.5) as u32;
        }
        self.set_delays_ms(&ms[..delays.len()])
    }

    pub fn delays_ms(&self) -> &[u32] {
        &self.delays_ms[..self.len as usize]
    }

    /// The delay before the next attempt (without moving on).
    pub fn current_delay_ms(&self) -> u32 {
        if self.len == 0 {
            return DEFAULT_DELAY_MS;
        }
        self.delays_ms[self.index as usize]
    }

    /// An attempt was made: the next one uses the next entry, staying on
    /// the last.
    pub fn advance(&mut self) {
        if self.index + 1 < self.len {
            self.index += 1;
        }
    }

    /// The delay before the next attempt; moves on to the next entry.
    pub fn next_delay_ms(&mut self) -> u32 {
        let d = self.current_delay_ms();
        self.advance();
        d
    }

    /// After a successful connect (CONNACK accepted).
    pub fn reset(&mut self) {
        self.index = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn default_is_one_second_forever() {
        let mut s = ReconnectSchedule::new();
        assert_eq!((0..5).map(|_| s.next_delay_ms()).collect::<Vec<_>>(), [1000; 5]);
    }

    #[test]
    fn last_delay_repeats_and_reset_starts_over() {
        let mut s = ReconnectSchedule::new();
        s.set_delays_secs(&[1.0, 2.0, 5.0, 0.25]).unwrap();
        let got: Vec<_> = (0..6).map(|_| s.next_delay_ms()).collect();
        assert_eq!(got, [1000, 2000, 5000, 250, 250, 250]);
        s.reset();
        assert_eq!(s.next_delay_ms(), 1000);
    }

    #[test]
    fn nine_delays_and_bad_numbers_are_refused() {
        let mut s = ReconnectSchedule::new();
        assert_eq!(s.set_delays_ms(&[1; 9]), Err(ScheduleError::TooManyDelays));
        assert_eq!(s.set_delays_secs(&[1.0; 9]), Err(ScheduleError::TooManyDelays));
        assert_eq!(s.set_delays_secs(&[-1.0]), Err(ScheduleError::InvalidDelay));
        assert_eq!(s.set_delays_secs(&[f64::NAN]), Err(ScheduleError::InvalidDelay));
        assert_eq!(s.set_delays_secs(&[f64::INFINITY]), Err(ScheduleError::InvalidDelay));
        assert!(s.set_delays_ms(&[1; 8]).is_ok());
    }
}
