//! The `tcpmsg` tool, run as a process: echo, send, proxy, and interop with a peer that uses
//! the reference TcpMessage framing (written here from wire-format.md).

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{pattern, reference_write};

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

    /// Descriptors the process has open once they are down to `at_most`, or after 5 s
    /// (closes the process is still making are waited for, within a bound).
    fn open_fds_settled(&self, at_most: usize) -> usize {
        let mut fds = self.open_fds();
        for _ in 0..500 {
            if fds <= at_most {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            fds = self.open_fds();
        }
        fds
    }
}

/// Starts `tcpmsg` with `args`, waits for its `listening on` line, returns it and the address.
fn start_listening(args: &[&str]) -> (Proc, SocketAddr, Stdout) {
    let mut child = Command::new(TCPMSG)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run tcpmsg");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (out, line) = line_of(out, "tcpmsg's `listening on` line");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .trim()
        .parse()
        .unwrap();
    (Proc(child), addr, out)
}

type Stdout = BufReader<std::process::ChildStdout>;

/// Reads one line of a child's `out` within 30 s (on a thread of its own, which hands the
/// reader back); `what` names it if it does not come.
fn line_of(out: Stdout, what: &str) -> (Stdout, String) {
    common::within_blocking(what, move || {
        let mut out = out;
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        (out, line)
    })
}

fn echo(framing_args: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["echo", "--listen", "127.0.0.1:0"];
    args.extend(framing_args);
    let (p, addr, _) = start_listening(&args);
    (p, addr)
}

/// Runs `tcpmsg send` with `input` on stdin; returns (success, stdout, stderr).
fn send(addr: &str, extra: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(TCPMSG)
        .args(["send", "--connect", addr])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = common::within_blocking("`tcpmsg send` to end", move || {
        child.wait_with_output().unwrap()
    });
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The reference reader, reassembling as a peer that knows the size it waits for.
fn reference_read(stream: &mut TcpStream, max: usize, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let mut header = [0u8; 2];
        stream.read_exact(&mut header).unwrap();
        let h = usize::from(u16::from_le_bytes(header));
        assert!(h <= max, "the reference reader refuses chunk length {h}");
        let len = if h == 0 { max } else { h };
        let start = got.len();
        got.resize(start + len, 0);
        stream.read_exact(&mut got[start..]).unwrap();
    }
    assert_eq!(got.len(), n, "the echo is longer than the message");
    got
}

#[test]
fn help_documents_the_options() {
    let out = Command::new(TCPMSG).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "tcpmsg echo",
        "tcpmsg send",
        "tcpmsg proxy",
        "--framing",
        "tcpmessage",
        "panda3d:2",
        "panda3d:4",
        "--max-message-size",
        "--connect-timeout-ms",
        "--first-message-timeout-ms",
        "--idle-timeout-ms",
        "--frame-timeout-ms",
        "--min-frame-rate",
        "--max-connections",
        "--max-connections-per-ip",
        "--connect-rate-per-ip",
        "--read-budget",
        "--queue-bytes",
        "--queue-hard-cap",
        "--write-timeout-ms",
        "--read-budget-per-ip",
        "--control-rate",
        "--half-close",
        "--unprotected",
        "--pending-bytes",
        "--tls-cert",
        "--tls-key",
        "--tls-client-ca",
        "--websocket",
        "--ws-origin",
        "--proxy-protocol",
        "--proxy-trusted",
        "--proxy-serve-direct",
        "--ws-max-fragments",
        "--handshake-timeout-ms",
        "--tls",
        "--ca",
        "--client-cert",
        "wss://",
    ] {
        assert!(help.contains(needle), "--help does not mention {needle}");
    }
    let bad = Command::new(TCPMSG).args(["echo"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8(bad.stderr).unwrap().contains("--listen"));
}

#[test]
fn echo_and_send() {
    let (_echo, addr) = echo(&[]);
    let input = "00\n0102 0304\nDEADbeef\n";
    let (ok, out, err) = send(&addr.to_string(), &[], input);
    assert!(ok, "{err}");
    assert_eq!(out, "00\n01020304\ndeadbeef\n");
}

