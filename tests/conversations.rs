//! Conversations on top of messages: request/response (by order and by correlation), the
//! version handshake and heartbeats, with real sockets between connhandler peers and raw
//! peers that misbehave.

mod common;

use std::time::Duration;

use common::{
    events::{expect_connected, expect_disconnected, next_after_connected as next},
    within, RawClient,
};
use connhandler::{
    central,
    talk::{Agree, Handshake, Heartbeat, RequestError, Version},
    testing::net::Network,
    Central, CentralSender, Decode, DisconnectReason, Encode, Event, Incoming, Message, Outgoing,
    Peer, PeerHandle, Retry, Timeout,
};

/// What clients send servers.
#[derive(Message, Debug, PartialEq)]
enum Up {
    #[wire(id = 0x01, hello)]
    Hello {
        #[wire(version)]
        version: String,
    },
    #[wire(id = 0x02, reject)]
    Rejected {
        #[wire(reason)]
        reason: String,
    },
    #[wire(id = 0x03, ping)]
    Ping,
    #[wire(id = 0x04, pong)]
    Pong,
    /// Answered in order.
    #[wire(id = 0x10, reply = Down::Sum)]
    Add(u32, u32),
    /// Answered in any order, by correlation.
    #[wire(id = 0x11, reply = Down::Found, reply = Down::Missing)]
    Find {
        #[wire(correlation)]
        req: u16,
        name: String,
    },
    #[wire(id = 0x12)]
    Note(u32),
    /// The answer to the server's `WhoAreYou`.
    #[wire(id = 0x13)]
    IAm(String),
}

/// What servers send clients.
#[derive(Message, Debug, PartialEq)]
enum Down {
    #[wire(id = 0x81, hello)]
    Hello {
        #[wire(version)]
        version: String,
    },
    #[wire(id = 0x82, reject)]
    Rejected {
        #[wire(reason)]
        reason: String,
    },
    #[wire(id = 0x83, ping)]
    Ping,
    #[wire(id = 0x84, pong)]
    Pong,
    #[wire(id = 0x90)]
    Sum(u32),
    #[wire(id = 0x91)]
    Found {
        #[wire(correlation)]
        req: u16,
        at: u32,
    },
    #[wire(id = 0x92)]
    Missing {
        #[wire(correlation)]
        req: u16,
    },
    #[wire(id = 0x93)]
    Note(u32),
    /// A request the other way: the server asks the client.
    #[wire(id = 0x94, reply = Up::IAm)]
    WhoAreYou,
}

/// A client, as the server sees it.
#[derive(connhandler::Peer, Default)]
#[peer(recv = Up, send = Down, name = "client")]
struct Client;

/// The server, as a client sees it.
#[derive(connhandler::Peer, Default)]
#[peer(recv = Down, send = Up, name = "server")]
struct Server;

/// The server side's central events.
enum ServerEv {
    Net(Event<Client>),
    /// The client's answer to `WhoAreYou`, posted by the request.
    Who(Result<Up, RequestError>),
    /// A held reply is due.
    Release,
}

impl From<Event<Client>> for ServerEv {
    fn from(e: Event<Client>) -> Self {
        ServerEv::Net(e)
    }
}

fn raw(msg: &impl Encode) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    msg.encode(&mut out);
    out.to_vec()
}

async fn connect_client(
    addr: std::net::SocketAddr,
) -> (
    CentralSender<Event<Server>>,
    Central<Event<Server>>,
    Outgoing<Server>,
    PeerHandle<Server>,
) {
    let (tx, central) = central::<Event<Server>>(256);
    let (out, server) = Outgoing::<Server>::builder(addr)
        .retry(Retry::never())
        .connect(&tx)
        .await
        .unwrap();
    (tx, central, out, server)
}

