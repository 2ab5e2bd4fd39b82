//! `tcpmsg echo` and `tcpmsg proxy`, run as processes, against hostile peers and a stalled
//! upstream, while a well-behaved client checks that it is still served. No test asserts a
//! time; the read time-outs below only turn a hang into a failure.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::Duration,
};

const TCPMSG: &str = env!("CARGO_BIN_EXE_tcpmsg");

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Descriptors the process has open (Linux).
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

/// Starts `tcpmsg`; returns it, its address and its stdout after the `listening on` line.
fn start(args: &[&str]) -> (Proc, SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(TCPMSG)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run tcpmsg");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .trim()
        .parse()
        .unwrap();
    (Proc(child), addr, out)
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut wire = (msg.len() as u16).to_le_bytes().to_vec();
    wire.extend_from_slice(msg);
    wire
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    // Turns a hang into a failure.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// `n` round trips of small messages through `addr`, one at a time.
fn round_trips(addr: SocketAddr, n: u32) {
    let mut s = connect(addr);
    for i in 0..n {
        let wire = frame(&i.to_le_bytes());
        s.write_all(&wire).unwrap();
        let mut back = vec![0u8; wire.len()];
        s.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("round trip {i}: {e}"));
        assert_eq!(back, wire);
    }
}

/// Whether the server closed `s` (end of stream or reset) rather than letting it hang.
fn was_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

/// A client that sends and never reads: cut when its queue fills, the good client served
/// all along.
#[test]
fn echo_keeps_serving_while_a_peer_never_reads() {
    let (_p, addr, _out) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let attacker = thread::spawn(move || {
        let mut a = connect(addr);
        let wire = frame(&vec![7u8; 60_000]);
        let mut sent = 0u64;
        while !s.load(Ordering::Relaxed) && a.write_all(&wire).is_ok() {
            sent += 1;
        }
        sent
    });
    // Long enough for the attacker's echoes to fill every buffer on the way.
    thread::sleep(Duration::from_millis(300));
    round_trips(addr, 100);
    let sent = attacker.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(
        sent > 100,
        "the attacker sent {sent} messages: it never filled its queue"
    );
}

/// A crowd that trickles bytes and one that says nothing are cut by the time-outs given on
/// the command line, while the good client is served.
#[test]
fn echo_cuts_a_slowloris_crowd() {
    let (_p, addr, _out) = start(&[
        "echo",
        "--listen",
        "127.0.0.1:0",
        "--frame-timeout-ms",
        "300",
        "--first-message-timeout-ms",
        "300",
    ]);
    let mut crowd = Vec::new();
    for i in 0..40 {
        crowd.push(thread::spawn(move || {
            let mut s = connect(addr);
            if i % 2 == 0 {
                let _ = s.write_all(&1000u16.to_le_bytes());
                for _ in 0..400 {
                    if s.write_all(&[1]).is_err() {
                        return true;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                false
            } else {
                was_closed(&mut s)
            }
        }));
    }
    round_trips(addr, 50);
    for c in crowd {
        assert!(c.join().unwrap(), "a hostile connection was held");
    }
}

/// Connections that send a message and reset, while another client never reads and fills
/// its queue: the descriptors are released, and the good client is served.
#[test]
fn echo_releases_descriptors_under_reset_churn() {
    let (p, addr, _out) = start(&["echo", "--listen", "127.0.0.1:0"]);
    let before = p.open_fds();
    let mut frozen = connect(addr);
    frozen.write_all(&frame(&[1; 1000]).repeat(100)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use tokio::io::AsyncWriteExt;
        for _ in 0..500 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&frame(b"hello")).await;
            // A zero linger: the close is a reset (and does not block).
            #[allow(deprecated)]
            s.set_linger(Some(Duration::ZERO)).unwrap();
        }
    });
    round_trips(addr, 20);
    let mut fds = p.open_fds();
    for _ in 0..300 {
        if fds <= before + 8 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
        fds = p.open_fds();
    }
    assert!(fds <= before + 8, "{fds} descriptors open, {before} before");
    drop(frozen);
}

/// An upstream that answers: echoes every frame.
fn upstream_echo(listener: TcpListener) {
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let _ = std::io::copy(&mut s, &mut w);
            });
        }
    });
}

/// The upstream stops accepting: a new client's upstream connect hangs until its time-out
/// and that client is closed with the reason, while a client already linked carries on.
#[test]
fn proxy_serves_linked_clients_while_the_upstream_stops_accepting() {
    // A backlog of one, never accepted from after the first client: later connects hang.
    let socket = socket_listen_backlog_1();
    let up_addr = socket.local_addr().unwrap();
    let (_p, addr, _out) = start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &up_addr.to_string(),
        "--connect-timeout-ms",
        "8000",
    ]);
    // The first client's upstream is accepted and echoes.
    let mut first = connect(addr);
    let (up, _) = socket.accept().unwrap();
    thread::spawn(move || {
        let mut w = up.try_clone().unwrap();
        let mut r = up;
        let _ = std::io::copy(&mut r, &mut w);
    });
    // Fill the backlog so later connects hang.
    let _fill: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&up_addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let stuck = thread::spawn(move || {
        let mut s = connect(addr);
        let _ = s.write_all(&frame(b"waiting"));
        was_closed(&mut s)
    });
    // While the stuck client's connect hangs, the first client's traffic flows.
    for i in 0..50u32 {
        let wire = frame(&i.to_le_bytes());
        first.write_all(&wire).unwrap();
        let mut back = vec![0u8; wire.len()];
        first.read_exact(&mut back).unwrap();
        assert_eq!(back, wire);
        thread::sleep(Duration::from_millis(20));
    }
    // A proxy whose loop waited on the hanging connect would have served none of these
    // until it gave up on it.
    assert!(
        !stuck.is_finished(),
        "the first client was served while the other's upstream connect still hung"
    );
    assert!(
        stuck.join().unwrap(),
        "the client whose upstream hangs is closed"
    );
}

fn socket_listen_backlog_1() -> TcpListener {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let _g = rt.enter();
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = s.listen(1).unwrap().into_std().unwrap();
    l.set_nonblocking(false).unwrap();
    l
}

/// Nobody reads the proxy's stdout: the pipe fills, and the proxy drops lines instead of
/// stalling its clients.
#[test]
fn proxy_keeps_forwarding_when_stdout_stalls() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    upstream_echo(upstream);
    let (_p, addr, _stdout_never_read) = start(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &up_addr.to_string(),
    ]);
    // 4000 messages print about 1 MB of lines: far more than a pipe holds.
    round_trips(addr, 4000);
}
