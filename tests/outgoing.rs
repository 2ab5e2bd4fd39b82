//! Outgoing handlers over loopback: connecting, retrying, giving up, reconnecting, and
//! their tasks ending with them.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    events::{expect_connected, expect_message, next_event as next},
    raw_server as server, within, Raw,
};
use connhandler::{central, DisconnectReason, Event, Incoming, Outgoing, Retry};

type Ev = Event<Raw>;

/// On the in-memory network under paused time: no free port to find (and lose to another
/// test), and the 300 ms of retries are the tokio clock's.
#[tokio::test(start_paused = true)]
async fn outgoing_retries_until_the_server_is_up() {
    let net = connhandler::testing::net::Network::new();
    let (tx, mut central) = central::<Ev>(64);
    let out = Outgoing::<Raw>::builder("server:7000")
        .in_memory(&net.host("client"))
        .retry(Retry::fixed(Duration::from_millis(50)))
        .start(&tx);
    net.host("server");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(out.peer().is_none());
    assert!(out.stats().connect_failures >= 3, "{:?}", out.stats());
    let server = Incoming::<Raw>::builder("0.0.0.0:7000")
        .in_memory(&net.host("server"))
        .listen(&tx)
        .await
        .unwrap();
    // Both sides see the connection.
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(expect_connected(&mut central).await);
    }
    let client_side = out.peer().expect("connected");
    assert!(ids.contains(&client_side));
    client_side
        .send(Bytes::from_static(b"after retry"))
        .unwrap();
    let (p, m) = expect_message(&mut central).await;
    assert_ne!(p, client_side);
    assert_eq!(&m[..], b"after retry");
    drop(server);
}

#[tokio::test]
async fn outgoing_gives_up_with_connect_failed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (tx, mut central) = central::<Ev>(64);
    let _out = Outgoing::<Raw>::builder(("127.0.0.1", port))
        .retry(Retry::backoff(Duration::from_millis(10), Duration::from_millis(40)).max_attempts(3))
        .start(&tx);
    match next(&mut central).await {
        Event::ConnectFailed(e) => {
            assert_eq!(e.attempts(), 3);
            assert_eq!(
                e.io_error().map(|e| e.kind()),
                Some(std::io::ErrorKind::ConnectionRefused)
            );
            assert!(e.to_string().contains("after 3 attempts"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn outgoing_connect_times_out() {
    // A listener whose backlog is full and that never accepts: SYNs go unanswered.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    let (tx, _central) = central::<Ev>(64);
    let mut timed_out = false;
    for _ in 0..16 {
        let attempt = Outgoing::<Raw>::builder(addr)
            .connect_timeout(Duration::from_millis(200))
            .retry(Retry::never())
            .connect(&tx)
            .await;
        match attempt {
            Ok(pair) => fillers.push(pair),
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                assert!(e.to_string().contains("timed out"), "{e}");
                timed_out = true;
                break;
            }
        }
    }
    assert!(timed_out, "the backlog never filled");
}

#[tokio::test]
async fn outgoing_host_name_that_does_not_resolve() {
    let (tx, _central) = central::<Ev>(64);
    let err = Outgoing::<Raw>::builder("no-such-host.invalid:7000")
        .retry(Retry::never())
        .connect_timeout(Duration::from_secs(20))
        .connect(&tx)
        .await
        .unwrap_err();
    assert!(err.is_resolve(), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot connect to no-such-host.invalid:7000: cannot resolve"),
        "{err}"
    );
}

#[tokio::test]
async fn outgoing_reconnects_after_the_server_drops_it() {
    let (server, mut central, tx) = server().await;
    let out = Outgoing::<Raw>::builder(server.local_addr())
        .retry(Retry::fixed(Duration::from_millis(20)))
        .reconnect(true)
        .start(&tx);
    // Server side and client side both connect; the server kicks its side.
    let mut first_client = None;
    let mut server_side = None;
    for _ in 0..2 {
        let p = expect_connected(&mut central).await;
        if p.handler_name() == "raw" && server.peers().contains(&p) {
            server_side = Some(p);
        } else {
            first_client = Some(p);
        }
    }
    let (first_client, server_side) = (first_client.unwrap(), server_side.unwrap());
    server_side.disconnect();
    let mut reconnected = None;
    let mut client_disconnected = false;
    while reconnected.is_none() || !client_disconnected {
        match next(&mut central).await {
            Event::Disconnected(p, d) if p == first_client => {
                assert!(matches!(d.reason, DisconnectReason::ClosedByPeer), "{d}");
                client_disconnected = true;
            }
            Event::Connected(p) if !server.peers().contains(&p) => reconnected = Some(p),
            _ => {}
        }
    }
    let again = reconnected.unwrap();
    assert_ne!(again, first_client, "a new connection is a new peer");
    assert_eq!(out.peer(), Some(again));
    // A local close does not reconnect.
    out.shutdown().await;
    assert!(out.peer().is_none());
}

/// No task of an outgoing handler outlives it: once it is shut down and every sender is
/// dropped, the central queue ends.
#[tokio::test]
async fn outgoing_tasks_end_with_the_handler() {
    let (server, mut central, tx) = server().await;
    let (out, client_side) = Outgoing::<Raw>::builder(server.local_addr())
        .reconnect(true)
        .connect(&tx)
        .await
        .unwrap();
    out.shutdown().await;
    assert!(client_side.is_closed());
    server.shutdown().await;
    drop((out, server, tx, client_side));
    let mut disconnected = 0;
    while let Some(ev) = within("queue end", central.recv()).await {
        if let Event::Disconnected(_, d) = ev {
            assert!(d.reason.is_local() || matches!(d.reason, DisconnectReason::ClosedByPeer));
            disconnected += 1;
        }
    }
    assert_eq!(disconnected, 2, "both ends of the connection were reported");
}

/// A `make_peer` hook that panics refuses that connection with an error that says so; the
/// handler itself does not die.
#[tokio::test]
async fn outgoing_make_peer_panic_is_reported() {
    let (server, _central, tx) = server().await;
    let err = connhandler::OutgoingBuilder::<Raw>::new(server.local_addr(), |_| {
        panic!("no peer data for you")
    })
    .retry(Retry::never())
    .connect(&tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("make_peer hook panicked"), "{err}");
}