#[tokio::test]
async fn requests_and_messages_interleave_in_both_directions() {
    let (stx, mut scentral) = central::<ServerEv>(256);
    let listener = Incoming::<Client>::builder("127.0.0.1:0")
        .listen(&stx)
        .await
        .unwrap();
    // The server: answers each Add with a Note first, then the Sum (in order); asks the
    // client who it is, with the answer posted as an event of its own.
    let server = tokio::spawn(async move {
        let mut notes = Vec::new();
        let mut who = None;
        while let Some(ev) = scentral.recv().await {
            match ev {
                ServerEv::Net(Event::Connected(peer)) => {
                    peer.request(Down::WhoAreYou).post(&stx, ServerEv::Who);
                }
                ServerEv::Net(Event::Message(peer, Up::Add(a, b))) => {
                    let _ = peer.send(Down::Note(a));
                    let _ = peer.send(Down::Sum(a + b));
                }
                ServerEv::Net(Event::Message(_, Up::Note(n))) => notes.push(n),
                ServerEv::Net(Event::Message(_, other)) => panic!("the server got {other:?}"),
                ServerEv::Who(answer) => who = Some(answer),
                ServerEv::Net(Event::Disconnected(..)) => return (notes, who),
                _ => {}
            }
        }
        unreachable!()
    });

    let (_tx, mut central, out, server_peer) = connect_client(listener.local_addr()).await;
    // 50 requests, each behind an ordinary message, sent without waiting for any reply.
    let mut replies = Vec::new();
    for i in 0..50 {
        server_peer.send(Up::Note(i)).unwrap();
        replies.push(server_peer.request(Up::Add(i, 1000)));
    }
    // The client's central queue: the server's Notes in order (and its WhoAreYou, answered
    // here), never a Sum.
    let mut notes = Vec::new();
    while notes.len() < 50 {
        match next(&mut central).await {
            Event::Message(peer, Down::WhoAreYou) => {
                peer.send(Up::IAm("client-1".into())).unwrap();
            }
            Event::Message(_, Down::Note(n)) => notes.push(n),
            Event::Message(_, other) => panic!("a reply reached the central queue: {other:?}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(notes, (0..50).collect::<Vec<_>>());
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(within("reply", reply).await, Ok(Down::Sum(i as u32 + 1000)));
    }
    assert_eq!(server_peer.pending_requests(), 0);
    server_peer.disconnect();
    let (server_notes, who) = within("server", server).await.unwrap();
    assert_eq!(server_notes, (0..50).collect::<Vec<_>>());
    assert_eq!(who, Some(Ok(Up::IAm("client-1".into()))));
    out.shutdown().await;
}

#[tokio::test]
async fn a_late_reply_in_order_mode_does_not_shift_the_next_pairing() {
    let (stx, mut scentral) = central::<ServerEv>(256);
    let listener = Incoming::<Client>::builder("127.0.0.1:0")
        .listen(&stx)
        .await
        .unwrap();
    // The server holds its replies until told, then answers both in order.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(ev) = scentral.recv().await {
            match ev {
                ServerEv::Net(Event::Message(peer, Up::Add(a, b))) => {
                    held.push((peer, a + b));
                    if held.len() == 2 {
                        let tx = stx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let _ = tx.post(ServerEv::Release).await;
                        });
                    }
                }
                ServerEv::Release => {
                    for (peer, sum) in held.drain(..) {
                        let _ = peer.send(Down::Sum(sum));
                    }
                }
                _ => {}
            }
        }
    });
    let (_tx, mut central, out, server) = connect_client(listener.local_addr()).await;
    let first = server
        .request(Up::Add(1, 1))
        .timeout(Duration::from_millis(1));
    assert_eq!(
        within("first", first).await,
        Err(RequestError::TimedOut(Duration::from_millis(1)))
    );
    assert_eq!(
        server.pending_requests(),
        1,
        "the timed-out request keeps its slot"
    );
    let second = server.request(Up::Add(2, 2));
    // The first reply (Sum 2) comes late and is dropped; the second request gets its own.
    assert_eq!(within("second", second).await, Ok(Down::Sum(4)));
    assert_eq!(server.pending_requests(), 0);
    // Neither reply reached the central queue.
    server.send(Up::Note(9)).unwrap();
    server.disconnect();
    match next(&mut central).await {
        Event::Disconnected(..) => {}
        other => panic!("a reply reached the central queue: {other:?}"),
    }
    out.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_answers_times_the_request_out() {
    // A server that reads and never writes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink).await;
    });
    let (_tx, _central, out, server) = connect_client(addr).await;
    let reply = server
        .request(Up::Add(1, 2))
        .timeout(Duration::from_millis(200));
    assert_eq!(
        within("reply", reply).await,
        Err(RequestError::TimedOut(Duration::from_millis(200)))
    );
    // Not a request: refused at once, nothing queued.
    assert_eq!(
        server.request(Up::Note(1)).await,
        Err(RequestError::NotARequest)
    );
    out.shutdown().await;
}

