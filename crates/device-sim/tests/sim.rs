//! The simulated device against a real mosquitto on a free loopback port,
//! driven through its stdin and stdout. The other party (subscriber to the
//! telemetry, publisher of commands) is the driver itself in the PC
//! profile: Debian's mosquitto package ships no mosquitto_sub/pub.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_driver::{Driver, Event, EventSink, FnSink, Handle, OpenOptions, Profile, QoS};

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

fn mosquitto_bin() -> Option<String> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

struct Broker {
    bin: String,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    starts: u32,
}

impl Broker {
    /// None when mosquitto is missing (and CI does not require it).
    fn new() -> Option<Broker> {
        let Some(bin) = mosquitto_bin() else {
            assert!(std::env::var("MQTT_REQUIRE_MOSQUITTO").is_err(), "mosquitto is required (MQTT_REQUIRE_MOSQUITTO)");
            eprintln!("mosquitto not installed: skipped");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("device-sim-test-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Broker { bin, child: None, port, dir, starts: 0 };
        b.start();
        Some(b)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("mosquitto-{}.log", self.starts))
    }

    /// Starts (again) on the same port, logging connections to a new file.
    fn start(&mut self) {
        self.starts += 1;
        let log = self.log_path();
        let _ = std::fs::remove_file(&log);
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nset_tcp_nodelay true\n\
                 log_dest file {}\nlog_type all\nconnection_messages true\n",
                self.port,
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(&self.bin).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// MQTT sessions (CONNECT accepted) the broker has logged since its last
    /// start; the start-up probe opens a TCP connection but sends no CONNECT.
    fn connections_logged(&self) -> usize {
        std::fs::read_to_string(self.log_path()).unwrap_or_default().matches("New client connected").count()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The simulator child: commands in, JSON lines out. Killed when dropped
/// (a failed assertion included).
struct Sim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Lines before this index were matched or skipped by `expect`.
    cursor: usize,
}

impl Sim {
    fn start(port: u16, client_id: &str, telemetry_ms: u64) -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_device-sim"))
            .env("MQTT_HOST", "127.0.0.1")
            .env("MQTT_PORT", port.to_string())
            .env("CLIENT_ID", client_id)
            .env("TELEMETRY_MS", telemetry_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Sim { child, stdin, lines, seen: Vec::new(), cursor: 0 }
    }

    fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the next line (after the previous match) that `pred`
    /// accepts, and returns it.
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.seen[self.cursor..].iter().position(|l| pred(l)) {
                let i = self.cursor + i;
                self.cursor = i + 1;
                return self.seen[i].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}; output so far:\n{}", self.seen.join("\n"));
            if let Ok(l) = self.lines.recv_timeout(left.min(Duration::from_millis(100))) {
                self.seen.push(l);
            }
        }
    }

    fn expect_line(&mut self, exact: &str) {
        self.expect(exact, |l| l == exact);
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Connected(Handle),
    Subscribed(Handle, String, u8),
    Message(Handle, String, Vec<u8>),
}

/// The other party: a driver in the PC profile, its events on a channel.
struct Peer {
    driver: Driver,
    sink: Arc<dyn EventSink>,
    rx: mpsc::Receiver<Ev>,
    seen: Vec<Ev>,
}

impl Peer {
    fn new() -> Peer {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let sink: Arc<dyn EventSink> = Arc::new(FnSink(move |conn: Handle, e: Event<'_>| {
            let ev = match e {
                Event::Connected { .. } => Ev::Connected(conn),
                Event::Subscribed { filter, code, .. } => Ev::Subscribed(conn, filter.into(), code),
                Event::Message { topic, payload, .. } => Ev::Message(conn, topic.into(), payload.into()),
                _ => return,
            };
            let _ = tx.lock().unwrap().send(ev);
        }));
        Peer { driver: Driver::start(Profile::PC).unwrap(), sink, rx, seen: Vec::new() }
    }

    fn wait(&mut self, what: &str, done: impl Fn(&[Ev]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            assert!(Instant::now() < deadline, "peer timed out waiting for {what}; events: {:?}", self.seen);
            if let Ok(e) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(e);
            }
        }
    }

    /// A new connection subscribed to `filter`.
    fn connect(&mut self, port: u16, client_id: &str, filter: &str) -> Handle {
        let c = self.driver.open("127.0.0.1", port, client_id, &OpenOptions::default(), self.sink.clone()).unwrap();
        self.wait("peer connected", |s| s.contains(&Ev::Connected(c)));
        self.driver.subscribe(c, filter, QoS::AtMostOnce).unwrap();
        self.wait("peer subscribed", |s| s.iter().any(|e| matches!(e, Ev::Subscribed(h, _, 0) if *h == c)));
        c
    }
}

fn is_telemetry_payload(p: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(p) else { return false };
    let Some(rest) = s.strip_prefix("{\"uptime_ms\":") else { return false };
    let Some((uptime, rest)) = rest.split_once(",\"sensor\":") else { return false };
    let Some(sensor) = rest.strip_suffix('}') else { return false };
    uptime.parse::<u64>().is_ok() && sensor.parse::<f64>().is_ok()
}

