//! The generated Wireshark dissector in a real tshark (Debian's, Wireshark 4.0 and its Lua
//! 5.2): captures written by the test from the bytes it frames with connhandler's own
//! codecs, cut into TCP segments where the test chooses (no capture rights needed, exact
//! splits), then `tshark -X lua_script:GENERATED` must show every message by name with its
//! fields as sent, an unknown id as such and a malformed message as an expert-info error.

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::{net::Ipv4Addr, path::PathBuf, process::Command};

use bytes::{Bytes, BytesMut};
use connhandler::{
    codec::{Panda3dCodec, TcpMessageCodec},
    schema::{keep_generated, wireshark, FramingSpec, Protocol},
    Message, Peer,
};
use tokio_util::codec::Encoder;

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Room {
    pub name: String,
    pub players: Vec<u32>,
}

/// What clients send.
#[derive(Message, Debug, Clone, PartialEq)]
#[wire(endian = "big")]
pub enum Up {
    #[wire(id = 1)]
    Login { name: String, level: u32 },
    #[wire(id = 2)]
    Move(i16, i16),
    #[wire(id = 3)]
    Chat {
        text: String,
        to: Option<u64>,
        tags: Vec<String>,
    },
    #[wire(catch_all)]
    Other(u16, Bytes),
}

/// What the server sends: no catch-all, so an unknown id is an error.
#[derive(Message, Debug, Clone, PartialEq)]
pub enum Down {
    #[wire(id = 1)]
    Welcome { player: u64, room: Room, ratio: f32 },
    #[wire(id = 2)]
    Kicked { reason: String },
}

#[derive(Peer, Default)]
#[peer(recv = Up, send = Down, name = "arena")]
struct Arena;

/// A TCP connection's packets, as a capture file: the handshake, then each segment as the
/// test cuts it, sequence numbers and acknowledgements kept right.
struct Capture {
    packets: Vec<Vec<u8>>,
    client: (Ipv4Addr, u16),
    server: (Ipv4Addr, u16),
    /// The next sequence number of the client and of the server.
    seq: [u32; 2],
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

impl Capture {
    fn new(server_port: u16) -> Capture {
        let mut c = Capture {
            packets: Vec::new(),
            client: (Ipv4Addr::new(10, 0, 0, 1), 40000),
            server: (Ipv4Addr::new(10, 0, 0, 2), server_port),
            seq: [1000, 5000],
        };
        c.packet(true, SYN, &[]);
        c.seq[0] += 1;
        c.packet(false, SYN | ACK, &[]);
        c.seq[1] += 1;
        c.packet(true, ACK, &[]);
        c
    }

    /// One segment from the client (`from_client`) or the server.
    fn segment(&mut self, from_client: bool, payload: &[u8]) {
        self.packet(from_client, PSH | ACK, payload);
        self.seq[usize::from(!from_client)] += payload.len() as u32;
    }

    /// `bytes` from one side, cut at `cuts` (offsets into it).
    fn send(&mut self, from_client: bool, bytes: &[u8], cuts: &[usize]) {
        let mut at = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            if cut > at {
                self.segment(from_client, &bytes[at..cut]);
                at = cut;
            }
        }
    }

