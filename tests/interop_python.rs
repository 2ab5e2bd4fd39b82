//! Interoperability with a peer that follows the reference TcpMessage framing and its
//! `<u16 LE id><JSON>` messages (tests/interop/reference_peer.py, standard library only),
//! with messages below, at and above max_message_size.

mod common;

use common::python::{free_port, python3, Peer as PyPeer};
use connhandler::{
    central, codec::TcpMessageCodec, Encode, Event, Incoming, Message, Outgoing, Peer,
};

/// The reference system's internal messages, in JSON mode. A Register is a request its
/// Registered answers, in order (the reference's protocols carry no correlation id).
#[derive(Message, Debug, Clone, PartialEq)]
#[wire(json)]
enum Internal {
    #[wire(id = 0x0101, reply = Internal::Registered)]
    Register {
        name: String,
        payload: String,
        n: u32,
    },
    #[wire(id = 0x0102)]
    Registered {
        name: String,
        payload: String,
        n: u32,
    },
    #[wire(id = 0x0103)]
    Note { n: u32 },
    #[wire(id = 0x0104)]
    Notice { n: u32 },
}

#[derive(Default)]
struct ReferencePeer;

impl Peer for ReferencePeer {
    type Recv = Internal;
    type Send = Internal;
    const NAME: &'static str = "reference";
}