/// The events of a program that posts its requests: the handler's, and the outcomes.
enum PostEv {
    Net(Event<Server>),
    Outcome(&'static str, Result<Down, RequestError>),
}

impl From<Event<Server>> for PostEv {
    fn from(e: Event<Server>) -> Self {
        PostEv::Net(e)
    }
}

#[tokio::test]
async fn posted_requests_bring_every_outcome_to_the_central_queue_before_the_disconnect() {
    // A server that answers once the first request's bytes come, then reads on and never
    // writes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = vec![0u8; 256];
        match tokio::io::AsyncReadExt::read(&mut s, &mut got).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut answer = raw(&Down::Sum(5));
        let mut framed = (answer.len() as u16).to_le_bytes().to_vec();
        framed.append(&mut answer);
        let _ = tokio::io::AsyncWriteExt::write_all(&mut s, &framed).await;
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut got).await;
    });
    let (tx, mut central) = central::<PostEv>(256);
    let (out, server) = Outgoing::<Server>::builder(addr)
        .retry(Retry::never())
        .connect(&tx)
        .await
        .unwrap();
    server
        .request(Up::Add(2, 3))
        .post(&tx, |r| PostEv::Outcome("answered", r));
    server
        .request(Up::Add(1, 1))
        .timeout(Duration::from_millis(100))
        .post(&tx, |r| PostEv::Outcome("timed out", r));
    // Posted from a thread outside the runtime (a game loop's): it waits for the end.
    let (handle, ttx) = (server.clone(), tx.clone());
    std::thread::spawn(move || {
        handle
            .request(Up::Add(3, 3))
            .post(&ttx, |r| PostEv::Outcome("ended", r));
    })
    .join()
    .unwrap();
    server
        .request(Up::Note(1))
        .post(&tx, |r| PostEv::Outcome("refused", r));
    let mut outcomes = Vec::new();
    let mut ended = false;
    within("the outcomes and the disconnect", async {
        while outcomes.len() < 4 || !ended {
            match central.recv().await.expect("central open") {
                PostEv::Outcome(what, r) => {
                    assert!(!ended, "{what}: an outcome after the disconnect");
                    outcomes.push((what, r));
                    if outcomes.len() == 3 {
                        server.disconnect();
                    }
                }
                PostEv::Net(Event::Disconnected(..)) => ended = true,
                PostEv::Net(Event::Message(_, m)) => panic!("a reply reached the queue: {m:?}"),
                PostEv::Net(_) => {}
            }
        }
    })
    .await;
    outcomes.sort_by_key(|(what, _)| *what);
    assert_eq!(outcomes[0], ("answered", Ok(Down::Sum(5))));
    assert!(
        matches!(&outcomes[1], ("ended", Err(RequestError::Disconnected(_)))),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(outcomes[2], ("refused", Err(RequestError::NotARequest)));
    assert_eq!(
        outcomes[3],
        (
            "timed out",
            Err(RequestError::TimedOut(Duration::from_millis(100)))
        )
    );
    out.shutdown().await;
}

