//! The simulated device: the device application (`device-app`) on a std
//! platform, in the driver's ESP32 profile. It starts with WiFi down, reads
//! commands on stdin (`wifi up`, `wifi down`, `open`, `quit`) and writes one
//! JSON object per line on stdout for everything that happens. See
//! README.md for the interface.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use device_app::{json, settings_from, App, AppEvent, Platform};

/// The host's stand-in for the board.
struct SimPlatform {
    start: Instant,
    gpio: Mutex<Vec<(u32, bool)>>,
    /// Serialises whole lines from the app's threads.
    out: Mutex<std::io::Stdout>,
}

impl SimPlatform {
    fn line(&self, text: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// One event as its JSON line (the simulator's stable interface).
pub fn event_json(event: &AppEvent<'_>) -> String {
    let mut s = String::from("{\"event\":");
    match event {
        AppEvent::Wifi { up } => s.push_str(&format!("\"wifi\",\"up\":{up}")),
        AppEvent::Open { result, reason } => {
            s.push_str(&format!("\"open\",\"result\":{result}"));
            if let Some(r) = reason {
                s.push_str(",\"reason\":");
                json::push_string(&mut s, r);
            }
        }
        AppEvent::Connected { conn } => s.push_str(&format!("\"connected\",\"conn\":{conn}")),
        AppEvent::Disconnected { conn, reason } => {
            s.push_str(&format!("\"disconnected\",\"conn\":{conn},\"reason\":"));
            json::push_string(&mut s, reason);
        }
        AppEvent::Subscribed { topic, qos } => {
            s.push_str("\"subscribed\",\"topic\":");
            json::push_string(&mut s, topic);
            s.push_str(&format!(",\"qos\":{qos}"));
        }
        AppEvent::Telemetry { topic, result } => {
            s.push_str("\"telemetry\",\"topic\":");
            json::push_string(&mut s, topic);
            s.push_str(&format!(",\"result\":{result}"));
        }
        AppEvent::Command { payload } => {
            // The JSON value itself when the payload is JSON, else a string.
            s.push_str("\"command\",\"payload\":");
            if json::is_json(payload.as_bytes()) {
                s.push_str(payload.trim());
            } else {
                json::push_string(&mut s, payload);
            }
        }
        AppEvent::Gpio { pin, level } => s.push_str(&format!("\"gpio\",\"pin\":{pin},\"level\":{}", u8::from(*level))),
        AppEvent::Error { reason } => {
            s.push_str("\"error\",\"reason\":");
            json::push_string(&mut s, reason);
        }
    }
    s.push('}');
    s
}

impl Platform for SimPlatform {
    fn set_gpio(&self, pin: u32, level: bool) {
        let mut g = self.gpio.lock().unwrap_or_else(|e| e.into_inner());
        match g.iter_mut().find(|(p, _)| *p == pin) {
            Some(slot) => slot.1 = level,
            None => g.push((pin, level)),
        }
    }

    fn read_sensor(&self) -> f32 {
        // A "chip temperature" drifting slowly around 40 °C.
        let t = self.start.elapsed().as_secs_f32();
        40.0 + 3.0 * (t / 60.0).sin() + 0.5 * (t / 7.0).sin()
    }

    fn uptime_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn report(&self, event: &AppEvent<'_>) {
        self.line(&event_json(event));
    }
}

fn main() {
    // The host has no WiFi: its settings are not needed here.
    let settings = settings_from(|k| match k {
        "WIFI_SSID" | "WIFI_PASS" => Some("simulated".into()),
        _ => std::env::var(k).ok(),
    });
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("device-sim: {e} (MQTT_HOST, MQTT_PORT and CLIENT_ID are required; TELEMETRY_MS is optional)");
            std::process::exit(2);
        }
    };
    let platform = Arc::new(SimPlatform {
        start: Instant::now(),
        gpio: Mutex::new(Vec::new()),
        out: Mutex::new(std::io::stdout()),
    });
    let app = match App::start(settings, platform.clone()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("device-sim: {e}");
            std::process::exit(1);
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let (app, stop) = (app.clone(), stop.clone());
        let period = Duration::from_millis(app.settings().telemetry_ms);
        std::thread::spawn(move || {
            let mut next = Instant::now() + period;
            while !stop.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= next {
                    app.tick();
                    next += period;
                    if next < now {
                        next = now + period;
                    }
                }
                std::thread::sleep((next - Instant::now().min(next)).min(Duration::from_millis(50)));
            }
        })
    };

    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => {}
            ["wifi", "up"] => app.on_network(true),
            ["wifi", "down"] => app.on_network(false),
            ["open"] => {
                app.open();
            }
            ["quit"] => break,
            _ => {
                let mut s = String::from("{\"event\":\"error\",\"reason\":");
                json::push_string(&mut s, &format!("unknown command: {line}"));
                s.push('}');
                platform.line(&s);
            }
        }
    }
    stop.store(true, Ordering::Release);
    let _ = timer.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(event_json(&AppEvent::Wifi { up: true }), r#"{"event":"wifi","up":true}"#);
        assert_eq!(
            event_json(&AppEvent::Open { result: -1, reason: Some("network not up") }),
            r#"{"event":"open","result":-1,"reason":"network not up"}"#
        );
        assert_eq!(event_json(&AppEvent::Open { result: 0, reason: None }), r#"{"event":"open","result":0}"#);
        assert_eq!(event_json(&AppEvent::Gpio { pin: 2, level: true }), r#"{"event":"gpio","pin":2,"level":1}"#);
        assert_eq!(
            event_json(&AppEvent::Disconnected { conn: 0, reason: "say \"bye\"\n" }),
            r#"{"event":"disconnected","conn":0,"reason":"say \"bye\"\n"}"#
        );
        assert_eq!(
            event_json(&AppEvent::Subscribed { topic: "commands/dev-1", qos: 1 }),
            r#"{"event":"subscribed","topic":"commands/dev-1","qos":1}"#
        );
    }

    #[test]
    fn command_payload_is_the_json_value_or_a_string() {
        assert_eq!(
            event_json(&AppEvent::Command { payload: " {\"led\": true}\n" }),
            r#"{"event":"command","payload":{"led": true}}"#
        );
        assert_eq!(
            event_json(&AppEvent::Command { payload: "led \"on" }),
            r#"{"event":"command","payload":"led \"on"}"#
        );
    }
}