/// The Python peer's messages, generated from this protocol and kept in step with it in the
/// source tree (the peer imports them; it never re-types them).
fn generated() {
    use connhandler::schema::{keep_generated, python, FramingSpec, Protocol};
    static KEPT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    KEPT.get_or_init(|| {
        let protocol = Protocol::of::<ReferencePeer>(FramingSpec::TcpMessage {
            max_message_size: 0xFFFF,
            explicit_final_chunk: false,
        });
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/generated/reference.py");
        keep_generated(path, &python::generate(&protocol))
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

fn codec(max: usize) -> TcpMessageCodec {
    TcpMessageCodec::builder()
        .max_message_size(max)
        .new_codec()
        .unwrap()
}

/// Sizes around every multiple of `max` up to three times it, plus some in between.
fn sizes(max: usize) -> Vec<usize> {
    let mut sizes = vec![60, max / 2];
    for k in 1..=3 {
        sizes.extend([k * max - 1, k * max, k * max + 1]);
    }
    sizes.retain(|&s| s >= 60);
    sizes
}

/// The reference peer as a client; connhandler answers each Register with Registered.
async fn reference_client(max: usize) {
    let (tx, mut central) = central::<Event<ReferencePeer>>(64);
    let server = Incoming::<ReferencePeer>::builder("127.0.0.1:0")
        .framing(codec(max))
        .listen(&tx)
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(event) = central.recv().await {
            if let Event::Message(peer, Internal::Register { name, payload, n }) = event {
                let _ = peer.send(Internal::Registered { name, payload, n });
            }
        }
    });
    let sizes = sizes(max);
    let mut args = vec![
        "client".to_owned(),
        "127.0.0.1".to_owned(),
        server.local_addr().port().to_string(),
        max.to_string(),
    ];
    args.extend(sizes.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        generated();
        let mut peer = PyPeer::spawn(&python3(), "reference_peer.py", &args);
        for s in sizes {
            assert_eq!(peer.line(), format!("ok {s}"));
        }
        peer.success();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_client_small_max() {
    reference_client(1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_client_default_max() {
    reference_client(0xFFFF).await;
}

/// A Register of exactly `size` encoded bytes.
fn register_of_size(size: usize, n: u32) -> Internal {
    let base = Internal::Register {
        name: "peer".into(),
        payload: String::new(),
        n,
    }
    .encoded_len();
    let msg = Internal::Register {
        name: "peer".into(),
        payload: "x".repeat(size - base),
        n,
    };
    assert_eq!(msg.encoded_len(), size);
    msg
}

/// connhandler as the client of a reference server, which answers with the reference
/// writer: its replies that are exact multiples of max_message_size end on a 0 chunk, and
/// connhandler reads them whole because the JSON body tells its own end.
async fn reference_server(max: usize) {
    let port = free_port();
    let args = vec!["server".to_owned(), port.to_string(), max.to_string()];
    let peer = tokio::task::spawn_blocking(move || {
        generated();
        let mut peer = PyPeer::spawn(&python3(), "reference_peer.py", &args);
        assert_eq!(peer.line(), format!("listening on {port}"));
        peer
    })
    .await
    .unwrap();
    let (tx, mut central) = central::<Event<ReferencePeer>>(64);
    let (out, server) = Outgoing::<ReferencePeer>::builder(("127.0.0.1", port))
        .framing(codec(max))
        .connect(&tx)
        .await
        .unwrap();
    for (i, size) in sizes(max).into_iter().enumerate() {
        let Internal::Register { name, payload, n } = register_of_size(size, i as u32) else {
            unreachable!()
        };
        server
            .send(Internal::Register {
                name: name.clone(),
                payload: payload.clone(),
                n,
            })
            .unwrap();
        loop {
            match common::within("reply from the reference server", central.recv()).await {
                Some(Event::Message(_, reply)) => {
                    assert_eq!(
                        reply,
                        Internal::Registered { name, payload, n },
                        "size {size}"
                    );
                    break;
                }
                Some(Event::Connected(_)) => {}
                other => panic!("size {size}: {other:?}"),
            }
        }
    }
    out.shutdown().await;
    tokio::task::spawn_blocking(move || peer.success())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_server_small_max() {
    reference_server(1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_server_default_max() {
    reference_server(0xFFFF).await;
}

/// Requests to a reference peer that answers in order, among ordinary messages both ways:
/// each reply reaches its request, the Notices reach the central queue in order, and no
/// reply does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_a_reference_peer_pair_by_order() {
    let max = 1000;
    let port = free_port();
    let args = vec!["notary".to_owned(), port.to_string(), max.to_string()];
    let peer = tokio::task::spawn_blocking(move || {
        generated();
        let mut peer = PyPeer::spawn(&python3(), "reference_peer.py", &args);
        assert_eq!(peer.line(), format!("listening on {port}"));
        peer
    })
    .await
    .unwrap();
    let (tx, mut central) = central::<Event<ReferencePeer>>(256);
    let (out, server) = Outgoing::<ReferencePeer>::builder(("127.0.0.1", port))
        .framing(codec(max))
        .connect(&tx)
        .await
        .unwrap();
    // Requests of every size around max_message_size, each between two Notes, all sent
    // before any reply is read.
    let sizes = sizes(max);
    let mut replies = Vec::new();
    let mut expected_notices = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let n = i as u32;
        server.send(Internal::Note { n: 1000 + n }).unwrap();
        expected_notices.push(1000 + n);
        replies.push((
            register_of_size(*size, n),
            server.request(register_of_size(*size, n)),
        ));
        expected_notices.push(n);
    }
    for (sent, reply) in replies {
        let Internal::Register { name, payload, n } = sent else {
            unreachable!()
        };
        assert_eq!(
            common::within("a reply", reply).await,
            Ok(Internal::Registered { name, payload, n })
        );
    }
    let mut notices = Vec::new();
    while notices.len() < expected_notices.len() {
        match common::within("a notice", central.recv()).await {
            Some(Event::Connected(_)) => {}
            Some(Event::Message(_, Internal::Notice { n })) => notices.push(n),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(notices, expected_notices);
    out.shutdown().await;
    let mut peer = peer;
    let answered = tokio::task::spawn_blocking(move || {
        let line = peer.line();
        peer.success();
        line
    })
    .await
    .unwrap();
    assert_eq!(answered, format!("answered {}", 2 * sizes.len()));
}
