//! A TCP proxy the test can cut and heal: put in front of PostgreSQL for one instance, it
//! takes that instance off the database (every open connection dropped, new ones closed at
//! once) while everything else keeps its own way there.

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

pub struct TcpProxy {
    pub port: u16,
    cut: watch::Sender<bool>,
    target: watch::Sender<String>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a port the OS picks on 127.0.0.1 and forwards to `target` (`host:port`).
    /// The port stays this proxy's until it is dropped.
    pub async fn start(target: String) -> TcpProxy {
        TcpProxy::listen(target)
    }

    /// [`TcpProxy::start`] from synchronous code running inside a tokio runtime.
    pub fn listen(target: String) -> TcpProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let (cut, cut_rx) = watch::channel(false);
        let (target, target_rx) = watch::channel(target);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *cut_rx.borrow() {
                    continue; // dropped: the connection closes at once
                }
                let to = target_rx.borrow().clone();
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    // A target that is down: the connection closes, as if refused.
                    let Ok(mut outbound) = TcpStream::connect(&to).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        TcpProxy {
            port,
            cut,
            target,
            accept,
        }
    }

    /// Forwards new connections to `target` from now on.
    pub fn retarget(&self, target: String) {
        self.target.send_replace(target);
    }

    /// `url` (a database URL) with its host and port replaced by this proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let mut u = reqwest::Url::parse(url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    /// `host:port` of a database URL, for [`TcpProxy::start`].
    pub fn target_of(url: &str) -> String {
        let u = reqwest::Url::parse(url).unwrap();
        format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(5432)
        )
    }

    /// Drops every forwarded connection and closes new ones until [`TcpProxy::heal`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.accept.abort();
    }
}
