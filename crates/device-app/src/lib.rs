//! The device application, written once. It holds no ESP-IDF and no host
//! types: the firmware (`firmware-esp32/`, esp-idf-svc) and the simulated
//! device (`crates/device-sim`) each implement [`Platform`] and drive the
//! same [`App`].
//!
//! What it does, as the reference document advises:
//! - the board brings WiFi up and calls [`App::on_network`]`(true)` from its
//!   got-IP handler (and `false` on lost-IP / station disconnected);
//! - the MQTT connection is opened from there, with auto-reconnect and a
//!   delay schedule; the driver (ESP32 profile) gates it on the network;
//! - every `telemetry_ms` the board calls [`App::tick`], which publishes a
//!   JSON reading (uptime, sensor value) at QoS 0;
//! - on every `connected` it subscribes to `commands/<client-id>` at QoS 1
//!   and acts on JSON commands: `{"led": true}` sets the LED pin.

//!
//! The driver calls its event sink on its I/O thread with the connection
//! locked (a driver call from the sink would wait on that lock forever),
//! so the sink only copies each event into a channel, counting its bytes
//! as the sink's backlog: the application's own event thread
//! ([`EVENT_STACK_SIZE`]) acts on them (subscribing, the LED) through the
//! driver's API.

pub mod json;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use mqtt_driver::{Broker, Driver, DriverError, Event, EventSink, Handle, OpenOptions, Profile, QoS, WillOptions};

pub use json::{parse_command, Command, CommandError};

/// The reconnect schedule, in seconds (the last one repeats).
pub const RECONNECT_DELAYS_SECS: [f64; 4] = [1.0, 2.0, 5.0, 10.0];

/// The stack of the application's event thread: it formats a report line
/// and calls the driver, nothing deeper.
pub const EVENT_STACK_SIZE: usize = 8 << 10;

/// `TELEMETRY_MS` when it is not set.
pub const DEFAULT_TELEMETRY_MS: u64 = 5000;

/// Settings from a lookup: the firmware passes build-time values
/// (`option_env!`), the simulator the process environment. `WIFI_SSID`,
/// `WIFI_PASS`, `MQTT_HOST`, `MQTT_PORT` and `CLIENT_ID` are required;
/// `TELEMETRY_MS` defaults to [`DEFAULT_TELEMETRY_MS`]. `WILL_TOPIC`, when
/// set, is the topic of a retained QoS 1 will `offline` (the broker
/// publishes it if the device drops off without a DISCONNECT).
/// `MQTT_BROKERS`, when set, lists failover brokers tried after
/// `MQTT_HOST:MQTT_PORT`, as `host:port` separated by commas (IPv6 in
/// brackets, `[fd00::1]:1883`). The error names every missing or invalid
/// variable.
pub fn settings_from(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
    let mut missing = Vec::new();
    let mut invalid = Vec::new();
    let mut required = |name: &'static str| match get(name) {
        Some(v) if !v.is_empty() => v,
        _ => {
            missing.push(name);
            String::new()
        }
    };
    let wifi_ssid = required("WIFI_SSID");
    let wifi_pass = required("WIFI_PASS");
    let mqtt_host = required("MQTT_HOST");
    let port_text = required("MQTT_PORT");
    let client_id = required("CLIENT_ID");
    let mqtt_port = match port_text.trim().parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ if port_text.is_empty() => 0,
        _ => {
            invalid.push(format!("MQTT_PORT={port_text:?} is not a port from 1 to 65535"));
            0
        }
    };
    let telemetry_ms = match get("TELEMETRY_MS").filter(|v| !v.is_empty()) {
        None => DEFAULT_TELEMETRY_MS,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => ms,
            _ => {
                invalid.push(format!("TELEMETRY_MS={v:?} is not a positive number of milliseconds"));
                DEFAULT_TELEMETRY_MS
            }
        },
    };
    let brokers = match get("MQTT_BROKERS").filter(|v| !v.is_empty()) {
        None => Vec::new(),
        Some(v) => parse_brokers(&v).unwrap_or_else(|why| {
            invalid.push(format!("MQTT_BROKERS={v:?}: {why}"));
            Vec::new()
        }),
    };
    // Checked by `open` like a publish's topic (a bad one is reported there).
    let will_topic = get("WILL_TOPIC").filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing setting(s): {}", missing.join(", ")));
    }
    problems.extend(invalid);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(Settings { wifi_ssid, wifi_pass, mqtt_host, mqtt_port, client_id, telemetry_ms, will_topic, brokers })
}

