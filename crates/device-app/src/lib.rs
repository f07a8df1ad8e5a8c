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

/// Build-time (firmware) or environment (simulator) settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub wifi_ssid: String,
    pub wifi_pass: String,
    pub mqtt_host: String,
    pub mqtt_port: u16,
    pub client_id: String,
    pub telemetry_ms: u64,
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
}
