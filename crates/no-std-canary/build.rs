//! Link flags for the `#![no_std] #![no_main]` canary on a hosted target.
//!
//! rustc links a `#![no_std]` binary with `-nodefaultlibs`, so the C start
//! files (crt1.o: `_start` -> `__libc_start_main` -> our `main`) are still
//! there but libc is not. Linking libc (and nothing else: no libstd, no
//! libgcc_s, no allocator) gives the canary a normal process entry and exit
//! code without pulling in anything Rust's `std` would.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo:rustc-link-arg-bins=-lc");
    }
}