/// `host:port,host:port`: the hosts are checked by `open` (one place).
fn parse_brokers(list: &str) -> Result<Vec<Broker>, String> {
    list.split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (host, port) = entry.rsplit_once(':').ok_or_else(|| format!("{entry:?} is not host:port"))?;
            let port = port.parse::<u16>().ok().filter(|&p| p > 0);
            let port = port.ok_or_else(|| format!("{entry:?}: the port must be from 1 to 65535"))?;
            let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            Ok(Broker { host: host.to_owned(), port })
        })
        .collect()
}

/// Build-time (firmware) or environment (simulator) settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub wifi_ssid: String,
    pub wifi_pass: String,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub client_id: String,
    pub telemetry_ms: u64,
    /// The will's topic (payload `offline`, QoS 1, retained), if any.
    pub will_topic: Option<String>,
    /// Failover brokers after `mqtt_host:mqtt_port` (`MQTT_BROKERS`).
    pub brokers: Vec<Broker>,
}

/// The GPIO pin of the LED that `{"led": ...}` commands drive.
pub const LED_PIN: u32 = 2;

/// What the application needs from the board (beyond the driver, which
/// owns sockets, time for the protocol and threads).
pub trait Platform: Send + Sync + 'static {
    /// Drives an output pin.
    fn set_gpio(&self, pin: u32, level: bool);
    /// A sensor reading for telemetry (on the device: the chip temperature).
    fn read_sensor(&self) -> f32;
    /// Milliseconds since boot.
    fn uptime_ms(&self) -> u64;
    /// Everything that happens, for the log (device) or stdout (simulator).
    fn report(&self, event: &AppEvent<'_>);
}

/// What the application reports through [`Platform::report`]. The
/// simulator prints each as one JSON line (its stable interface).
#[derive(Clone, Debug, PartialEq)]
pub enum AppEvent<'a> {
    Wifi {
        up: bool,
    },
    /// One MQTT open attempt by the application: the handle, or -1 and why.
    Open {
        result: i32,
        reason: Option<&'a str>,
    },
    Connected {
        conn: i32,
    },
    Disconnected {
        conn: i32,
        reason: &'a str,
    },
    Subscribed {
        topic: &'a str,
        qos: u8,
    },
    Telemetry {
        topic: &'a str,
        result: i32,
    },
    /// A command received (its JSON text).
    Command {
        payload: &'a str,
    },
    Gpio {
        pin: u32,
        level: bool,
    },
    /// Something the application could not do (a refused command, a
    /// failed subscribe), in a sentence.
    Error {
        reason: &'a str,
    },
}

/// A driver event copied out of the I/O thread.
enum Note {
    Connected(Handle),
    Disconnected(Handle, String),
    Subscribed(String, u8),
    Message(Handle, String, Vec<u8>),
}

impl Note {
    /// What the note holds, for the backlog count.
    fn size(&self) -> usize {
        let text = match self {
            Note::Connected(_) => 0,
            Note::Disconnected(_, r) => r.len(),
            Note::Subscribed(t, _) => t.len(),
            Note::Message(_, t, p) => t.len() + p.len(),
        };
        text + core::mem::size_of::<Note>()
    }
}

/// The driver's sink: copies each event into the event thread's channel
/// and counts the bytes queued, so that the driver stops reading (its flow
/// control, at `Profile::max_pending_events`) when the application falls
/// behind instead of the queue growing without bound.
struct AppSink {
    tx: Mutex<mpsc::Sender<Note>>,
    backlog: AtomicUsize,
}

impl EventSink for AppSink {
    fn event(&self, conn: Handle, e: Event<'_>) {
        let note = match e {
            Event::Connected { .. } => Note::Connected(conn),
            Event::Disconnected { reason, .. } => Note::Disconnected(conn, reason.into()),
            Event::Subscribed { filter, code, .. } => Note::Subscribed(filter.into(), code),
            Event::Message { topic, payload, .. } => Note::Message(conn, topic.into(), payload.into()),
            _ => return,
        };
        self.backlog.fetch_add(note.size(), Ordering::AcqRel);
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(note);
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Acquire)
    }
}

/// The device application: one MQTT connection of its own (opened on the
/// first got-IP), telemetry and the command listener.
pub struct App {
    settings: Settings,
    platform: Arc<dyn Platform>,
    driver: Driver,
    sink: Arc<dyn EventSink>,
    /// The application's own connection, once opened.
    main: Mutex<Option<Handle>>,
    network_up: AtomicBool,
    telemetry_topic: String,
    command_topic: String,
}