fn send_led(sim: &mut Sim, peer: &Peer, conn: Handle, payload: &str, level: u8) {
    peer.driver.publish(conn, "commands/dev-1", payload.as_bytes(), QoS::AtLeastOnce, false).unwrap();
    sim.expect_line(&format!("{{\"event\":\"command\",\"payload\":{payload}}}"));
    sim.expect_line(&format!("{{\"event\":\"gpio\",\"pin\":2,\"level\":{level}}}"));
}

#[test]
fn simulated_device_against_mosquitto() {
    let Some(mut broker) = Broker::new() else { return };
    let port = broker.port;
    let mut sim = Sim::start(port, "dev-1", 200);

    // Before WiFi: the gate refuses, and nothing reaches the broker.
    sim.send("open");
    let line = sim.expect("open refused", |l| l.starts_with("{\"event\":\"open\""));
    assert!(line.starts_with("{\"event\":\"open\",\"result\":-1,\"reason\":\"network not up"), "{line}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(broker.connections_logged(), 0, "the broker saw a connection before wifi up");

    // The peer subscribes to the telemetry (and proves the log counts).
    let mut peer = Peer::new();
    let watcher = peer.connect(port, "peer-1", "telemetry/dev-1");
    let deadline = Instant::now() + WAIT;
    while broker.connections_logged() != 1 {
        assert!(Instant::now() < deadline, "mosquitto's log does not show connections");
        std::thread::sleep(Duration::from_millis(20));
    }

    // WiFi up: open, connected, subscribed; telemetry flows.
    sim.send("wifi up");
    sim.expect_line(r#"{"event":"wifi","up":true}"#);
    sim.expect_line(r#"{"event":"open","result":0}"#);
    sim.expect_line(r#"{"event":"connected","conn":0}"#);
    sim.expect_line(r#"{"event":"subscribed","topic":"commands/dev-1","qos":1}"#);
    sim.expect_line(r#"{"event":"telemetry","topic":"telemetry/dev-1","result":0}"#);
    peer.wait("telemetry at the subscriber", |s| {
        s.iter().any(
            |e| matches!(e, Ev::Message(h, t, p) if *h == watcher && t == "telemetry/dev-1" && is_telemetry_payload(p)),
        )
    });

    // A command toggles the LED.
    send_led(&mut sim, &peer, watcher, r#"{"led": true}"#, 1);
    send_led(&mut sim, &peer, watcher, r#"{"led":false}"#, 0);
    // A refused command is reported, and the GPIO is left alone.
    peer.driver.publish(watcher, "commands/dev-1", b"{\"led\":1}", QoS::AtLeastOnce, false).unwrap();
    sim.expect_line(r#"{"event":"command","payload":{"led":1}}"#);
    let line = sim.expect("error", |l| l.starts_with("{\"event\":\"error\"") || l.starts_with("{\"event\":\"gpio\""));
    assert_eq!(line, r#"{"event":"error","reason":"\"led\" must be true or false"}"#);

    // WiFi outage: closed with a reason, back and re-subscribed on its own.
    sim.send("wifi down");
    sim.expect_line(r#"{"event":"wifi","up":false}"#);
    let line = sim.expect("disconnected", |l| l.starts_with(r#"{"event":"disconnected","conn":0,"#));
    assert!(line.contains("network down"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    sim.send("wifi up");
    sim.expect_line(r#"{"event":"wifi","up":true}"#);
    sim.expect_line(r#"{"event":"connected","conn":0}"#);
    sim.expect_line(r#"{"event":"subscribed","topic":"commands/dev-1","qos":1}"#);
    send_led(&mut sim, &peer, watcher, r#"{"led":true}"#, 1);

    // Broker restart on the same port: back and re-subscribed on its own.
    broker.kill();
    sim.expect("disconnected by the restart", |l| l.starts_with(r#"{"event":"disconnected","conn":0,"#));
    broker.start();
    sim.expect_line(r#"{"event":"connected","conn":0}"#);
    sim.expect_line(r#"{"event":"subscribed","topic":"commands/dev-1","qos":1}"#);
    let commander = peer.connect(port, "peer-2", "telemetry/dev-1");
    send_led(&mut sim, &peer, commander, r#"{"led":false}"#, 0);
    sim.expect_line(r#"{"event":"telemetry","topic":"telemetry/dev-1","result":0}"#);

    // Two connections at most: the app's own, one more, and the third is refused.
    sim.send("open");
    sim.expect_line(r#"{"event":"open","result":1}"#);
    sim.expect_line(r#"{"event":"connected","conn":1}"#);
    sim.send("open");
    let line = sim.expect("third open", |l| l.starts_with(r#"{"event":"open""#));
    assert!(line.starts_with(r#"{"event":"open","result":-1,"reason":"too many connections"#), "{line}");

    sim.send("quit");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = sim.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "device-sim did not quit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn missing_settings_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_device-sim"))
        .env_remove("MQTT_HOST")
        .env_remove("CLIENT_ID")
        .env("MQTT_PORT", "1883")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing setting(s): MQTT_HOST, CLIENT_ID"), "{err}");
    assert!(out.stdout.is_empty());
}
