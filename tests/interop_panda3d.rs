//! Interoperability with Panda3D's queued networking (panda3d.core from PyPI, headless),
//! every time the tests run. The peers are in `tests/interop/panda_peer.py`.

mod common;

use bytes::Bytes;
use common::{
    python::{free_port, panda_python, Peer as PyPeer},
    Raw,
};
use connhandler::{
    central,
    codec::{Framing, Panda3dCodec, TcpMessageCodec},
    Event, Incoming, Message, Outgoing, Peer,
};

/// Starts an echo server with `framing`; returns it (the task echoes until dropped).
async fn echo_server<F: Framing>(framing: F) -> Incoming<Raw, F> {
    let (tx, mut central) = central::<Event<Raw>>(1024);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(framing)
        .listen(&tx)
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(event) = central.recv().await {
            if let Event::Message(peer, msg) = event {
                let _ = peer.send(msg);
            }
        }
    });
    server
}

/// Runs the Panda3D client against `port`, which must echo every datagram.
async fn panda_client_echo(port: u16, header: usize, sizes: &[usize]) {
    let python = panda_python();
    let mut args = vec![
        "client_echo".to_owned(),
        "127.0.0.1".to_owned(),
        port.to_string(),
        header.to_string(),
    ];
    args.extend(sizes.iter().map(|n| n.to_string()));
    let sizes = sizes.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python, "panda_peer.py", &args);
        for n in sizes {
            assert_eq!(peer.line(), format!("ok {n}"));
        }
        peer.success();
    })
    .await
    .unwrap();
}

const TWO_BYTE_SIZES: &[usize] = &[1, 2, 3, 100, 1000, 4096, 32768, 65533, 65534, 65535];

