//! A page for headless Chromium: a small HTTP server on a thread of its own that serves
//! fixed files and hands what the page POSTs to the test, and Chromium run against it,
//! killed when the test has what it waited for.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError},
    time::Duration,
};

/// What a page POSTed: the path and the body.
pub type Posted = (String, Vec<u8>);

/// Serves `files` (path → content type and body) on 127.0.0.1; returns the port and what
/// the page POSTs.
pub fn serve(files: HashMap<String, (&'static str, Vec<u8>)>) -> (u16, Receiver<Posted>) {
    serve_on(TcpListener::bind("127.0.0.1:0").unwrap(), files)
}

/// [`serve`] on a listener bound already (a page whose origin must be known first).
pub fn serve_on(
    listener: TcpListener,
    files: HashMap<String, (&'static str, Vec<u8>)>,
) -> (u16, Receiver<Posted>) {
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
            let mut reader = BufReader::new(stream);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut parts = request.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            let path = path.split('?').next().unwrap_or("/").to_owned();
            let (status, kind, body) = if method == "POST" {
                let mut body = vec![0; length.min(64 << 20)];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ = tx.send((path, body));
                ("200 OK", "text/plain", Vec::new())
            } else if let Some((kind, body)) = files.get(&path) {
                ("200 OK", *kind, body.clone())
            } else {
                ("404 Not Found", "text/plain", Vec::new())
            };
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (port, rx)
}

/// Headless Chromium showing `url`, killed on drop.
pub struct Browser {
    child: Child,
    profile: std::path::PathBuf,
}

impl Browser {
    pub fn open(url: &str) -> Browser {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "connhandler-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let child = Command::new(super::tools::chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run chromium");
        Browser { child, profile }
    }

    /// What the page POSTs next, within `limit`; fails saying what it waited for.
    pub fn posted(&mut self, rx: &Receiver<Posted>, what: &str, limit: Duration) -> Posted {
        match rx.recv_timeout(limit) {
            Ok(posted) => posted,
            Err(RecvTimeoutError::Timeout) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "headless Chromium did not post {what} within {limit:?} (chromium: {status:?})"
                )
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the page's server ended"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
