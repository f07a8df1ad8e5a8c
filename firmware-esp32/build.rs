//! Fails the build, naming every missing variable, when a required
//! build-time setting is not set; then passes ESP-IDF's configuration
//! (`#[cfg]`s such as `esp_idf_soc_temp_sensor_supported`) and link
//! arguments from esp-idf-sys on to this crate.

/// Read by src/main.rs with `option_env!` and handed to
/// `device_app::settings_from`, which validates the values at boot.
const REQUIRED: [&str; 5] = ["WIFI_SSID", "WIFI_PASS", "MQTT_HOST", "MQTT_PORT", "CLIENT_ID"];
/// Optional: `device_app::DEFAULT_TELEMETRY_MS` when unset; no will and no
/// failover brokers when unset.
const OPTIONAL: [&str; 3] = ["TELEMETRY_MS", "WILL_TOPIC", "MQTT_BROKERS"];

fn main() {
    for name in REQUIRED.iter().chain(OPTIONAL.iter()) {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let missing: Vec<&str> =
        REQUIRED.iter().copied().filter(|name| std::env::var(name).map_or(true, |v| v.is_empty())).collect();
    if !missing.is_empty() {
        panic!(
            "\n\nfirmware-esp32: missing build-time settings: {}\n\
             Set them in the environment of `cargo build` / `cargo espflash flash`, e.g.\n  \
             WIFI_SSID=my-net WIFI_PASS=secret MQTT_HOST=192.168.1.10 MQTT_PORT=1883 CLIENT_ID=dev-1 \
             cargo espflash flash --release --monitor\n\
             (TELEMETRY_MS is optional.) See README.md.\n\n",
            missing.join(", ")
        );
    }
    embuild::espidf::sysenv::output();
}