#[test]
fn send_fails_clearly() {
    // Nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (ok, _, err) = send(&format!("127.0.0.1:{port}"), &[], "00\n");
    assert!(!ok);
    assert!(err.contains("cannot connect to 127.0.0.1"), "{err}");

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let (ok, _, err) = send(&addr, &["--reply-timeout-ms", "300"], "0102\n");
    assert!(!ok);
    assert!(err.contains("no answer"), "{err}");

    // Bad input.
    let (_echo, echo_addr) = echo(&[]);
    let (ok, _, err) = send(&echo_addr.to_string(), &[], "xyz\n");
    assert!(!ok);
    assert!(err.contains("line 1"), "{err}");
}

/// A peer using the reference framing (its writer: 0 for every full chunk) talks to
/// `tcpmsg echo`, message sizes from 1 to 200,000 bytes including exact multiples of the
/// maximum size; it reads the echo as the reference reader does.
#[test]
fn echo_interoperates_with_the_reference_framing() {
    let (_echo, addr) = echo(&[]);
    let mut peer = TcpStream::connect(addr).unwrap();
    // Turns a hang into a failure.
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let max = 0xFFFF;
    let mut sizes: Vec<usize> = (1..=64).collect();
    for k in 1..=3 {
        sizes.extend([k * max - 1, k * max, k * max + 1]);
    }
    sizes.extend([1000, 4096, 100_000, 199_999, 200_000]);
    for n in sizes {
        let msg = pattern(n, n as u8);
        peer.write_all(&reference_write(&msg, max)).unwrap();
        let back = reference_read(&mut peer, max, n);
        assert!(back == msg, "size {n}");
    }
}

/// With a small maximum size, every size from 1 to a few multiples of it.
#[test]
fn echo_with_a_small_max_message_size() {
    let max = 7;
    let (_echo, addr) = echo(&["--max-message-size", "7", "--chunk-wait-ms", "30"]);
    let mut peer = TcpStream::connect(addr).unwrap();
    // Turns a hang into a failure.
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    for n in 1..=4 * max + 1 {
        let msg = pattern(n, 3);
        peer.write_all(&reference_write(&msg, max)).unwrap();
        assert!(reference_read(&mut peer, max, n) == msg, "size {n}");
    }
}

/// `tcpmsg send` against an echo server that uses the reference framing: it answers each
/// chunk it reads (the reference reader does not reassemble) with the reference writer.
#[test]
fn send_interoperates_with_a_reference_echo_server() {
    let max = 0xFFFF;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        loop {
            let mut header = [0u8; 2];
            if s.read_exact(&mut header).is_err() {
                return;
            }
            let h = usize::from(u16::from_le_bytes(header));
            let len = if h == 0 { max } else { h };
            let mut chunk = vec![0u8; len];
            s.read_exact(&mut chunk).unwrap();
            s.write_all(&reference_write(&chunk, max)).unwrap();
        }
    });
    let sizes = [1usize, 100, 65534, 65535, 65536, 131070, 131071, 200_000];
    let input: String = sizes.iter().map(|&n| hex(&pattern(n, 1)) + "\n").collect();
    let (ok, out, err) = send(&addr.to_string(), &[], &input);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), sizes.len());
    for (line, n) in lines.iter().zip(sizes) {
        assert!(*line == hex(&pattern(n, 1)), "size {n}");
    }
    server.join().unwrap();
}

#[test]
fn proxy_forwards_both_ways_and_prints_the_traffic() {
    let (_echo, echo_addr) = echo(&[]);
    let (_proxy, proxy_addr, out) = start_listening(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &echo_addr.to_string(),
    ]);
    let (ok, answer, err) = send(&proxy_addr.to_string(), &[], "0a0b\n");
    assert!(ok, "{err}");
    assert_eq!(answer, "0a0b\n");
    let (out, to_upstream) = line_of(out, "the proxy's line for the request");
    let (_out, to_client) = line_of(out, "the proxy's line for the answer");
    let to_upstream: Vec<&str> = to_upstream.split_whitespace().collect();
    let to_client: Vec<&str> = to_client.split_whitespace().collect();
    assert_eq!(to_upstream[0], "->");
    assert_eq!(&to_upstream[2..], ["2", "0a0b"]);
    assert_eq!(to_client[0], "<-");
    assert_eq!(&to_client[2..], ["2", "0a0b"]);
    assert_eq!(to_upstream[1], to_client[1], "the same client both ways");
}

