//! The #[napi] definitions of the Node addon. This is the one file that
//! defines what JavaScript sees; `napi build` generates index.js and
//! index.d.ts at the repository root from it.

use napi_derive::napi;

/// Version of the Rust crates compiled into this addon.
#[napi]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