/// A Panda3D client (openTCPClientConnection, ConnectionWriter, a QueuedConnectionReader
/// polled in a loop) talks to a connhandler incoming handler using the TcpMessage framing:
/// with Panda3D's default 2-byte header, messages of 1..=65535 bytes are the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panda_client_with_tcpmessage_framing() {
    let server = echo_server(TcpMessageCodec::new()).await;
    panda_client_echo(server.local_addr().port(), 2, TWO_BYTE_SIZES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panda_client_with_the_panda3d_codec() {
    let server = echo_server(Panda3dCodec::new()).await;
    panda_client_echo(server.local_addr().port(), 2, TWO_BYTE_SIZES).await;
    let four = Panda3dCodec::builder().header_size(4).new_codec().unwrap();
    let server = echo_server(four).await;
    panda_client_echo(
        server.local_addr().port(),
        4,
        &[1, 65535, 65536, 300_000, 1 << 20],
    )
    .await;
}

/// A connhandler outgoing handler talks to a Panda3D server (openTCPServerRendezvous,
/// QueuedConnectionListener).
async fn to_panda_server<F: Framing>(header: usize, framing: F, sizes: &[usize]) {
    let python = panda_python();
    let port = free_port();
    let args = vec!["server".to_owned(), port.to_string(), header.to_string()];
    let peer = tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python, "panda_peer.py", &args);
        assert_eq!(peer.line(), format!("listening on {port}"));
        peer
    })
    .await
    .unwrap();
    let (tx, mut central) = central::<Event<Raw>>(64);
    let (out, server) = Outgoing::<Raw>::builder(("127.0.0.1", port))
        .framing(framing)
        .connect(&tx)
        .await
        .unwrap();
    for &n in sizes {
        let msg = Bytes::from(common::pattern(n, n as u8));
        server.send(msg.clone()).unwrap();
        loop {
            match common::within("echo from panda3d", central.recv()).await {
                Some(Event::Message(_, back)) => {
                    assert_eq!(back.len(), n);
                    assert!(back == msg, "size {n}");
                    break;
                }
                Some(Event::Connected(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    out.shutdown().await;
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connhandler_client_to_a_panda_server() {
    to_panda_server(2, TcpMessageCodec::new(), TWO_BYTE_SIZES).await;
    to_panda_server(2, Panda3dCodec::new(), TWO_BYTE_SIZES).await;
    let four = Panda3dCodec::builder().header_size(4).new_codec().unwrap();
    to_panda_server(4, four, &[1, 65535, 65536, 1 << 20]).await;
}

/// A datagram built in Panda3D field by field (addUint16 id, addString, addInt32, addBool,
/// addFloat64, ...) decodes into a derived message; the derived reply reads back in
/// Panda3D with the matching getXxx calls.
#[derive(Message, Debug, Clone, PartialEq)]
enum GameState {
    #[wire(id = 0x2001)]
    State {
        name: String,
        hp: i32,
        alive: bool,
        x: f64,
        level: u8,
        dir: i16,
        speed: f32,
        serial: u64,
        #[wire(len = u32)]
        long: String,
        blob: Bytes,
    },
}

#[derive(Default)]
struct PandaGame;

impl Peer for PandaGame {
    type Recv = GameState;
    type Send = GameState;
    const NAME: &'static str = "panda-game";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_messages_field_by_field() {
    let (tx, mut central) = central::<Event<PandaGame>>(64);
    let server = Incoming::<PandaGame>::builder("127.0.0.1:0")
        .framing(Panda3dCodec::new())
        .listen(&tx)
        .await
        .unwrap();
    let python = panda_python();
    let args = vec![
        "fields".to_owned(),
        "127.0.0.1".to_owned(),
        server.local_addr().port().to_string(),
    ];
    let client = tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python, "panda_peer.py", &args);
        let line = peer.line();
        peer.success();
        line
    });
    let expected = GameState::State {
        name: "bob".into(),
        hp: -5,
        alive: true,
        x: 2.5,
        level: 9,
        dir: -2,
        speed: 0.25,
        serial: 1234567890123,
        long: "long string".into(),
        blob: Bytes::from_static(&[0, 1, 2]),
    };
    loop {
        match common::within("panda3d datagram", central.recv())
            .await
            .unwrap()
        {
            Event::Message(peer, msg) => {
                assert_eq!(msg, expected);
                peer.send(GameState::State {
                    name: "alice".into(),
                    hp: 70000,
                    alive: false,
                    x: -0.125,
                    level: 255,
                    dir: 300,
                    speed: 1.5,
                    serial: u64::MAX,
                    long: "é".into(),
                    blob: Bytes::from_static(&[0xff]),
                })
                .unwrap();
                break;
            }
            Event::Connected(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let reply = client.await.unwrap();
    let expected_reply = r#"{"id": 8193, "name": "alice", "hp": 70000, "alive": false, "x": -0.125, "level": 255, "dir": 300, "speed": 1.5, "serial": 18446744073709551615, "long": "\u00e9", "blob": "ff", "left": 0}"#;
    assert_eq!(reply, expected_reply);
}

/// The same exchange with the Python side generated from the protocol: the message made by
/// the generated module goes out as a Panda3D `Datagram` through `ConnectionWriter`
/// unchanged, and the reply is read from the `NetDatagram` the reader polled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_messages_through_panda_datagrams() {
    use connhandler::schema::{keep_generated, python, FramingSpec, Protocol};
    let module = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/generated/panda_game.py");
    keep_generated(
        &module,
        &python::generate(&Protocol::of::<PandaGame>(FramingSpec::panda3d(2))),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (tx, mut central) = central::<Event<PandaGame>>(64);
    let server = Incoming::<PandaGame>::builder("127.0.0.1:0")
        .framing(Panda3dCodec::new())
        .listen(&tx)
        .await
        .unwrap();
    let python = panda_python();
    let args = vec![
        "generated".to_owned(),
        module.display().to_string(),
        "127.0.0.1".to_owned(),
        server.local_addr().port().to_string(),
    ];
    let client = tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python, "panda_peer.py", &args);
        let line = peer.line();
        peer.success();
        line
    });
    loop {
        match common::within("the generated datagram", central.recv())
            .await
            .unwrap()
        {
            Event::Message(peer, msg) => {
                assert_eq!(
                    msg,
                    GameState::State {
                        name: "bob".into(),
                        hp: -5,
                        alive: true,
                        x: 2.5,
                        level: 9,
                        dir: -2,
                        speed: 0.25,
                        serial: 1234567890123,
                        long: "long string".into(),
                        blob: Bytes::from_static(&[0, 1, 2]),
                    }
                );
                peer.send(GameState::State {
                    name: "alice".into(),
                    hp: 70000,
                    alive: false,
                    x: -0.125,
                    level: 255,
                    dir: 300,
                    speed: 1.5,
                    serial: u64::MAX,
                    long: "é".into(),
                    blob: Bytes::from_static(&[0xff]),
                })
                .unwrap();
                break;
            }
            Event::Connected(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let reply = client.await.unwrap();
    assert_eq!(
        reply,
        r#"{"type": "GameState_State", "name": "alice", "hp": 70000, "alive": false, "x": -0.125, "level": 255, "dir": 300, "speed": 1.5, "serial": 18446744073709551615, "long": "\u00e9", "blob": "ff"}"#
    );
}

/// A broadcast from a connhandler server reaches every connected Panda3D client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_reaches_every_panda_client() {
    const CLIENTS: usize = 5;
    let (tx, mut central) = central::<Event<Raw>>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .framing(Panda3dCodec::new())
        .listen(&tx)
        .await
        .unwrap();
    let python = panda_python();
    let port = server.local_addr().port().to_string();
    let mut peers = Vec::new();
    for _ in 0..CLIENTS {
        let args = vec![
            "broadcast_client".to_owned(),
            "127.0.0.1".to_owned(),
            port.clone(),
        ];
        let python = python.clone();
        peers.push(
            tokio::task::spawn_blocking(move || {
                let mut peer = PyPeer::spawn(&python, "panda_peer.py", &args);
                assert_eq!(peer.line(), "connected");
                peer
            })
            .await
            .unwrap(),
        );
    }
    let mut connected = 0;
    while connected < CLIENTS {
        if let Event::Connected(_) = common::within("connects", central.recv()).await.unwrap() {
            connected += 1;
        }
    }
    let report = server
        .broadcast(&Bytes::from_static(b"hello, all"))
        .unwrap();
    assert_eq!(report.sent, CLIENTS);
    for peer in peers {
        let line = tokio::task::spawn_blocking(move || {
            let mut peer = peer;
            let line = peer.line();
            peer.success();
            line
        })
        .await
        .unwrap();
        assert_eq!(line, "68656c6c6f2c20616c6c");
    }
}