#[tokio::test]
async fn correlated_replies_pair_out_of_order() {
    let (stx, mut scentral) = central::<Event<Client>>(256);
    let listener = Incoming::<Client>::builder("127.0.0.1:0")
        .listen(&stx)
        .await
        .unwrap();
    // The server collects three Finds and answers them last first.
    tokio::spawn(async move {
        let mut asked = Vec::new();
        while let Some(ev) = scentral.recv().await {
            if let Event::Message(peer, Up::Find { req, name }) = ev {
                asked.push((peer, req, name));
                if asked.len() == 3 {
                    for (peer, req, name) in asked.drain(..).rev() {
                        let _ = match name.as_str() {
                            "nobody" => peer.send(Down::Missing { req }),
                            _ => peer.send(Down::Found {
                                req,
                                at: name.len() as u32,
                            }),
                        };
                    }
                }
            }
        }
    });
    let (_tx, _central, out, server) = connect_client(listener.local_addr()).await;
    // Built around the id `request_with` gives (one of them through `request`, whose
    // placeholder it overwrites).
    let find = |name: &str| {
        server.request_with(|req| Up::Find {
            req,
            name: name.into(),
        })
    };
    let overwritten = server.request(Up::Find {
        req: 0,
        name: "nobody".into(),
    });
    let (a, b, c) = (find("ann"), overwritten, find("bartholomew"));
    assert_eq!(server.pending_requests(), 3);
    let (a, b, c) = within("replies", async { tokio::join!(a, b, c) }).await;
    assert!(matches!(a, Ok(Down::Found { at: 3, .. })), "{a:?}");
    assert!(matches!(b, Ok(Down::Missing { .. })), "{b:?}");
    assert!(matches!(c, Ok(Down::Found { at: 11, .. })), "{c:?}");
    let ids: std::collections::HashSet<_> = [a, b, c]
        .into_iter()
        .map(|r| match r.unwrap() {
            Down::Found { req, .. } | Down::Missing { req } => req,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids.len(), 3, "each request got an id of its own");
    out.shutdown().await;
}

#[tokio::test]
async fn a_disconnect_fails_every_pending_request_and_the_pending_count_is_bounded() {
    let (stx, mut scentral) = central::<Event<Client>>(256);
    let listener = Incoming::<Client>::builder("127.0.0.1:0")
        .listen(&stx)
        .await
        .unwrap();
    let (tx, _central) = central::<Event<Server>>(256);
    let (out, server) = Outgoing::<Server>::builder(listener.local_addr())
        .retry(Retry::never())
        .max_pending(2)
        .connect(&tx)
        .await
        .unwrap();
    let first = server.request(Up::Add(1, 1));
    let second = server.request(Up::Add(2, 2));
    assert_eq!(
        server.request(Up::Add(3, 3)).await,
        Err(RequestError::TooMany(2)),
        "max_pending"
    );
    // The server takes both and hangs up without answering.
    let mut seen = 0;
    while seen < 2 {
        if let Event::Message(peer, Up::Add(..)) = next(&mut scentral).await {
            seen += 1;
            if seen == 2 {
                peer.disconnect_with("maintenance");
            }
        }
    }
    for reply in [first, second] {
        match within("reply", reply).await {
            Err(RequestError::Disconnected(why)) => {
                assert!(why.contains("closed by the peer"), "{why}")
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    assert_eq!(
        server.request(Up::Add(4, 4)).await,
        Err(RequestError::Closed)
    );
    out.shutdown().await;
}

// ---- The version handshake -----------------------------------------------------------

fn handshake(v: &str, agree: Agree) -> Handshake {
    Handshake::new(v.parse::<Version>().unwrap())
        .agree(agree)
        // Long enough for a loaded machine to greet, short enough for the test that waits
        // for the cut.
        .timeout(Duration::from_millis(1000))
}

/// The handshake tests run on the in-memory network under paused time: the server is host
/// `server` at port 7000; a deadline, a refused retry or a version handshake's time-out is
/// the tokio clock's, exact on a loaded machine.
async fn handshake_server(
    net: &Network,
    hs: Handshake,
) -> (Incoming<Client>, Central<Event<Client>>) {
    let (tx, central) = central::<Event<Client>>(64);
    let listener = Incoming::<Client>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .handshake(hs)
        .listen(&tx)
        .await
        .unwrap();
    (listener, central)
}

async fn handshake_client(
    net: &Network,
    hs: Handshake,
) -> (Outgoing<Server>, Central<Event<Server>>) {
    let (tx, central) = central::<Event<Server>>(64);
    let out = Outgoing::<Server>::builder("server:7000")
        .in_memory(&net.host("client"))
        .retry(Retry::fixed(Duration::from_millis(20)))
        .reconnect(true)
        .handshake(hs)
        .start(&tx);
    (out, central)
}

#[tokio::test(start_paused = true)]
async fn the_handshake_accepts_the_same_major_version_before_connected() {
    let net = Network::new();
    let (listener, mut scentral) =
        handshake_server(&net, handshake("2.1.0", Agree::SameMajor)).await;
    let (out, mut central) = handshake_client(&net, handshake("2.0.3", Agree::SameMajor)).await;
    // Each side's first event is Connected, after the hellos; the hellos are not messages.
    let server = expect_connected(&mut central).await;
    assert_eq!(server.peer_version(), Some(&Version::new(2, 1, 0)));
    let client = expect_connected(&mut scentral).await;
    assert_eq!(client.peer_version(), Some(&Version::new(2, 0, 3)));
    server.send(Up::Note(7)).unwrap();
    match within("note", scentral.recv()).await.unwrap() {
        Event::Message(_, Up::Note(7)) => {}
        other => panic!("{other:?}"),
    }
    // Nobody waits for a central task that has stopped reading (half-close waits for it).
    drop((central, scentral));
    listener.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_server_rejects_a_version_and_the_client_hears_why() {
    let net = Network::new();
    let (listener, mut scentral) =
        handshake_server(&net, handshake("2.1.0", Agree::SameMajor)).await;
    // The client would accept anything; the server does not accept 3.0.0.
    let (out, mut central) =
        handshake_client(&net, handshake("3.0.0", Agree::with(|_, _| true))).await;
    // The server's only event: Disconnected naming both versions.
    let (_, d) = expect_disconnected(&mut scentral).await;
    match d.reason {
        DisconnectReason::VersionMismatch {
            ours,
            theirs,
            by_peer: false,
            our_protocol,
            their_protocol,
        } => {
            assert_eq!((ours.as_str(), theirs.as_deref()), ("2.1.0", Some("3.0.0")));
            // The protocol describes itself, so the reason names our messages hash; its
            // hello has no `#[wire(protocol)]` field, so the peer's is not said.
            let hash = connhandler::schema::Protocol::of::<Client>(
                connhandler::schema::FramingSpec::tcp_message(),
            )
            .messages_hash();
            assert_eq!(our_protocol, Some(hash));
            assert_eq!(their_protocol, None);
        }
        other => panic!("{other}"),
    }
    // The client accepted the server's hello (Connected), then got its rejection.
    expect_connected(&mut central).await;
    let (_, d) = expect_disconnected(&mut central).await;
    assert!(
        matches!(
            &d.reason,
            DisconnectReason::VersionMismatch { by_peer: true, theirs: Some(t), .. } if t == "2.1.0"
        ),
        "{d}"
    );
    // A mismatch is not retried: the same versions would meet again (ten seconds of the
    // paused clock, five hundred retry intervals).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(out.stats().reconnects, 0);
    assert_eq!(listener.stats().accepted, 1);
    out.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_client_rejects_the_servers_version() {
    let net = Network::new();
    let (_listener, mut scentral) =
        handshake_server(&net, handshake("2.1.0", Agree::SameMajor)).await;
    let (out, mut central) = handshake_client(&net, handshake("2.0.0", Agree::Exact)).await;
    let (_, d) = expect_disconnected(&mut central).await;
    assert!(
        matches!(
            &d.reason,
            DisconnectReason::VersionMismatch { by_peer: false, .. }
        ),
        "{d}"
    );
    expect_connected(&mut scentral).await;
    let (_, d) = expect_disconnected(&mut scentral).await;
    assert!(
        matches!(
            &d.reason,
            DisconnectReason::VersionMismatch { by_peer: true, .. }
        ),
        "{d}"
    );
    out.shutdown().await;
}

/// Hellos that say the protocol's messages hash (`#[wire(protocol)]`): two builds of one
/// version with other messages are refused at the door, naming both hashes; reordering
/// variants in the source refuses no one.
mod messages_hash {
    use super::*;
    use connhandler::schema::{FramingSpec, Protocol};

    /// The protocol as the server was built.
    mod v1 {
        use connhandler::Message;

        #[derive(Message, Debug, PartialEq)]
        pub enum Up {
            #[wire(id = 1, hello)]
            Hello {
                #[wire(version)]
                version: String,
                #[wire(protocol)]
                protocol: String,
            },
            #[wire(id = 2)]
            Move { x: i32, y: i32 },
        }

        #[derive(Message, Debug, PartialEq)]
        pub enum Down {
            #[wire(id = 1, hello)]
            Hello {
                #[wire(version)]
                version: String,
                #[wire(protocol)]
                protocol: String,
            },
            #[wire(id = 2, reject)]
            Rejected {
                #[wire(reason)]
                reason: String,
                #[wire(protocol)]
                protocol: String,
            },
            #[wire(id = 3)]
            Moved { who: u32, x: i32, y: i32 },
        }

        #[derive(connhandler::Peer, Default)]
        #[peer(recv = Up, send = Down)]
        pub struct Player;

        #[derive(connhandler::Peer, Default)]
        #[peer(recv = Down, send = Up)]
        pub struct Server;
    }

    /// The same messages, written in another order: the same protocol.
    mod v1_reordered {
        use connhandler::Message;

        #[derive(Message, Debug, PartialEq)]
        pub enum Up {
            #[wire(id = 2)]
            Move { x: i32, y: i32 },
            #[wire(id = 1, hello)]
            Hello {
                #[wire(version)]
                version: String,
                #[wire(protocol)]
                protocol: String,
            },
        }

        #[derive(Message, Debug, PartialEq)]
        pub enum Down {
            #[wire(id = 3)]
            Moved { who: u32, x: i32, y: i32 },
            #[wire(id = 2, reject)]
            Rejected {
                #[wire(reason)]
                reason: String,
                #[wire(protocol)]
                protocol: String,
            },
            #[wire(id = 1, hello)]
            Hello {
                #[wire(version)]
                version: String,
                #[wire(protocol)]
                protocol: String,
            },
        }

        #[derive(connhandler::Peer, Default)]
        #[peer(recv = Down, send = Up)]
        pub struct Server;
    }

    /// A client built after `Move` swapped its fields, under the same version.
    mod v1_swapped {
        use connhandler::Message;

        #[derive(Message, Debug, PartialEq)]
        pub enum Up {
            #[wire(id = 1, hello)]
            Hello {
                #[wire(version)]
                version: String,
                #[wire(protocol)]
                protocol: String,
            },
            #[wire(id = 2)]
            Move { y: i32, x: i32 },
        }

        pub use super::v1::Down;

        #[derive(connhandler::Peer, Default)]
        #[peer(recv = Down, send = Up)]
        pub struct Server;
    }

    fn hash_of<P: Peer>() -> String
    where
        P::Recv: connhandler::wire::Wire,
        P::Send: connhandler::wire::Wire,
    {
        Protocol::of::<P>(FramingSpec::tcp_message()).messages_hash()
    }

    async fn server(hs: Handshake) -> (Incoming<v1::Player>, Central<Event<v1::Player>>) {
        let (tx, central) = central::<Event<v1::Player>>(64);
        let listener = Incoming::<v1::Player>::builder("127.0.0.1:0")
            .handshake(hs)
            .listen(&tx)
            .await
            .unwrap();
        (listener, central)
    }

    async fn client<S: Peer + Default>(
        addr: std::net::SocketAddr,
        hs: Handshake,
    ) -> (Outgoing<S>, Central<Event<S>>)
    where
        S::Send: connhandler::talk::Hello,
        S::Recv: connhandler::talk::Hello,
    {
        let (tx, central) = central::<Event<S>>(64);
        let out = Outgoing::<S>::builder(addr).handshake(hs).start(&tx);
        (out, central)
    }

    #[tokio::test]
    async fn reordered_variants_are_the_same_protocol() {
        assert_eq!(hash_of::<v1::Server>(), hash_of::<v1_reordered::Server>());
        assert_eq!(hash_of::<v1::Server>(), hash_of::<v1::Player>());
        let (listener, mut scentral) = server(handshake("2.0.0", Agree::SameMajor)).await;
        let (out, mut central) = client::<v1_reordered::Server>(
            listener.local_addr(),
            handshake("2.0.0", Agree::SameMajor),
        )
        .await;
        let server = expect_connected(&mut central).await;
        expect_connected(&mut scentral).await;
        server.send(v1_reordered::Up::Move { x: 3, y: -4 }).unwrap();
        match within("the move", scentral.recv()).await.unwrap() {
            Event::Message(_, v1::Up::Move { x: 3, y: -4 }) => {}
            other => panic!("{other:?}"),
        }
        drop((central, scentral));
        listener.shutdown().await;
        out.shutdown().await;
    }

    #[tokio::test]
    async fn one_version_with_other_messages_is_refused_at_the_door() {
        let (ours, theirs) = (hash_of::<v1::Player>(), hash_of::<v1_swapped::Server>());
        assert_ne!(ours, theirs, "swapped fields are another protocol");
        let (listener, mut scentral) = server(handshake("2.0.0", Agree::SameMajor)).await;
        let (out, mut central) = client::<v1_swapped::Server>(
            listener.local_addr(),
            handshake("2.0.0", Agree::SameMajor),
        )
        .await;
        // Each side reads the other's hello first and refuses it: nobody is Connected.
        let (_, d) = expect_disconnected(&mut scentral).await;
        assert!(
            matches!(
                &d.reason,
                DisconnectReason::ProtocolMismatch { version, ours: o, theirs: t }
                    if version == "2.0.0" && *o == ours && *t == theirs
            ),
            "{d}"
        );
        let text = d.reason.to_string();
        assert!(text.contains(&ours) && text.contains(&theirs), "{text}");

        let (_, d) = expect_disconnected(&mut central).await;
        assert!(
            matches!(
                &d.reason,
                DisconnectReason::ProtocolMismatch { version, ours: o, theirs: t }
                    if version == "2.0.0" && *o == theirs && *t == ours
            ),
            "{d}"
        );
        listener.shutdown().await;
        out.shutdown().await;
    }

    #[tokio::test]
    async fn a_refused_version_names_both_hashes() {
        let (ours, theirs) = (hash_of::<v1::Player>(), hash_of::<v1_swapped::Server>());
        let (listener, mut scentral) = server(handshake("2.0.0", Agree::SameMajor)).await;
        // The client accepts the server's version; the server does not accept 3.0.0.
        let (out, mut central) = client::<v1_swapped::Server>(
            listener.local_addr(),
            handshake("3.0.0", Agree::with(|_, _| true)),
        )
        .await;
        let (_, d) = expect_disconnected(&mut scentral).await;
        match &d.reason {
            DisconnectReason::VersionMismatch {
                our_protocol,
                their_protocol,
                by_peer: false,
                ..
            } => {
                assert_eq!(our_protocol.as_deref(), Some(ours.as_str()));
                assert_eq!(their_protocol.as_deref(), Some(theirs.as_str()));
                let text = d.reason.to_string();
                assert!(text.contains(&ours) && text.contains(&theirs), "{text}");
            }
            other => panic!("{other}"),
        }
        // The client refused the server's hello for its messages.
        let (_, d) = expect_disconnected(&mut central).await;
        assert!(
            matches!(&d.reason, DisconnectReason::ProtocolMismatch { ours: o, theirs: t, .. } if *o == theirs && *t == ours),
            "{d}"
        );
        listener.shutdown().await;
        out.shutdown().await;
    }

    #[tokio::test]
    async fn a_hello_that_says_no_hash_is_judged_by_its_version_alone() {
        let (listener, mut scentral) = server(handshake("2.0.0", Agree::SameMajor)).await;
        let mut peer = RawClient::connect(listener.local_addr()).await;
        // A hand-written peer that leaves the hash empty.
        peer.send(&raw(&v1::Up::Hello {
            version: "2.0.0".into(),
            protocol: String::new(),
        }))
        .await;
        match peer.recv().await {
            Some(frame) => match v1::Down::decode(frame).unwrap() {
                v1::Down::Hello { version, protocol } => {
                    assert_eq!(version, "2.0.0");
                    assert_eq!(protocol, hash_of::<v1::Player>(), "our hello says our hash");
                }
                other => panic!("{other:?}"),
            },
            None => panic!("closed before the hello"),
        }
        expect_connected(&mut scentral).await;
        drop(scentral);
        listener.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_says_its_version_is_cut_by_the_deadline() {
    let net = Network::new();
    let (_listener, mut scentral) =
        handshake_server(&net, handshake("2.1.0", Agree::SameMajor)).await;
    let mut silent = RawClient::connect_in_memory(&net.host("silent"), "server:7000").await;
    // The server's hello arrives first; then nothing, then the close.
    let hello = silent.recv().await.expect("the server's hello");
    assert_eq!(
        Down::decode(hello).unwrap(),
        Down::Hello {
            version: "2.1.0".into()
        }
    );
    let (_, d) = expect_disconnected(&mut scentral).await;
    assert!(
        matches!(d.reason, DisconnectReason::TimedOut(Timeout::Handshake(_))),
        "{d}"
    );
    assert_eq!(silent.recv().await, None);

    // One that speaks first with something else is cut at once.
    let mut rude = RawClient::connect_in_memory(&net.host("rude"), "server:7000").await;
    rude.send(&raw(&Up::Note(1))).await;
    let (_, d) = expect_disconnected(&mut scentral).await;
    assert!(matches!(d.reason, DisconnectReason::NoHello), "{d}");
    // A version that is not one is a mismatch naming the text.
    let mut odd = RawClient::connect_in_memory(&net.host("odd"), "server:7000").await;
    odd.send(&raw(&Up::Hello {
        version: "two".into(),
    }))
    .await;
    // It is told why before the close (the server lingers until it has gone, so that
    // a reset cannot destroy the rejection).
    let _hello = odd.recv().await.expect("hello");
    let rejected = Down::decode(odd.recv().await.expect("the rejection")).unwrap();
    assert_eq!(
        rejected,
        Down::Rejected {
            reason: "version two is not accepted (ours is 2.1.0)".into()
        }
    );
    assert_eq!(odd.recv().await, None, "closed after the rejection");
    drop(odd);
    let (_, d) = expect_disconnected(&mut scentral).await;
    assert!(
        matches!(&d.reason, DisconnectReason::VersionMismatch { theirs: Some(t), .. } if t == "two"),
        "{d}"
    );
}

// ---- Heartbeats ------------------------------------------------------------------------

fn beat() -> Heartbeat {
    Heartbeat::every(Duration::from_millis(50)).allowance(Duration::from_millis(500))
}

/// On the in-memory network, under paused time: the quiet second and a half takes no real
/// time and cannot be stretched by a loaded machine.
#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_quiet_link_and_stay_out_of_the_central_queue() {
    let net = connhandler::testing::net::Network::new();
    let (stx, mut scentral) = central::<Event<Client>>(64);
    let listener = Incoming::<Client>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .heartbeat(beat())
        .listen(&stx)
        .await
        .unwrap();
    let (tx, mut central) = central::<Event<Server>>(64);
    let (out, server) = Outgoing::<Server>::builder(listener.local_addr())
        .in_memory(&net.host("client"))
        .retry(Retry::never())
        .heartbeat(beat())
        .connect(&tx)
        .await
        .unwrap();
    expect_connected(&mut scentral).await;
    // Quiet for three times the allowance: pings and pongs flow, nobody is cut, and no
    // ping or pong reaches either central queue.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!server.is_closed());
    assert!(
        scentral.try_recv().is_err(),
        "nothing reached the server's queue"
    );
    assert!(matches!(central.try_recv(), Ok(Event::Connected(_))));
    assert!(
        central.try_recv().is_err(),
        "nothing else reached the client's queue"
    );
    // Nobody waits for a central task that has stopped reading (half-close waits for it).
    drop((central, scentral));
    listener.shutdown().await;
    out.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_cuts_a_dead_peer() {
    let net = Network::new();
    let (stx, mut scentral) = central::<Event<Client>>(64);
    let _listener = Incoming::<Client>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .heartbeat(beat())
        .listen(&stx)
        .await
        .unwrap();
    // A peer that reads the pings and never answers.
    let mut dead = RawClient::connect_in_memory(&net.host("dead"), "server:7000").await;
    let ping = dead.recv().await.expect("a ping");
    assert_eq!(Down::decode(ping).unwrap(), Down::Ping);
    expect_connected(&mut scentral).await;
    let (_, d) = expect_disconnected(&mut scentral).await;
    assert!(
        matches!(d.reason, DisconnectReason::TimedOut(Timeout::Heartbeat(t)) if t == Duration::from_millis(500)),
        "{d}"
    );
    // A peer that answers pings (by hand) is kept.
    let mut alive = RawClient::connect_in_memory(&net.host("alive"), "server:7000").await;
    for _ in 0..10 {
        let ping = alive.recv().await.expect("a ping");
        assert_eq!(Down::decode(ping).unwrap(), Down::Ping);
        alive.send(&raw(&Up::Pong)).await;
    }
    expect_connected(&mut scentral).await;
    assert!(
        scentral.try_recv().is_err(),
        "the pongs stayed out of the queue"
    );
}

#[tokio::test(start_paused = true)]
async fn over_websocket_the_heartbeat_sends_ping_frames() {
    use connhandler::ws::WebSocket;
    let net = connhandler::testing::net::Network::new();
    let (stx, mut scentral) = central::<Event<Client>>(64);
    let listener = Incoming::<Client>::builder("0.0.0.0:80")
        .in_memory(&net.host("server"))
        .websocket(WebSocket::new())
        .heartbeat(beat())
        .listen(&stx)
        .await
        .unwrap();
    // A WebSocket client without a heartbeat of its own: its framing answers the ping
    // frames, which keeps it connected well past the allowance.
    let (tx, _central) = central::<Event<Server>>(64);
    let url = format!("ws://{}/", listener.local_addr());
    let (out, server) = Outgoing::<Server>::websocket_url(&url)
        .unwrap()
        .in_memory(&net.host("client"))
        .retry(Retry::never())
        .connect(&tx)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!server.is_closed(), "answered ping frames keep the link");
    expect_connected(&mut scentral).await;
    assert!(scentral.try_recv().is_err());
    out.shutdown().await;
}

/// A heartbeat faster than the default control-frame limit (64 a second) does not cut a
/// peer that answers it: the limit makes room for four control frames per interval.
#[tokio::test]
async fn a_fast_heartbeat_is_not_cut_by_the_control_frame_limit() {
    let (stx, mut scentral) = central::<Event<Client>>(64);
    let listener = Incoming::<Client>::builder("127.0.0.1:0")
        .heartbeat(Heartbeat::every(Duration::from_millis(5)).allowance(Duration::from_secs(5)))
        .listen(&stx)
        .await
        .unwrap();
    let mut alive = RawClient::connect(listener.local_addr()).await;
    // 200 pings answered, and a ping of its own with each: 400 control frames, in about a
    // second (a 5 ms heartbeat).
    let mut pings = 0;
    while pings < 200 {
        let got = alive.recv().await.expect("a ping or a pong, not the close");
        match Down::decode(got).unwrap() {
            Down::Ping => {
                pings += 1;
                alive.send(&raw(&Up::Pong)).await;
                alive.send(&raw(&Up::Ping)).await;
            }
            Down::Pong => {}
            other => panic!("{other:?}"),
        }
    }
    expect_connected(&mut scentral).await;
    assert!(
        scentral.try_recv().is_err(),
        "not cut, and the pings and pongs stayed out of the queue"
    );
}
