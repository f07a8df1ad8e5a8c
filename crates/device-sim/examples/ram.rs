//! What one MQTT connection costs in RAM in the driver's ESP32 profile,
//! and the threads' stacks: `cargo run -p device-sim --example ram`.
//!
//! Exact where the types are public (the buffers, the core client's fixed
//! state); the driver's own per-connection records are private, so they
//! are estimated from their fields (see README.md). `size_of` is taken on
//! this host: pointers are 8 bytes here and 4 on the ESP32, so the fixed
//! state figures are upper bounds for the device.

use mqtt_core::{Client, Config, Sizes, PENDING_RECORD};
use mqtt_driver::Profile;

/// The driver's records around the core client, per connection, estimated
/// from their fields on a 64-bit host: `Conn` (handle, sink, mutex over the
/// client box, filter map, flags, last error) and the I/O thread's `IoConn`
/// (link, host, address list, scratch pointers, flags), plus allocator
/// overhead and the socket's mio registration.
const DRIVER_RECORDS_ESTIMATE: usize = 512;

fn main() {
    let p = Profile::ESP32;
    let s: Sizes = p.sizes;
    let client_id = "dev-1";
    let connect = Config::new(client_id).connect_len().expect("a valid CONNECT");
    let fixed = std::mem::size_of::<Client<Vec<u8>>>();
    let buffers = s.inbound + s.outbound + s.inflight + s.pending + s.ids + s.awaiting_pubrel;
    let per_conn = fixed + buffers + connect + p.read_chunk + p.write_chunk + DRIVER_RECORDS_ESTIMATE;

    println!("ESP32 profile: at most {} connections", p.max_connections);
    println!("per connection:");
    println!("  core Client fixed state      {fixed:>6} B (size_of on this host)");
    println!("  inbound buffer               {:>6} B", s.inbound);
    println!("  outbound buffer              {:>6} B", s.outbound);
    println!("  QoS 1 in-flight store        {:>6} B", s.inflight);
    println!(
        "  pending (un)subscribes       {:>6} B ({} requests x {PENDING_RECORD} B)",
        s.pending,
        s.max_pending_requests()
    );
    println!("  packet-id pool               {:>6} B ({} ids)", s.ids, s.ids * 8);
    println!("  QoS 2 ids awaiting PUBREL    {:>6} B ({} ids)", s.awaiting_pubrel, s.max_awaiting_pubrel());
    println!("  CONNECT packet (id {client_id:?})   {connect:>6} B");
    println!("  socket read scratch          {:>6} B (read_chunk)", p.read_chunk);
    println!("  socket write staging         {:>6} B (write_chunk)", p.write_chunk);
    println!("  driver records (estimate)    {DRIVER_RECORDS_ESTIMATE:>6} B");
    println!("  total                        {per_conn:>6} B ({:.1} KiB)", per_conn as f64 / 1024.0);
    println!("threads (stacks, once per process):");
    println!("  I/O thread                   {:>6} B", p.io_stack_size);
    println!("  DNS resolver thread          {:>6} B", p.dns_stack_size);
    println!("  application event thread     {:>6} B", device_app::EVENT_STACK_SIZE);
    let stacks = p.io_stack_size + p.dns_stack_size + device_app::EVENT_STACK_SIZE;
    println!("  total                        {stacks:>6} B ({:.1} KiB)", stacks as f64 / 1024.0);
    let two = 2 * per_conn + stacks;
    println!("two connections with all threads: {two} B ({:.1} KiB)", two as f64 / 1024.0,);
    println!(
        "plus the application's event queue: reading stops at {} B queued (one packet more at most)",
        p.max_pending_events
    );
}
