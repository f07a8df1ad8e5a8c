//! The ESP32 device layer, and nothing else: it brings up WiFi, tells the
//! application when the station has (or loses) an address, drives the LED
//! pin, reads the clock and a sensor, and calls `App::tick` on a timer.
//! Everything else (MQTT, reconnects, telemetry, commands) is
//! `device_app::App` over the driver in its ESP32 profile, which runs
//! unchanged on the host as the simulated device (`cargo run -p device-sim`).
//!
//! Every esp-idf-svc / esp-idf-hal call here was checked against the pinned
//! sources: see the table in README.md.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use device_app::{App, AppEvent, Platform, LED_PIN};
use esp_idf_svc::eventloop::EspSystemEventLoop;
use esp_idf_svc::hal::gpio::{Level, Output, PinDriver};
use esp_idf_svc::hal::peripherals::Peripherals;
use esp_idf_svc::io::vfs::MountedEventfs;
use esp_idf_svc::log::EspLogger;
use esp_idf_svc::netif::IpEvent;
use esp_idf_svc::nvs::EspDefaultNvsPartition;
use esp_idf_svc::sys;
use esp_idf_svc::wifi::{AuthMethod, ClientConfiguration, Configuration, EspWifi, WifiEvent};

#[cfg(all(esp_idf_soc_temp_sensor_supported, esp_idf_version_major = "5"))]
use esp_idf_svc::hal::temp_sensor::{TempSensorConfig, TempSensorDriver};

/// eventfds for the eventfd VFS. mio (poll(2) selector on ESP-IDF) uses one
/// per `Poll`, shared by its `Waker`; the driver has one `Poll`. One spare.
const EVENTFD_MAX_FDS: usize = 2;

/// The build-time settings (checked present by build.rs).
fn build_setting(name: &str) -> Option<String> {
    let value = match name {
        "WIFI_SSID" => option_env!("WIFI_SSID"),
        "WIFI_PASS" => option_env!("WIFI_PASS"),
        "MQTT_HOST" => option_env!("MQTT_HOST"),
        "MQTT_PORT" => option_env!("MQTT_PORT"),
        "CLIENT_ID" => option_env!("CLIENT_ID"),
        "TELEMETRY_MS" => option_env!("TELEMETRY_MS"),
        "WILL_TOPIC" => option_env!("WILL_TOPIC"),
        "MQTT_BROKERS" => option_env!("MQTT_BROKERS"),
        _ => None,
    };
    value.map(str::to_owned)
}

/// The board, as the application sees it.
struct Board {
    led: Mutex<PinDriver<'static, Output>>,
    #[cfg(all(esp_idf_soc_temp_sensor_supported, esp_idf_version_major = "5"))]
    temperature: Mutex<TempSensorDriver<'static>>,
}

impl Platform for Board {
    fn set_gpio(&self, pin: u32, level: bool) {
        if pin != LED_PIN {
            log::warn!("gpio {pin}: only the LED pin {LED_PIN} is wired");
            return;
        }
        let mut led = self.led.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = led.set_level(Level::from(level)) {
            log::warn!("gpio {pin}: {e}");
        }
    }

    /// The chip's temperature sensor (°C) where ESP-IDF has one (ESP32-C3,
    /// -S2, -S3, ...). The original ESP32 has none in ESP-IDF 5: there the
    /// reading is NaN, which the application publishes as `null`.
    fn read_sensor(&self) -> f32 {
        #[cfg(all(esp_idf_soc_temp_sensor_supported, esp_idf_version_major = "5"))]
        {
            let sensor = self.temperature.lock().unwrap_or_else(|e| e.into_inner());
            sensor.get_celsius().unwrap_or(f32::NAN)
        }
        #[cfg(not(all(esp_idf_soc_temp_sensor_supported, esp_idf_version_major = "5")))]
        {
            f32::NAN
        }
    }

    fn uptime_ms(&self) -> u64 {
        // Microseconds since boot, never negative.
        // SAFETY: esp_timer_get_time takes no arguments, has no
        // preconditions and may be called from any task once the system
        // has booted (esp_timer starts before app_main).
        let micros = unsafe { sys::esp_timer_get_time() };
        u64::try_from(micros / 1000).unwrap_or(0)
    }

    fn report(&self, event: &AppEvent<'_>) {
        log::info!("{event:?}");
    }
}