/// `tcpmsg echo`, and `tcpmsg proxy` in front of it with the link conditioner's `options`;
/// the two processes, the proxy's address and its stdout (kept open, as its lines go there).
fn conditioned_proxy(options: &[&str]) -> (Proc, Proc, SocketAddr, Stdout) {
    let (echo, echo_addr) = echo(&["--unprotected"]);
    let echo_addr = echo_addr.to_string();
    let mut args = vec!["proxy", "--listen", "127.0.0.1:0", "--connect", &echo_addr];
    args.extend(options);
    let (proxy, proxy_addr, out) = start_listening(&args);
    (echo, proxy, proxy_addr, out)
}

/// `tcpmsg proxy`'s link conditioner, black-box: 100 ms each way and 1 Mbit/s each way
/// between a client and the proxy, in front of `tcpmsg echo`. The figures are printed; the
/// test asserts what a conditioner that does nothing cannot meet (a round trip of at least
/// 200 ms, and no more than 1 Mbit/s), never an upper bound on time.
#[test]
fn proxy_link_conditioner_delays_and_caps_the_link() {
    let (_echo, _proxy, proxy_addr, _out) = conditioned_proxy(&[
        "--unprotected",
        "--delay-ms",
        "100",
        "--bandwidth",
        "1000000",
    ]);
    let mut stream = TcpStream::connect(proxy_addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    // The round trip of a small message, the least of five.
    let mut rtts = Vec::new();
    for i in 0..5u8 {
        let msg = pattern(32, i);
        let started = std::time::Instant::now();
        stream.write_all(&reference_write(&msg, 65535)).unwrap();
        assert_eq!(reference_read(&mut stream, 65535, 32), msg);
        rtts.push(started.elapsed());
    }
    let rtt = *rtts.iter().min().unwrap();
    assert!(
        rtt >= Duration::from_millis(200),
        "round trip {rtt:?}: the delay was not applied"
    );
    // 256 KiB out and back in 4 KiB messages, all sent at once: each direction carries
    // 256 KiB (and 2 bytes of header per message) at 1 Mbit/s.
    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| pattern(4096, i)).collect();
    let started = std::time::Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let to_send = msgs.clone();
    let sender = std::thread::spawn(move || {
        for m in &to_send {
            writer.write_all(&reference_write(m, 65535)).unwrap();
        }
    });
    for m in &msgs {
        assert_eq!(&reference_read(&mut stream, 65535, 4096), m);
    }
    let took = started.elapsed();
    sender.join().unwrap();
    let bits = (64 * (4096 + 2) * 8) as f64;
    let rate = bits / (took - rtt).as_secs_f64();
    println!(
        "conditioner: asked 200 ms and 1 Mbit/s; measured a round trip of {rtt:?} (least of {rtts:?}) and {:.3} Mbit/s ({took:?} for 256 KiB each way)",
        rate / 1e6
    );
    assert!(
        rate <= 1.0e6 * 1.01,
        "{rate:.0} bit/s through a 1 Mbit/s cap: the cap was not applied"
    );
}

