//! The `tcpmsg` tool, run as a process: echo, send, proxy, and interop with a peer that uses
//! the reference TcpMessage framing (written here from wire-format.md).

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

/// Starts `tcpmsg` with `args`, waits for its `listening on` line, returns it and the address.
fn start_listening(args: &[&str]) -> (Proc, SocketAddr, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(TCPMSG)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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
    let out = child.wait_with_output().unwrap();
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
    let (_proxy, proxy_addr, mut out) = start_listening(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &echo_addr.to_string(),
    ]);
    let (ok, answer, err) = send(&proxy_addr.to_string(), &[], "0a0b\n");
    assert!(ok, "{err}");
    assert_eq!(answer, "0a0b\n");
    let mut to_upstream = String::new();
    out.read_line(&mut to_upstream).unwrap();
    let mut to_client = String::new();
    out.read_line(&mut to_client).unwrap();
    let to_upstream: Vec<&str> = to_upstream.split_whitespace().collect();
    let to_client: Vec<&str> = to_client.split_whitespace().collect();
    assert_eq!(to_upstream[0], "->");
    assert_eq!(&to_upstream[2..], ["2", "0a0b"]);
    assert_eq!(to_client[0], "<-");
    assert_eq!(&to_client[2..], ["2", "0a0b"]);
    assert_eq!(to_upstream[1], to_client[1], "the same client both ways");
}

#[test]
fn panda3d_framings() {
    for (framing, n) in [("panda3d:2", 65535usize), ("panda3d:4", 1 << 20)] {
        let (_echo, addr) = echo(&["--framing", framing]);
        let mut peer = TcpStream::connect(addr).unwrap();
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