impl App {
    /// Starts the driver in the ESP32 profile (network down until
    /// `on_network(true)`) and the application's event thread.
    pub fn start(settings: Settings, platform: Arc<dyn Platform>) -> Result<Arc<App>, DriverError> {
        let driver = Driver::start(Profile::ESP32)?;
        let (tx, rx) = mpsc::channel::<Note>();
        let queue = Arc::new(AppSink { tx: Mutex::new(tx), backlog: AtomicUsize::new(0) });
        let sink: Arc<dyn EventSink> = queue.clone();
        let app = Arc::new(App {
            telemetry_topic: format!("telemetry/{}", settings.client_id),
            command_topic: format!("commands/{}", settings.client_id),
            settings,
            platform,
            driver,
            sink,
            main: Mutex::new(None),
            network_up: AtomicBool::new(false),
        });
        let worker = app.clone();
        std::thread::Builder::new()
            .name("app-events".into())
            .stack_size(EVENT_STACK_SIZE)
            .spawn(move || {
                let bound = worker.driver.profile().max_pending_events;
                while let Ok(note) = rx.recv() {
                    let size = note.size();
                    worker.handle(note);
                    let before = queue.backlog.fetch_sub(size, Ordering::AcqRel);
                    if before >= bound && before - size < bound {
                        // The driver stopped reading at the bound: resume.
                        worker.driver.wake();
                    }
                }
            })
            .map_err(|e| DriverError::Thread(e.to_string()))?;
        Ok(app)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The application's own connection, once opened.
    pub fn main_connection(&self) -> Option<Handle> {
        *self.main.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From the board's got-IP (`true`) and lost-IP / station-disconnected
    /// (`false`) handlers. The first `true` opens the application's MQTT
    /// connection; after that the driver's auto-reconnect brings it back
    /// whenever the network returns.
    pub fn on_network(&self, up: bool) {
        // Reported first: the link events that follow come after it.
        let was = self.network_up.swap(up, Ordering::AcqRel);
        if was != up {
            self.platform.report(&AppEvent::Wifi { up });
        }
        self.driver.set_network_up(up);
        if up {
            let mut main = self.main.lock().unwrap_or_else(|e| e.into_inner());
            if main.is_none() {
                let id = self.settings.client_id.clone();
                if let Ok(h) = self.open_reported(&id) {
                    *main = Some(h);
                }
            }
        }
    }

    /// One more MQTT connection now (the simulator's `open` command), with
    /// the client id `<CLIENT_ID>-<n>`: reports and returns its handle, or
    /// -1 (network not up, too many connections, ...).
    pub fn open(&self) -> i32 {
        let id = format!("{}-{}", self.settings.client_id, self.driver.live_connections());
        self.open_reported(&id).unwrap_or(-1)
    }

    fn open_reported(&self, client_id: &str) -> Result<Handle, ()> {
        let s = &self.settings;
        let will = s.will_topic.as_ref().map(|topic| WillOptions {
            topic: topic.clone(),
            payload: b"offline".to_vec(),
            qos: QoS::AtLeastOnce,
            retain: true,
        });
        let options = OpenOptions { will, brokers: s.brokers.clone(), ..OpenOptions::default() };
        let result = self.driver.open(&s.mqtt_host, s.mqtt_port, client_id, &options, self.sink.clone());
        match result {
            Ok(h) => {
                // The attempt proceeds on the I/O thread: these take effect
                // before its first failure could ask for a reconnect.
                let _ = self.driver.set_auto_reconnect(h, true);
                let _ = self.driver.set_reconnect_delays(h, &RECONNECT_DELAYS_SECS);
                self.platform.report(&AppEvent::Open { result: h, reason: None });
                Ok(h)
            }
            Err(e) => {
                let reason = e.to_string();
                self.platform.report(&AppEvent::Open { result: -1, reason: Some(&reason) });
                Err(())
            }
        }
    }

    /// The telemetry reading as JSON: `{"uptime_ms":..,"sensor":..}`.
    pub fn telemetry_json(&self) -> String {
        let sensor = self.platform.read_sensor();
        let sensor = if sensor.is_finite() { format!("{sensor:.2}") } else { "null".into() };
        format!("{{\"uptime_ms\":{},\"sensor\":{sensor}}}", self.platform.uptime_ms())
    }

    /// Telemetry (every `telemetry_ms`, from the board's timer): publishes
    /// the reading at QoS 0 on `telemetry/<client-id>` while the
    /// application's connection is up; does nothing otherwise.
    pub fn tick(&self) {
        let Some(h) = self.main_connection() else { return };
        if self.driver.state(h) != Ok(mqtt_driver::ConnState::Connected) {
            return;
        }
        let payload = self.telemetry_json();
        let result = match self.driver.publish(h, &self.telemetry_topic, payload.as_bytes(), QoS::AtMostOnce, false) {
            Ok(_) => 0,
            Err(_) => -1,
        };
        self.platform.report(&AppEvent::Telemetry { topic: &self.telemetry_topic, result });
    }

    fn handle(&self, note: Note) {
        let main = self.main_connection();
        match note {
            Note::Connected(conn) => {
                self.platform.report(&AppEvent::Connected { conn });
                if Some(conn) == main {
                    if let Err(e) = self.driver.subscribe(conn, &self.command_topic, QoS::AtLeastOnce) {
                        let reason = format!("subscribe {}: {e}", self.command_topic);
                        self.platform.report(&AppEvent::Error { reason: &reason });
                    }
                }
            }
            Note::Disconnected(conn, reason) => self.platform.report(&AppEvent::Disconnected { conn, reason: &reason }),
            Note::Subscribed(topic, qos) => self.platform.report(&AppEvent::Subscribed { topic: &topic, qos }),
            Note::Message(conn, topic, payload) => {
                if Some(conn) != main || topic != self.command_topic {
                    return;
                }
                self.command(&payload);
            }
        }
    }

    fn command(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        self.platform.report(&AppEvent::Command { payload: &text });
        match parse_command(payload) {
            Ok(Command::Led(level)) => {
                self.platform.set_gpio(LED_PIN, level);
                self.platform.report(&AppEvent::Gpio { pin: LED_PIN, level });
            }
            Err(e) => self.platform.report(&AppEvent::Error { reason: e.reason() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const ALL: [(&str, &str); 6] = [
        ("WIFI_SSID", "net"),
        ("WIFI_PASS", "secret"),
        ("MQTT_HOST", "192.168.1.10"),
        ("MQTT_PORT", "1883"),
        ("CLIENT_ID", "dev-1"),
        ("TELEMETRY_MS", "2000"),
    ];

    #[test]
    fn settings_complete() {
        let s = settings_from(lookup(&ALL)).unwrap();
        assert_eq!(
            s,
            Settings {
                wifi_ssid: "net".into(),
                wifi_pass: "secret".into(),
                mqtt_host: "192.168.1.10".into(),
                mqtt_port: 1883,
                client_id: "dev-1".into(),
                telemetry_ms: 2000,
                will_topic: None,
                brokers: Vec::new(),
            }
        );
    }

    #[test]
    fn failover_brokers_are_read_from_mqtt_brokers() {
        let mut v = ALL.to_vec();
        v.push(("MQTT_BROKERS", "10.0.0.2:1883, broker-b.local:8883,[fd00::1]:1884"));
        let s = settings_from(lookup(&v)).unwrap();
        let b = |h: &str, port| Broker { host: h.into(), port };
        assert_eq!(s.brokers, [b("10.0.0.2", 1883), b("broker-b.local", 8883), b("fd00::1", 1884)]);
        for bad in ["10.0.0.2", "10.0.0.2:0", "a:1,b:x"] {
            let mut v = ALL.to_vec();
            v.push(("MQTT_BROKERS", bad));
            let e = settings_from(lookup(&v)).unwrap_err();
            assert!(e.starts_with(&format!("MQTT_BROKERS={bad:?}")), "{e}");
        }
    }

    #[test]
    fn telemetry_ms_defaults() {
        let s = settings_from(lookup(&ALL[..5])).unwrap();
        assert_eq!(s.telemetry_ms, DEFAULT_TELEMETRY_MS);
    }

    #[test]
    fn missing_settings_are_named() {
        let e = settings_from(lookup(&[("WIFI_SSID", "net"), ("MQTT_PORT", "1883")])).unwrap_err();
        assert_eq!(e, "missing setting(s): WIFI_PASS, MQTT_HOST, CLIENT_ID");
        let e = settings_from(lookup(&[])).unwrap_err();
        assert_eq!(e, "missing setting(s): WIFI_SSID, WIFI_PASS, MQTT_HOST, MQTT_PORT, CLIENT_ID");
        // Empty counts as missing.
        let mut v = ALL.to_vec();
        v[2].1 = "";
        assert_eq!(settings_from(lookup(&v)).unwrap_err(), "missing setting(s): MQTT_HOST");
    }

    #[test]
    fn invalid_settings_are_named() {
        for (port, ms) in [("0", "5"), ("70000", "0"), ("x", "-1")] {
            let mut v = ALL.to_vec();
            v[3].1 = port;
            v[5].1 = ms;
            let e = settings_from(lookup(&v)).unwrap_err();
            assert!(e.contains(&format!("MQTT_PORT=\"{port}\"")), "{e}");
            if ms != "5" {
                assert!(e.contains(&format!("TELEMETRY_MS=\"{ms}\"")), "{e}");
            }
        }
    }
}
