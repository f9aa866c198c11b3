//! A private `nats-server` for cluster tests: its own process on a port it picks itself,
//! behind a proxy whose port the test holds for the whole test. A test can kill it and
//! bring it back (on a new port of its own; the proxy forwards there, so the instances
//! reconnect to the address they know) without touching the machine's own NATS service or
//! another test's, and no other process can take the address meanwhile.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use super::tcp_proxy::TcpProxy;

/// The credentials every test NATS server demands, and the instances present
/// (`--nats-user`, `--nats-password`): the bus is never open in a test either.
pub const NATS_USER: &str = "tandem";
pub const NATS_PASSWORD: &str = "test-bus-password";

/// How long `nats-server` may take to say it is ready.
const READY: Duration = Duration::from_secs(20);

/// The `nats-server` binary: `TANDEM_TEST_NATS_SERVER`, else the one on `PATH`, else
/// Debian's (in `/usr/sbin`, which is not on every user's `PATH`).
pub fn binary() -> String {
    if let Ok(path) = std::env::var("TANDEM_TEST_NATS_SERVER") {
        return path;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    match on_path {
        Some(p) => p.display().to_string(),
        None if std::path::Path::new("/usr/sbin/nats-server").is_file() => {
            "/usr/sbin/nats-server".into()
        }
        None => panic!(
            "nats-server not found (PATH, /usr/sbin): the cluster tests start their own; \
             run them through ./scripts/test.sh (installs the Debian package nats-server) \
             or set TANDEM_TEST_NATS_SERVER"
        ),
    }
}

/// A `nats-server` process on 127.0.0.1, killed when dropped (also when the test fails).
pub struct NatsServer {
    child: Option<Child>,
    /// The proxy's port: the address the instances use.
    pub port: u16,
    proxy: TcpProxy,
    log: Arc<Mutex<Vec<String>>>,
}

impl NatsServer {
    /// Starts one on a port the server picks itself (`-p -1`: no race for a free port),
    /// behind a proxy on a port the OS picks. Needs a tokio runtime (the proxy's).
    pub fn start() -> NatsServer {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, port) = spawn(&log);
        let proxy = TcpProxy::listen(format!("127.0.0.1:{port}"));
        NatsServer {
            child: Some(child),
            port: proxy.port,
            proxy,
            log,
        }
    }

    /// `nats://127.0.0.1:PORT`, for `--nats-url`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it outright (SIGKILL) and waits for the process to be gone: every instance
    /// loses its connection at once, as when the NATS host dies.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again (killing it first if it still runs) on a port of its own; the
    /// proxy forwards the instances' reconnect attempts there.
    pub fn restart(&mut self) {
        self.kill();
        let (child, port) = spawn(&self.log);
        self.proxy.retarget(format!("127.0.0.1:{port}"));
        self.child = Some(child);
    }

    /// Everything it logged, over all its runs (for failure messages).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `nats-server` and waits until it is ready; returns the process and its port.
fn spawn(log: &Arc<Mutex<Vec<String>>>) -> (Child, u16) {
    let port_arg = "-1";
    let mut child = Command::new(binary())
        .args(["-a", "127.0.0.1", "-p", port_arg])
        .args(["--user", NATS_USER, "--pass", NATS_PASSWORD])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary()));
    // It logs to stderr: the port it listens on, then "Server is ready".
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            lines.lock().unwrap().push(line);
        }
    });
    let deadline = std::time::Instant::now() + READY;
    let mut listening = None;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some((_, p)) = line.split_once("Listening for client connections on ") {
                    listening = p.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                }
                if line.contains("Server is ready") {
                    if let Some(port) = listening {
                        return (child, port);
                    }
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "nats-server (port {port_arg}) did not become ready:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        }
    }
}