/// `--reset-after-bytes`: the client's connection ends with a real RST once that many bytes
/// crossed, in the middle of its message.
#[test]
fn proxy_link_conditioner_resets_with_a_real_rst() {
    let (_echo, _proxy, proxy_addr, _out) = conditioned_proxy(&["--reset-after-bytes", "10"]);
    let mut stream = TcpStream::connect(proxy_addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(&reference_write(&pattern(40, 1), 65535))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = match stream.read(&mut buf) {
        Ok(0) => panic!("the connection ended with a FIN, not a reset"),
        Ok(_) => panic!("an answer came through a connection reset after 10 bytes"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
}

#[test]
fn panda3d_framings() {
    for (framing, n) in [("panda3d:2", 65535usize), ("panda3d:4", 1 << 20)] {
        let (_echo, addr) = echo(&["--framing", framing]);
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // Turns a hang into a failure.
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let msg = pattern(n, 9);
        let header: Vec<u8> = if framing == "panda3d:2" {
            (n as u16).to_le_bytes().to_vec()
        } else {
            (n as u32).to_le_bytes().to_vec()
        };
        peer.write_all(&header).unwrap();
        peer.write_all(&msg).unwrap();
        let mut back_header = vec![0u8; header.len()];
        peer.read_exact(&mut back_header).unwrap();
        assert_eq!(back_header, header);
        let mut back = vec![0u8; n];
        peer.read_exact(&mut back).unwrap();
        assert!(back == msg, "{framing}");
    }
    // And send speaks them too.
    let (_echo, addr) = echo(&["--framing", "panda3d:4"]);
    let (ok, out, err) = send(&addr.to_string(), &["--framing", "panda3d:4"], "cafe\n");
    assert!(ok, "{err}");
    assert_eq!(out, "cafe\n");
}

/// `echo` and `proxy` against hostile peers and a stalled upstream, while a well-behaved
/// client checks that it is still served. No test asserts a time; the read time-outs only
/// turn a hang into a failure.
mod hostile {
    use std::thread;

    use super::*;

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
    /// (a loop that waited on the attacker would serve nobody: it never leaves by itself).
    #[test]
    fn echo_keeps_serving_while_a_peer_never_reads() {
        // Cut once the server has been unable to write to it for 500 ms (15 s by default).
        let (_p, addr, _out) = start_listening(&[
            "echo",
            "--listen",
            "127.0.0.1:0",
            "--write-timeout-ms",
            "500",
        ]);
        let attacker = thread::spawn(move || {
            let mut a = connect(addr);
            // A write that hangs turns into an error here, told apart below.
            a.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
            let wire = frame(&vec![7u8; 60_000]);
            loop {
                if let Err(e) = a.write_all(&wire) {
                    return e;
                }
            }
        });
        // Long enough for the attacker's echoes to fill every buffer on the way.
        thread::sleep(Duration::from_millis(300));
        round_trips(addr, 100);
        let ended = attacker.join().unwrap();
        assert!(
            !matches!(
                ended.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the attacker was not cut: {ended}"
        );
    }

    /// Sizes from 1 to 65534 bytes, most of them small (as requests are), a tenth up to the
    /// largest one chunk holds.
    fn size(i: usize) -> usize {
        let x = (i.wrapping_mul(2654435761) >> 7) % 1000;
        if x < 900 {
            1 + x * 2
        } else {
            1 + (x - 900) * 65533 / 99
        }
    }

    /// 51 clients, each writing 400 messages at once while it reads its echoes, every echo
    /// compared byte for byte: a client that pipelines is served, never cut.
    fn pipelined_bursts(extra: &[&str]) {
        let mut args = vec!["echo", "--listen", "127.0.0.1:0"];
        args.extend(extra);
        let (_p, addr, _out) = start_listening(&args);
        let clients: Vec<_> = (0..51usize)
            .map(|c| {
                thread::spawn(move || {
                    let s = connect(addr);
                    let messages: Vec<Vec<u8>> = (0..400)
                        .map(|i| pattern(size(c * 400 + i), i as u8))
                        .collect();
                    let wire: Vec<u8> = messages.iter().flat_map(|m| frame(m)).collect();
                    let mut w = s.try_clone().unwrap();
                    let writer = thread::spawn(move || w.write_all(&wire));
                    let mut r = s;
                    for (i, m) in messages.iter().enumerate() {
                        let mut header = [0u8; 2];
                        r.read_exact(&mut header).unwrap_or_else(|e| {
                            panic!("client {c}: cut before echo {i} of 400: {e}")
                        });
                        assert_eq!(usize::from(u16::from_le_bytes(header)), m.len());
                        let mut back = vec![0u8; m.len()];
                        r.read_exact(&mut back).unwrap();
                        assert!(back == *m, "client {c}: echo {i} differs");
                    }
                    writer.join().unwrap().unwrap();
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        round_trips(addr, 10);
    }

    #[test]
    fn echo_serves_pipelined_bursts_with_its_defaults() {
        pipelined_bursts(&[]);
    }

    #[test]
    fn echo_serves_pipelined_bursts_unprotected() {
        pipelined_bursts(&["--unprotected"]);
    }

    /// One-byte WebSocket fragments: the message is refused with a close frame (1008), and a
    /// well-behaved WebSocket client is served meanwhile.
    #[test]
    fn echo_refuses_a_websocket_fragment_flood() {
        let (_p, addr, _out) =
            start_listening(&["echo", "--listen", "127.0.0.1:0", "--websocket", "/"]);
        let mut s = connect(addr);
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        // A 64 KiB message as one-byte fragments, masked with a zero key.
        let mut flood = Vec::new();
        for i in 0..65535u32 {
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            let fin = if i == 65534 { 0x80 } else { 0 };
            flood.extend_from_slice(&[opcode | fin, 0x81, 0, 0, 0, 0, i as u8]);
        }
        let writer = {
            let mut w = s.try_clone().unwrap();
            thread::spawn(move || {
                let _ = w.write_all(&flood);
            })
        };
        let (ok, out, err) = send(&format!("ws://{addr}/"), &[], "0a0b\n");
        assert!(ok, "{err}");
        assert_eq!(out, "0a0b\n");
        let mut back = Vec::new();
        let _ = s.read_to_end(&mut back);
        // The close frame: opcode 8, code 1008.
        assert!(
            back.windows(4)
                .any(|w| w[0] == 0x88 && w[2..4] == 1008u16.to_be_bytes()),
            "no close frame with code 1008 in {back:?}"
        );
        writer.join().unwrap();
    }

    /// A crowd that trickles bytes and one that says nothing are cut by the time-outs given on
    /// the command line, while the good client is served.
    #[test]
    fn echo_cuts_a_slowloris_crowd() {
        let (_p, addr, _out) = start_listening(&[
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

    /// Through the link conditioner, a crowd that says nothing is cut by the proxy's
    /// first-message time-out as it is without one, and the conditioner's relay lets go of
    /// each connection when the proxy's side ends: the proxy's descriptors come back while the
    /// clients still hold their sockets open. A well-behaved client is served meanwhile.
    #[test]
    fn conditioned_proxy_cuts_a_silent_crowd_and_lets_go() {
        let (_echo, proxy, addr, _out) =
            conditioned_proxy(&["--delay-ms", "1", "--first-message-timeout-ms", "300"]);
        let before = proxy.open_fds();
        let mut crowd: Vec<TcpStream> = (0..20).map(|_| connect(addr)).collect();
        round_trips(addr, 5);
        for (i, s) in crowd.iter_mut().enumerate() {
            assert!(was_closed(s), "silent client {i} was not cut");
        }
        // The clients keep their sockets; the proxy must not keep its ends of them.
        let fds = proxy.open_fds_settled(before);
        assert!(
            fds <= before,
            "{fds} descriptors open in the proxy with its silent clients cut, {before} before"
        );
        drop(crowd);
    }

    /// Connections that send a message and reset, while another client never reads and fills
    /// its queue: the descriptors are released, and the good client is served.
    #[test]
    fn echo_releases_descriptors_under_reset_churn() {
        let (p, addr, _out) = start_listening(&["echo", "--listen", "127.0.0.1:0"]);
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
        let fds = p.open_fds_settled(before + 8);
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
        let (_p, addr, _out) = start_listening(&[
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
        let (_p, addr, _stdout_never_read) = start_listening(&[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--connect",
            &up_addr.to_string(),
        ]);
        // 4000 messages print about 1 MB of lines: far more than a pipe holds.
        round_trips(addr, 4000);
    }
}

/// echo over TLS with client certificates; send over TLS, refused without its certificate
/// and with a CA that does not know the server.
#[test]
fn echo_and_send_over_tls() {
    let pki = certs::pki("tcpmsg-tls");
    let path = |p: std::path::PathBuf| p.display().to_string();
    let (cert, key) = pki.server();
    let (ccert, ckey) = pki.client();
    let (cert, key, ca, ccert, ckey) = (
        path(cert),
        path(key),
        path(pki.ca()),
        path(ccert),
        path(ckey),
    );
    let (_echo, addr) = echo(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca,
    ]);
    let target = format!("localhost:{}", addr.port());
    let (ok, out, err) = send(
        &target,
        &["--ca", &ca, "--client-cert", &ccert, "--client-key", &ckey],
        "0102\nabcdef\n",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "0102\nabcdef\n");
    // A server certificate nobody told us to trust.
    let (ucert, ukey) = pki.untrusted();
    let (_other, other) = echo(&["--tls-cert", &path(ucert), "--tls-key", &path(ukey)]);
    let (ok, _, err) = send(&other.to_string(), &["--ca", &ca], "00\n");
    assert!(!ok);
    assert!(err.contains("TLS handshake failed"), "{err}");
}

/// echo over WebSocket, send to its ws:// URL; and proxy bridging WebSocket clients to a
/// plain-TCP echo, printing the traffic as it does for TCP.
#[test]
fn websocket_echo_and_a_proxy_that_bridges_transports() {
    let (_ws_echo, addr) = echo(&["--websocket", "/echo"]);
    let (ok, out, err) = send(&format!("ws://{addr}/echo"), &[], "0a0b\n");
    assert!(ok, "{err}");
    assert_eq!(out, "0a0b\n");

    let (_plain, plain) = echo(&[]);
    let (_proxy, proxy, lines) = start_listening(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--websocket",
        "/ws",
        "--connect",
        &plain.to_string(),
    ]);
    let (ok, out, err) = send(&format!("ws://{proxy}/ws"), &[], "c0ffee\n");
    assert!(ok, "{err}");
    assert_eq!(out, "c0ffee\n");
    let (_lines, line) = line_of(lines, "the proxy's line");
    assert!(
        line.starts_with("-> ") && line.trim_end().ends_with(" 3 c0ffee"),
        "{line}"
    );
}

/// The protocol of the `--schema` tests: a login, a move, and the catch-all.
mod lobby {
    use connhandler::{Message, Peer};

    #[derive(Message, Debug, Clone, PartialEq)]
    #[wire(endian = "big")]
    pub enum Up {
        #[wire(id = 1)]
        Login { name: String, level: u32 },
        #[wire(id = 2)]
        Move(i16, i16),
        #[wire(catch_all)]
        Other(u16, bytes::Bytes),
    }

    #[derive(Peer, Default)]
    #[peer(recv = Up, send = Up, name = "lobby")]
    pub struct Player;

    /// The document, written to a file of the test's own.
    pub fn document(test: &str, framing: connhandler::schema::FramingSpec) -> String {
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("tcpmsg-{test}.protocol.json"));
        std::fs::write(
            &path,
            connhandler::schema::Protocol::of::<Player>(framing).to_json(),
        )
        .unwrap();
        path.display().to_string()
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
}

/// `send --schema` encodes JSON lines by name; `echo --schema` prints each message it gets
/// as a JSON line and sends it back; `send` prints the answers as JSON lines, and one that
/// does not decode as its hex and the error.
#[test]
fn echo_and_send_speak_messages_with_a_schema() {
    use connhandler::schema::FramingSpec;
    let doc = lobby::document("echo", FramingSpec::tcp_message());
    let (_echo, addr, out) =
        start_listening(&["echo", "--listen", "127.0.0.1:0", "--schema", &doc]);
    let input = concat!(
        r#"{"msg":"Login","fields":{"name":"ann","level":7}}"#,
        "\n",
        r#"{"msg":"Move","fields":{"0":-3,"1":4}}"#,
        "\n",
        r#"{"msg":"Other","fields":{"id":99,"body":"0102"}}"#,
        "\n",
    );
    let (ok, answers, err) = send(&addr.to_string(), &["--schema", &doc], input);
    assert!(ok, "{err}");
    let answers: Vec<serde_json::Value> = answers.lines().map(json).collect();
    assert_eq!(
        answers,
        [
            serde_json::json!({"dir":"<-","msg":"Login","fields":{"name":"ann","level":7}}),
            serde_json::json!({"dir":"<-","msg":"Move","fields":{"0":-3,"1":4}}),
            serde_json::json!({"dir":"<-","msg":"Other","fields":{"id":99,"body":"0102"}}),
        ]
    );
    // The bytes on the wire are the derive's.
    let mut wire = bytes::BytesMut::new();
    connhandler::Encode::encode(
        &lobby::Up::Login {
            name: "ann".into(),
            level: 7,
        },
        &mut wire,
    );
    assert_eq!(hex(&wire), "00010003616e6e00000007");
    // What echo printed.
    let (out, first) = line_of(out, "echo's line for the login");
    let first = json(&first);
    assert_eq!(first["dir"], "->");
    assert_eq!(first["msg"], "Login");
    assert_eq!(first["fields"]["name"], "ann");
    let (_out, _) = line_of(out, "echo's line for the move");
}

/// `proxy --schema` prints both directions decoded while it forwards the same bytes; a
/// message that does not decode is printed as hex with the error and forwarded too.
#[test]
fn proxy_prints_messages_with_a_schema() {
    use connhandler::schema::FramingSpec;
    let doc = lobby::document("proxy", FramingSpec::tcp_message());
    let (_echo, echo_addr) = echo(&[]);
    let (_proxy, proxy_addr, out) = start_listening(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &echo_addr.to_string(),
        "--schema",
        &doc,
    ]);
    // A login, then bytes that are no message of the document (a Move cut short).
    let (ok, answers, err) = send(
        &proxy_addr.to_string(),
        &[],
        "00010003616e6e00000007\n00020001\n",
    );
    assert!(ok, "{err}");
    assert_eq!(answers, "00010003616e6e00000007\n00020001\n");
    let mut out = out;
    let mut lines = Vec::new();
    for what in ["login ->", "login <-", "cut move ->", "cut move <-"] {
        let (o, line) = line_of(out, what);
        out = o;
        lines.push(json(&line));
    }
    assert_eq!(lines[0]["dir"], "->");
    assert_eq!(lines[0]["msg"], "Login");
    assert_eq!(lines[0]["fields"]["level"], 7);
    assert_eq!(lines[1]["dir"], "<-");
    assert_eq!(lines[1]["msg"], "Login");
    assert_eq!(lines[0]["client"], lines[1]["client"]);
    for cut in &lines[2..] {
        assert_eq!(cut["hex"], "00020001", "{cut}");
        assert_eq!(cut["size"], 4);
        assert!(
            cut["error"].as_str().unwrap().contains("Up.Move.1"),
            "{cut}"
        );
    }
}

/// Bad JSON and unknown names are errors with the line's number and a non-zero exit, not a
/// panic; nothing is sent for them.
#[test]
fn send_with_a_schema_refuses_bad_lines_clearly() {
    use connhandler::schema::FramingSpec;
    let doc = lobby::document("bad", FramingSpec::tcp_message());
    let (_echo, addr) = echo(&[]);
    for (input, error) in [
        ("{not json\n", "line 1: not JSON"),
        (
            r#"{"msg":"Logout","fields":{}}"#,
            "line 1: `Logout` is not a message of Up: one of Login, Move, Other",
        ),
        (
            r#"{"msg":"Move","fields":{"0":1}}"#,
            "line 1: Up.Move.1: missing",
        ),
        (
            r#"{"msg":"Move","fields":{"0":40000,"1":0}}"#,
            "line 1: Up.Move.0: 40000 is not an i16",
        ),
    ] {
        let (ok, out, err) = send(
            &addr.to_string(),
            &["--schema", &doc],
            &format!("{input}\n"),
        );
        assert!(!ok, "{input}: {out}");
        assert!(err.contains(error), "{input}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (ok, _, err) = send(&addr.to_string(), &["--schema", "/nonexistent.json"], "");
    assert!(!ok);
    assert!(err.contains("`--schema /nonexistent.json`"), "{err}");
}

/// `gen` writes every language's peers from the document alone: the same files the library
/// generates, named after the protocol.
#[test]
fn gen_writes_the_peers_of_a_document() {
    use connhandler::schema::{csharp, python, typescript, wireshark, FramingSpec, Protocol};
    let doc = lobby::document("gen", FramingSpec::panda3d(2));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcpmsg-gen");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(TCPMSG)
        .args(["gen", "--schema", &doc, "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let protocol = Protocol::of::<lobby::Player>(FramingSpec::panda3d(2));
    let ts = typescript::generate(&protocol);
    for (file, text) in [
        ("lobby.py", python::generate(&protocol)),
        ("lobby.ts", ts.ts),
        ("lobby.js", ts.js),
        ("lobby.d.ts", ts.d_ts),
        ("Lobby.cs", csharp::generate(&protocol)),
        ("lobby.lua", wireshark::generate(&protocol)),
    ] {
        let path = dir.join(file);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            text,
            "{file}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&path.display().to_string()));
    }
    let out = Command::new(TCPMSG).args(["gen"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`gen` needs --schema FILE"));
}
