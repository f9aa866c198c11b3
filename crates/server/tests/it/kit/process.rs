//! The `tandem` binary as a child process, for what only a process shows: signals,
//! logs, exit status, `kill -9`.

use std::time::Duration;

use super::{wait_for, WAIT};

/// The `tandem` binary as a child process: `serve` on a free loopback port, its stderr
/// collected line by line so tests can wait for a log line. Killed when dropped.
pub struct BinServer {
    pub child: std::process::Child,
    pub addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BinServer {
    /// Runs `tandem serve --listen 127.0.0.1:0 --web-dir /nonexistent ARGS`, with no
    /// database URL, secret or cluster setting inherited from the caller's environment.
    pub fn spawn(args: &[&str]) -> BinServer {
        BinServer::spawn_on("127.0.0.1:0", args)
    }

    pub fn spawn_on(listen: &str, args: &[&str]) -> BinServer {
        BinServer::spawn_command(listen, args, None)
    }

    /// As [`BinServer::spawn`], with the process's open-file limit (soft and hard, so the
    /// server cannot raise it) set to `open_files`.
    pub fn spawn_with_open_files(open_files: u64, args: &[&str]) -> BinServer {
        BinServer::spawn_command("127.0.0.1:0", args, Some(open_files))
    }

    /// As [`BinServer::spawn`], run by `wrapper` (a program and its arguments, e.g.
    /// `strace ... --`) with the `tandem` command line after them. `child` is then the
    /// wrapper's process.
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str]) -> BinServer {
        let mut command = std::process::Command::new(wrapper[0]);
        command
            .args(&wrapper[1..])
            .arg(env!("CARGO_BIN_EXE_tandem"));
        BinServer::spawn_from(command, "127.0.0.1:0", args)
    }

    fn spawn_command(listen: &str, args: &[&str], open_files: Option<u64>) -> BinServer {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
        if let Some(limit) = open_files {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        BinServer::spawn_from(command, listen, args)
    }

    fn spawn_from(mut command: std::process::Command, listen: &str, args: &[&str]) -> BinServer {
        use std::io::{BufRead, BufReader};
        let mut child = command
            .args(["serve", "--listen", listen, "--web-dir", "/nonexistent"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("TANDEM_SECRET")
            .env_remove("TANDEM_ADMIN_KEY")
            .env_remove("TANDEM_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .env_remove("TANDEM_NATS_URL")
            .env_remove("TANDEM_CLUSTER_KEY")
            .env_remove("TANDEM_NATS_USER")
            .env_remove("TANDEM_NATS_PASSWORD")
            .env_remove("TANDEM_NATS_TOKEN")
            .env_remove("TANDEM_INSTANCE_ID")
            .env_remove("TANDEM_NATS_SUBJECT_PREFIX")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tandem");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start: {line:?}\n{}",
                stderr.lock().unwrap().join("\n")
            );
        };
        let addr = addr.to_string();
        BinServer {
            child,
            addr,
            stderr,
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws(&self, doc: &str) -> String {
        format!("ws://{}/ws/{}", self.addr, doc)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a stderr line matching `pred`; returns it.
    pub async fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, || async {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| pred(l))
                .cloned()
        })
        .await
    }

    /// Sends SIGTERM, as `docker stop` or systemd would.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself; its exit status.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