/// Asks the WiFi driver to (re)connect; the outcome arrives as events.
fn connect(wifi: &Mutex<EspWifi<'static>>) {
    let mut wifi = wifi.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = wifi.connect() {
        log::warn!("wifi connect: {e}");
    }
}

fn run() -> Result<(), String> {
    let settings = device_app::settings_from(build_setting)?;
    let peripherals = Peripherals::take().map_err(|e| format!("peripherals: {e}"))?;
    let sysloop = EspSystemEventLoop::take().map_err(|e| format!("system event loop: {e}"))?;
    let nvs = EspDefaultNvsPartition::take().map_err(|e| format!("nvs: {e}"))?;

    // mio's waker is an eventfd: without this VFS it fails with EPERM, and
    // dropping it unregisters eventfd. Kept for the program's life (run
    // never returns).
    let _eventfs = MountedEventfs::mount(EVENTFD_MAX_FDS).map_err(|e| format!("eventfd vfs: {e}"))?;

    let board = Board {
        led: Mutex::new(PinDriver::output(peripherals.pins.gpio2).map_err(|e| format!("led pin: {e}"))?),
        #[cfg(all(esp_idf_soc_temp_sensor_supported, esp_idf_version_major = "5"))]
        temperature: {
            let mut sensor = TempSensorDriver::new(&TempSensorConfig::default(), peripherals.temp_sensor)
                .map_err(|e| format!("temperature sensor: {e}"))?;
            sensor.enable().map_err(|e| format!("temperature sensor: {e}"))?;
            Mutex::new(sensor)
        },
    };
    // The pin taken above is GPIO2: the application's LED_PIN.
    const _: () = assert!(LED_PIN == 2);

    let app = App::start(settings.clone(), Arc::new(board)).map_err(|e| format!("app: {e}"))?;

    let mut wifi = EspWifi::new(peripherals.modem, sysloop.clone(), Some(nvs)).map_err(|e| format!("wifi: {e}"))?;
    let auth_method = if settings.wifi_pass.is_empty() { AuthMethod::None } else { AuthMethod::WPA2Personal };
    let client = ClientConfiguration {
        ssid: settings.wifi_ssid.as_str().try_into().map_err(|_| "WIFI_SSID is longer than 32 bytes".to_owned())?,
        password: settings.wifi_pass.as_str().try_into().map_err(|_| "WIFI_PASS is longer than 64 bytes".to_owned())?,
        auth_method,
        ..Default::default()
    };
    wifi.set_configuration(&Configuration::Client(client)).map_err(|e| format!("wifi configuration: {e}"))?;
    let wifi = Arc::new(Mutex::new(wifi));

    // esp-idf-svc's WiFi does not reconnect by itself: connect when the
    // station starts and again after every disconnection. The callbacks run
    // on the system event task; the subscriptions live as long as run().
    let _wifi_events = {
        let (app, wifi) = (app.clone(), wifi.clone());
        sysloop
            .subscribe::<WifiEvent, _>(move |event| match event {
                WifiEvent::StaStarted => connect(&wifi),
                WifiEvent::StaDisconnected(_) => {
                    app.on_network(false);
                    connect(&wifi);
                }
                _ => {}
            })
            .map_err(|e| format!("wifi events: {e}"))?
    };
    // MQTT is opened (by the application) when the station has an address.
    let _ip_events = {
        let app = app.clone();
        sysloop
            .subscribe::<IpEvent, _>(move |event| match event {
                IpEvent::DhcpIpAssigned(_) => app.on_network(true),
                IpEvent::DhcpIpDeassigned(_) => app.on_network(false),
                _ => {}
            })
            .map_err(|e| format!("ip events: {e}"))?
    };

    wifi.lock().unwrap_or_else(|e| e.into_inner()).start().map_err(|e| format!("wifi start: {e}"))?;
    log::info!("wifi started, ssid {:?}, broker {}:{}", settings.wifi_ssid, settings.mqtt_host, settings.mqtt_port);

    let period = Duration::from_millis(settings.telemetry_ms);
    loop {
        std::thread::sleep(period);
        app.tick();
    }
}

fn main() {
    // Links esp-idf-sys's runtime patches (must be called once, first).
    sys::link_patches();
    EspLogger::initialize_default();

    if let Err(e) = run() {
        log::error!("firmware: {e}");
        // A panic resets the chip: the next boot tries again.
        panic!("firmware: {e}");
    }
}