    fn packet(&mut self, from_client: bool, flags: u8, payload: &[u8]) {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        let (seq, ack) = if from_client {
            (self.seq[0], self.seq[1])
        } else {
            (self.seq[1], self.seq[0])
        };
        let mut tcp = Vec::new();
        tcp.extend(src.1.to_be_bytes());
        tcp.extend(dst.1.to_be_bytes());
        tcp.extend(seq.to_be_bytes());
        tcp.extend(if flags & ACK != 0 { ack } else { 0 }.to_be_bytes());
        tcp.extend([5 << 4, flags]);
        tcp.extend(65535u16.to_be_bytes());
        tcp.extend([0, 0, 0, 0]);
        tcp.extend(payload);
        let mut ip = vec![0x45, 0];
        ip.extend(((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
        ip.extend(src.0.octets());
        ip.extend(dst.0.octets());
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        frame.extend(ip);
        frame.extend(tcp);
        self.packets.push(frame);
    }

    fn write(&self, path: &std::path::Path) {
        let mut out = Vec::new();
        out.extend(0xa1b2_c3d4u32.to_le_bytes());
        out.extend(2u16.to_le_bytes());
        out.extend(4u16.to_le_bytes());
        out.extend([0; 8]);
        out.extend(262_144u32.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        for (i, p) in self.packets.iter().enumerate() {
            out.extend((1_700_000_000 + i as u32).to_le_bytes());
            out.extend(0u32.to_le_bytes());
            out.extend((p.len() as u32).to_le_bytes());
            out.extend((p.len() as u32).to_le_bytes());
            out.extend(p);
        }
        std::fs::write(path, out).unwrap();
    }
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wireshark");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The dissector of `protocol`, written where tshark reads it; the golden copy of the
/// TcpMessage one is kept in `tests/golden/`.
fn dissector(name: &str, protocol: &Protocol) -> PathBuf {
    let lua = wireshark::generate(protocol);
    let path = dir().join(format!("{name}.lua"));
    std::fs::write(&path, &lua).unwrap();
    path
}

/// tshark's per-packet values of `fields` for the capture, with the dissector and prefs;
/// fails on any Lua error.
fn tshark(
    capture: &std::path::Path,
    lua: &std::path::Path,
    prefs: &[&str],
    fields: &[&str],
) -> Vec<String> {
    let mut cmd = Command::new(common::tools::tshark());
    cmd.arg("-r")
        .arg(capture)
        .arg("-X")
        .arg(format!("lua_script:{}", lua.display()))
        .args([
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]);
    for p in prefs {
        cmd.args(["-o", p]);
    }
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("Lua"),
        "tshark failed ({}):\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The packets tshark shows a message in, as `fields` values joined by `|`.
fn shown(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.split('|').next().is_some_and(|m| !m.is_empty()))
        .collect()
}

fn framed<F: Encoder<Up> + Encoder<Down>>(
    codec: &mut F,
    up: Option<Up>,
    down: Option<Down>,
) -> Vec<u8>
where
    <F as Encoder<Up>>::Error: std::fmt::Debug,
    <F as Encoder<Down>>::Error: std::fmt::Debug,
{
    let mut dst = BytesMut::new();
    if let Some(up) = up {
        codec.encode(up, &mut dst).unwrap();
    }
    if let Some(down) = down {
        codec.encode(down, &mut dst).unwrap();
    }
    dst.to_vec()
}

#[test]
fn tshark_shows_tcpmessage_streams_message_by_message() {
    // Chunks of 16 bytes, written as the reference writer does (a final full chunk marked
    // 0), so that messages of several chunks and exact multiples are small.
    let spec = FramingSpec::TcpMessage {
        max_message_size: 16,
        explicit_final_chunk: false,
    };
    let protocol = Protocol::of::<Arena>(spec);
    let lua = dissector("arena", &protocol);
    keep_generated(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/arena.lua"),
        &wireshark::generate(&protocol),
    )
    .unwrap();
    let mut codec = TcpMessageCodec::builder()
        .max_message_size(16)
        .explicit_final_chunk(false)
        .new_codec()
        .unwrap();
    let login = framed(
        &mut codec,
        Some(Up::Login {
            name: "ann".into(),
            level: 7,
        }),
        None,
    );
    // 16 bytes exactly: one full chunk marked 0, then nothing.
    let exact = framed(
        &mut codec,
        Some(Up::Chat {
            text: "greetings".into(),
            to: None,
            tags: vec![],
        }),
        None,
    );
    assert_eq!(exact.len(), 18, "{exact:?}");
    assert_eq!(&exact[..2], &[0, 0]);
    // Several chunks.
    let long = framed(
        &mut codec,
        Some(Up::Chat {
            text: "a longer line, over three chunks".into(),
            to: None,
            tags: vec!["x".into(), "yz".into()],
        }),
        None,
    );
    let moved = framed(&mut codec, Some(Up::Move(-3, 4)), None);
    let other = framed(
        &mut codec,
        Some(Up::Other(0x99, Bytes::from_static(b"\x01\x02"))),
        None,
    );
    // A Login whose name is not UTF-8.
    let bad = vec![8, 0, 0, 1, 0, 2, 0xff, 0xfe, 0, 0];
    let welcome = framed(
        &mut codec,
        None,
        Some(Down::Welcome {
            player: 1 << 40,
            room: Room {
                name: "blue".into(),
                players: vec![1, 2, 3],
            },
            ratio: 0.5,
        }),
    );
    // An id the client does not know (no catch-all on its side).
    let unknown = vec![3, 0, 9, 0, 0];

    let mut cap = Capture::new(7000);
    // The login split in three segments, one of them in the middle of the name.
    cap.send(true, &login, &[1, 7]);
    // The exact multiple and the long message in one segment; the move split from them.
    let mut both = exact.clone();
    both.extend(&long);
    both.extend(&moved[..3]);
    cap.send(true, &both, &[]);
    cap.send(true, &moved[3..], &[]);
    cap.send(true, &other, &[]);
    cap.send(true, &bad, &[]);
    cap.send(false, &welcome, &[10]);
    cap.send(false, &unknown, &[]);
    let file = dir().join("arena.pcap");
    cap.write(&file);

    let lines = tshark(
        &file,
        &lua,
        &["ch_arena.port:7000"],
        &[
            "ch_arena.msg",
            "ch_arena.Up.Login.name",
            "ch_arena.Up.Login.level",
            "ch_arena.Up.Chat.text",
            "ch_arena.Up.Chat.to",
            "ch_arena.Up.Chat.tags",
            "ch_arena.Up.Move.0",
            "ch_arena.Up.Move.1",
            "ch_arena.Down.Welcome.player",
            "ch_arena.Room.name",
            "ch_arena.Room.players",
            "ch_arena.Down.Welcome.ratio",
            "_ws.expert.message",
        ],
    );
    // A line per packet: the handshake's three, the login's first two segments (held for
    // reassembly), then one per packet that ends a message. The malformed login and the
    // unknown id show no message, only their expert-info errors; the welcome's first
    // segment is held.
    let expected = [
        "Login|ann|7||||||||||",
        "Chat,Chat|||greetings,a longer line, over three chunks||x,yz|||||||",
        "Move||||||-3|4|||||",
        "Other||||||||||||unknown message id 0x99, taken by the catch-all Other",
        "||||||||||||Up.Login.name: invalid UTF-8",
        "||||||||||||",
        "Welcome||||||||1099511627776|blue|1,2,3|0.5|",
        "||||||||||||unknown message id 0x9,Down.id: unknown message id 0x9",
    ];
    assert_eq!(lines.len(), 5 + expected.len(), "{}", lines.join("\n"));
    assert_eq!(&lines[5..], expected, "{}", lines.join("\n"));
}

#[test]
fn tshark_shows_panda3d_datagrams() {
    let protocol = Protocol::of::<Arena>(FramingSpec::panda3d(2));
    let lua = dissector("arena_panda", &protocol);
    let mut codec = Panda3dCodec::new();
    let mut stream = framed(
        &mut codec,
        Some(Up::Login {
            name: "bob".into(),
            level: 1,
        }),
        None,
    );
    stream.extend(framed(&mut codec, Some(Up::Move(1, -1)), None));
    let mut cap = Capture::new(7001);
    // Both datagrams, cut inside the first one's header and inside the second's body.
    cap.send(true, &stream, &[1, stream.len() - 2]);
    let file = dir().join("arena_panda.pcap");
    cap.write(&file);
    let lines = tshark(
        &file,
        &lua,
        &["ch_arena.port:7001"],
        &[
            "ch_arena.msg",
            "ch_arena.Up.Login.name",
            "ch_arena.Up.Move.1",
        ],
    );
    assert_eq!(
        shown(&lines),
        ["Login|bob|", "Move||-1"],
        "{}",
        lines.join("\n")
    );
}

/// Who the server is to a client of `Arena`.
#[derive(Peer, Default)]
#[peer(recv = Down, send = Up, name = "arena-client")]
struct ArenaClient;

/// A TCP relay that records what passes, in order, for a capture: (from the client, bytes).
async fn recording_relay(
    server: std::net::SocketAddr,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<(bool, Vec<u8>)>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = log.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = tokio::net::TcpStream::connect(server).await.unwrap();
        let (mut cr, mut cw) = client.into_split();
        let (mut ur, mut uw) = upstream.into_split();
        let up_log = record.clone();
        let up = tokio::spawn(async move {
            let mut buf = vec![0; 65536];
            while let Ok(n) = cr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                up_log.lock().unwrap().push((true, buf[..n].to_vec()));
                if uw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = uw.shutdown().await;
        });
        let mut buf = vec![0; 65536];
        while let Ok(n) = ur.read(&mut buf).await {
            if n == 0 {
                break;
            }
            record.lock().unwrap().push((false, buf[..n].to_vec()));
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
        let _ = up.await;
    });
    (addr, log)
}

/// Over TLS, with the key log file the server's TLS settings write (`key_log_file`), tshark
/// decrypts the capture and the dissector shows the messages inside.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_reads_tls_with_the_servers_key_log() {
    use connhandler::{
        central,
        tls::{TlsClient, TlsServer},
        Event, Incoming, Outgoing,
    };
    let pki = certs::pki("wireshark");
    let (cert, key) = pki.server();
    let keylog = dir().join("tls-keys.log");
    let _ = std::fs::remove_file(&keylog);
    let (tx, mut events) = central::<Event<Arena>>(64);
    let server = Incoming::<Arena>::builder("127.0.0.1:0")
        .tls(
            TlsServer::from_pem_files(&cert, &key)
                .unwrap()
                .key_log_file(&keylog)
                .unwrap(),
        )
        .listen(&tx)
        .await
        .unwrap();
    let (relay, log) = recording_relay(server.local_addr()).await;
    let (ctx, mut client_events) = central::<Event<ArenaClient>>(64);
    let (out, peer) = Outgoing::<ArenaClient>::builder(relay)
        .tls(
            TlsClient::with_ca_file(pki.ca())
                .unwrap()
                .server_name("localhost"),
        )
        .connect(&ctx)
        .await
        .unwrap();
    peer.send(Up::Login {
        name: "cy".into(),
        level: 3,
    })
    .unwrap();
    // The server answers the login with a welcome; the client waits for it.
    loop {
        match common::within("the login", events.recv()).await.unwrap() {
            Event::Message(p, Up::Login { name, .. }) => {
                assert_eq!(name, "cy");
                p.send(Down::Kicked {
                    reason: "full".into(),
                })
                .unwrap();
                break;
            }
            _ => continue,
        }
    }
    loop {
        match common::within("the answer", client_events.recv())
            .await
            .unwrap()
        {
            Event::Message(_, Down::Kicked { reason }) => {
                assert_eq!(reason, "full");
                break;
            }
            _ => continue,
        }
    }
    out.shutdown().await;
    server.shutdown().await;
    let mut cap = Capture::new(7443);
    for (from_client, bytes) in log.lock().unwrap().iter() {
        cap.segment(*from_client, bytes);
    }
    let file = dir().join("arena_tls.pcap");
    cap.write(&file);
    assert!(
        std::fs::read_to_string(&keylog)
            .unwrap()
            .contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
        "the key log has no TLS 1.3 secrets"
    );
    let lua = dissector(
        "arena_tls",
        &Protocol::of::<Arena>(FramingSpec::tcp_message()),
    );
    let lines = tshark(
        &file,
        &lua,
        &[
            "ch_arena.tls_port:7443",
            &format!("tls.keylog_file:{}", keylog.display()),
        ],
        &[
            "ch_arena.msg",
            "ch_arena.Up.Login.name",
            "ch_arena.Down.Kicked.reason",
        ],
    );
    assert_eq!(
        shown(&lines),
        ["Login|cy|", "Kicked||full"],
        "{}",
        lines.join("\n")
    );
}

/// Over WebSocket, the dissector takes each binary WebSocket message as one message
/// (Wireshark's HTTP and WebSocket dissectors find the upgrade and the frames).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_reads_websocket_messages() {
    use connhandler::{central, ws::WebSocket, Event, Incoming, Outgoing};
    let (tx, mut events) = central::<Event<Arena>>(64);
    let server = Incoming::<Arena>::builder("127.0.0.1:0")
        .websocket(WebSocket::new().path("/arena"))
        .listen(&tx)
        .await
        .unwrap();
    let (relay, log) = recording_relay(server.local_addr()).await;
    let (ctx, mut client_events) = central::<Event<ArenaClient>>(64);
    let (out, peer) = Outgoing::<ArenaClient>::builder(relay)
        .websocket(WebSocket::new().path("/arena"))
        .connect(&ctx)
        .await
        .unwrap();
    peer.send(Up::Move(7, -7)).unwrap();
    loop {
        if let Event::Message(p, Up::Move(7, -7)) =
            common::within("the move", events.recv()).await.unwrap()
        {
            p.send(Down::Kicked {
                reason: "moved".into(),
            })
            .unwrap();
            break;
        }
    }
    loop {
        if let Event::Message(_, Down::Kicked { .. }) =
            common::within("the answer", client_events.recv())
                .await
                .unwrap()
        {
            break;
        }
    }
    out.shutdown().await;
    server.shutdown().await;
    // Port 80: Wireshark's HTTP dissector sees the upgrade there.
    let mut cap = Capture::new(80);
    for (from_client, bytes) in log.lock().unwrap().iter() {
        cap.segment(*from_client, bytes);
    }
    let file = dir().join("arena_ws.pcap");
    cap.write(&file);
    let lua = dissector("arena_ws", &Protocol::of::<Arena>(FramingSpec::websocket()));
    let lines = tshark(
        &file,
        &lua,
        &["ch_arena.ws_port:80"],
        &[
            "ch_arena.msg",
            "ch_arena.Up.Move.1",
            "ch_arena.Down.Kicked.reason",
        ],
    );
    assert_eq!(
        shown(&lines),
        ["Move|-7|", "Kicked||moved"],
        "{}",
        lines.join("\n")
    );
}
