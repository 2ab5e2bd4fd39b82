//! The in-memory network (`testing::net`): handlers of one test connect by host name with
//! no sockets, under tokio's paused clock, through the same reader, writer, framing, door
//! and events as over TCP; and its faults (latency, bandwidth, partitions, stalls, resets,
//! half-closes, refusals) reach the program as they would over a real network.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::events::{expect_connected, expect_disconnected, expect_message, next_event};
use connhandler::{
    central,
    talk::Heartbeat,
    testing::net::{Conditions, Network},
    DisconnectReason, Event, Incoming, Message, Outgoing, Peer, Retry, Timeout,
};
use tokio::time::Instant;

#[derive(Message, Debug, PartialEq, Clone)]
enum Msg {
    #[wire(id = 1, ping)]
    Ping,
    #[wire(id = 2, pong)]
    Pong,
    #[wire(id = 3)]
    Chat(String),
    #[wire(id = 4)]
    Blob(Vec<u8>),
}

#[derive(Default)]
struct Client;
impl Peer for Client {
    type Recv = Msg;
    type Send = Msg;
    const NAME: &'static str = "client";
}

#[derive(Default)]
struct Server;
impl Peer for Server {
    type Recv = Msg;
    type Send = Msg;
    const NAME: &'static str = "server";
}

fn chat(s: &str) -> Msg {
    Msg::Chat(s.into())
}

/// An outgoing handler's builder on host `from` of `net`, to `to`.
fn from_host(net: &Network, from: &str, to: &str) -> connhandler::OutgoingBuilder<Server> {
    Outgoing::<Server>::builder(to).in_memory(&net.host(from))
}

/// The error of one connect attempt from host `launcher` to `to`, within `timeout`.
async fn connect_error(net: &Network, to: &str, timeout: Duration) -> connhandler::ConnectError {
    let (tx, _events) = central::<Event<Server>>(64);
    from_host(net, "launcher", to)
        .retry(Retry::never())
        .connect_timeout(timeout)
        .connect(&tx)
        .await
        .unwrap_err()
}

/// A login server on host `login` at port 7000, and the events it sees.
async fn login_server(
    net: &Network,
    configure: impl FnOnce(connhandler::IncomingBuilder<Client>) -> connhandler::IncomingBuilder<Client>,
) -> (Incoming<Client>, connhandler::Central<Event<Client>>) {
    let (tx, events) = central::<Event<Client>>(256);
    let builder = Incoming::<Client>::builder("0.0.0.0:7000").in_memory(&net.host("login"));
    let server = configure(builder).listen(&tx).await.unwrap();
    (server, events)
}

#[tokio::test(start_paused = true)]
async fn handlers_talk_by_host_name_with_the_hosts_addresses() {
    let net = Network::new();
    let (server, mut sev) = login_server(&net, |b| b).await;
    assert_eq!(server.local_addr().to_string(), "10.0.0.1:7000");
    let (tx, mut cev) = central::<Event<Server>>(64);
    let (_out, link) = from_host(&net, "launcher", "login:7000")
        .connect(&tx)
        .await
        .unwrap();
    assert_eq!(link.addr().to_string(), "10.0.0.1:7000");
    let peer = expect_connected(&mut sev).await;
    assert_eq!(peer.addr().ip().to_string(), "10.0.0.2");
    link.send(chat("hello")).unwrap();
    let (from, m) = expect_message(&mut sev).await;
    assert_eq!(m, chat("hello"));
    from.send(chat("welcome")).unwrap();
    expect_connected(&mut cev).await;
    assert_eq!(expect_message(&mut cev).await.1, chat("welcome"));
    // The server closes; the client sees it as over TCP.
    from.disconnect();
    let (_, d) = expect_disconnected(&mut cev).await;
    assert!(matches!(d.reason, DisconnectReason::ClosedByPeer), "{d}");
}

#[tokio::test(start_paused = true)]
async fn latency_and_a_bandwidth_cap_delay_what_crosses() {
    let net = Network::new();
    let (_server, mut sev) = login_server(&net, |b| b).await;
    let line = Conditions::new()
        .latency(Duration::from_millis(100))
        .bandwidth(125_000); // 1 Mbit/s
    net.set_conditions("client", "login", line);
    net.set_conditions("login", "client", line);
    let (tx, _cev) = central::<Event<Server>>(64);
    let started = Instant::now();
    let (_out, link) = from_host(&net, "client", "login:7000")
        .connect(&tx)
        .await
        .unwrap();
    // The connect took a round trip of the links.
    assert!(started.elapsed() >= Duration::from_millis(200));
    let peer = expect_connected(&mut sev).await;
    // 250 000 bytes at 125 000 bytes/s: two seconds on the line, then the latency.
    let sent = Instant::now();
    for _ in 0..5 {
        link.send(Msg::Blob(vec![7; 50_000])).unwrap();
    }
    for _ in 0..5 {
        let (_, m) = expect_message(&mut sev).await;
        assert!(matches!(m, Msg::Blob(b) if b.len() == 50_000));
    }
    assert!(
        sent.elapsed() >= Duration::from_millis(2100),
        "took {:?} (the tokio clock's)",
        sent.elapsed()
    );
    drop(peer);
}

#[tokio::test(start_paused = true)]
async fn a_partition_cuts_a_quiet_link_by_its_heartbeat_and_a_reconnect_waits_for_the_heal() {
    let net = Network::new();
    let beat = || Heartbeat::every(Duration::from_secs(5)).allowance(Duration::from_secs(15));
    let (_server, mut sev) = login_server(&net, |b| b.heartbeat(beat())).await;
    let (tx, mut cev) = central::<Event<Server>>(64);
    let (_out, _link) = from_host(&net, "launcher", "login:7000")
        .heartbeat(beat())
        .reconnect(true)
        .retry(Retry::default())
        .connect_timeout(Duration::from_secs(3))
        .connect(&tx)
        .await
        .unwrap();
    expect_connected(&mut sev).await;
    expect_connected(&mut cev).await;
    net.partition("launcher", "login");
    // Both ends stop hearing each other: each cuts the link after its allowance.
    let (_, d) = expect_disconnected(&mut sev).await;
    assert!(
        matches!(d.reason, DisconnectReason::TimedOut(Timeout::Heartbeat(_))),
        "{d}"
    );
    let (_, d) = expect_disconnected(&mut cev).await;
    assert!(
        matches!(d.reason, DisconnectReason::TimedOut(Timeout::Heartbeat(_))),
        "{d}"
    );
    // The launcher tries again and again (each connect timing out) until the heal.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(cev.try_recv().is_err(), "no connection through a partition");
    net.heal("launcher", "login");
    let peer = expect_connected(&mut cev).await;
    expect_connected(&mut sev).await;
    peer.send(chat("back")).unwrap();
    assert_eq!(expect_message(&mut sev).await.1, chat("back"));
}

#[tokio::test(start_paused = true)]
async fn a_reset_in_the_middle_of_a_message_is_a_disconnect_on_both_sides() {
    let net = Network::new();
    let (_server, mut sev) = login_server(&net, |b| b).await;
    let (tx, mut cev) = central::<Event<Server>>(64);
    let (_out, link) = from_host(&net, "launcher", "login:7000")
        .connect(&tx)
        .await
        .unwrap();
    expect_connected(&mut sev).await;
    expect_connected(&mut cev).await;
    link.send(chat("whole")).unwrap();
    assert_eq!(expect_message(&mut sev).await.1, chat("whole"));
    let conns = net.connections("launcher", "login");
    assert_eq!(conns.len(), 1);
    // Three bytes into the next message: its header crosses, its body does not.
    conns[0].reset_after("launcher", 3);
    link.send(chat("cut short")).unwrap();
    let (_, d) = expect_disconnected(&mut sev).await;
    assert!(
        matches!(&d.reason, DisconnectReason::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{d}"
    );
    let (_, d) = expect_disconnected(&mut cev).await;
    assert!(
        matches!(&d.reason, DisconnectReason::Io(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{d}"
    );
    assert!(net.connections("launcher", "login").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_half_close_delivers_what_was_sent_then_ends_the_connection() {
    let net = Network::new();
    let (_server, mut sev) = login_server(&net, |b| b).await;
    let (tx, _cev) = central::<Event<Server>>(64);
    let (_out, link) = from_host(&net, "launcher", "login:7000")
        .connect(&tx)
        .await
        .unwrap();
    expect_connected(&mut sev).await;
    link.send(chat("one")).unwrap();
    link.send(chat("two")).unwrap();
    // Let the two cross before the FIN follows them.
    assert_eq!(expect_message(&mut sev).await.1, chat("one"));
    net.connections("launcher", "login")[0].half_close("launcher");
    assert_eq!(expect_message(&mut sev).await.1, chat("two"));
    let (_, d) = expect_disconnected(&mut sev).await;
    assert!(matches!(d.reason, DisconnectReason::ClosedByPeer), "{d}");
}

#[tokio::test(start_paused = true)]
async fn refused_and_timed_out_connects_are_connect_errors() {
    let net = Network::new();
    let ten = Duration::from_secs(10);
    // Nothing listens on the host.
    net.host("login");
    let err = connect_error(&net, "login:7000", ten).await;
    assert!(err.to_string().contains("refused"), "{err}");
    // A host that refuses.
    let (_server, _sev) = login_server(&net, |b| b).await;
    net.refuse_connections("login", true);
    let err = connect_error(&net, "login:7000", ten).await;
    assert!(err.to_string().contains("refused"), "{err}");
    net.refuse_connections("login", false);
    // Behind a partition, the connect times out (30 s of the paused clock).
    net.partition("launcher", "login");
    let err = connect_error(&net, "login:7000", Duration::from_secs(30)).await;
    assert!(err.to_string().contains("timed out"), "{err}");
    // An unknown host does not resolve.
    let err = connect_error(&net, "nowhere:7000", ten).await;
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_cut_by_the_write_timeout_and_others_are_served() {
    let net = Network::new();
    net.buffer_size(16 * 1024);
    let (_server, mut sev) = login_server(&net, |b| b.write_timeout(Duration::from_secs(10))).await;
    // A well-behaved launcher and a stuck one (its host stops delivering to it: its
    // program never reads).
    let (tx, mut good_ev) = central::<Event<Server>>(4096);
    let (_good_out, good) = from_host(&net, "good", "login:7000")
        .connect(&tx)
        .await
        .unwrap();
    let (tx2, _stuck_ev) = central::<Event<Server>>(64);
    let (_stuck_out, stuck) = from_host(&net, "stuck", "login:7000")
        .connect(&tx2)
        .await
        .unwrap();
    let mut peers = Vec::new();
    for _ in 0..2 {
        peers.push(expect_connected(&mut sev).await);
    }
    let stuck_peer = peers
        .iter()
        .find(|p| p.addr().ip() == net.host("stuck").ip())
        .unwrap()
        .clone();
    net.stall("login", "stuck", Duration::from_secs(3600));
    // Past the queue's soft bound (the program keeps sending to it).
    for _ in 0..1024 {
        let _ = stuck_peer.send(Msg::Blob(vec![1; 4096]));
    }
    good.send(chat("still there?")).unwrap();
    let (from, m) = expect_message(&mut sev).await;
    assert_eq!(m, chat("still there?"));
    from.send(chat("yes")).unwrap();
    expect_connected(&mut good_ev).await;
    assert_eq!(expect_message(&mut good_ev).await.1, chat("yes"));
    // The program goes on sending a tick a second to it, as a game server would: once the
    // writer has been blocked for the write time-out, a send is refused and the peer cut.
    let mut ticks = 0;
    let (p, d) = loop {
        let _ = stuck_peer.send(chat("tick"));
        ticks += 1;
        assert!(ticks < 120, "never cut");
        tokio::select! {
            ev = sev.recv() => match ev {
                Some(Event::Disconnected(p, d)) => break (p, d),
                other => panic!("expected the stuck peer's Disconnected, got {other:?}"),
            },
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    };
    assert_eq!(p.addr(), stuck_peer.addr());
    assert!(matches!(d.reason, DisconnectReason::QueueFull), "{d}");
    drop(stuck);
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_jitter() {
    async fn arrival_times(seed: u64) -> Vec<Duration> {
        let net = Network::with_seed(seed);
        let (_server, mut sev) = login_server(&net, |b| b).await;
        net.set_conditions(
            "c",
            "login",
            Conditions::new()
                .latency(Duration::from_millis(20))
                .jitter(Duration::from_millis(30)),
        );
        let (tx, _cev) = central::<Event<Server>>(64);
        let (_out, link) = from_host(&net, "c", "login:7000")
            .connect(&tx)
            .await
            .unwrap();
        expect_connected(&mut sev).await;
        let start = Instant::now();
        let mut times = Vec::new();
        for i in 0..5 {
            link.send(chat(&i.to_string())).unwrap();
            expect_message(&mut sev).await;
            times.push(start.elapsed());
        }
        times
    }
    let a = arrival_times(1).await;
    assert_eq!(a, arrival_times(1).await);
    assert_ne!(a, arrival_times(2).await);
    let _ = next_event::<Client>;
    let _ = Bytes::new();
}

#[path = "common/certs.rs"]
mod certs;

#[tokio::test(start_paused = true)]
async fn tls_and_websocket_handshakes_run_over_the_network_too() {
    use connhandler::{
        tls::{TlsClient, TlsServer},
        ws::WebSocket,
    };
    let pki = certs::pki("memory-net");
    let (cert, key) = pki.server();
    let net = Network::new();
    net.set_conditions(
        "launcher",
        "login",
        Conditions::new().latency(Duration::from_millis(40)),
    );
    net.set_conditions(
        "login",
        "launcher",
        Conditions::new().latency(Duration::from_millis(40)),
    );
    let (_server, mut sev) = login_server(&net, |b| {
        b.tls(TlsServer::from_pem_files(&cert, &key).unwrap())
            .websocket(WebSocket::new())
    })
    .await;
    let (tx, mut cev) = central::<Event<Server>>(64);
    let tls = TlsClient::with_ca_file(pki.ca())
        .unwrap()
        .server_name("localhost");
    let (_out, link) = from_host(&net, "launcher", "login:7000")
        .tls(tls)
        .websocket(WebSocket::new())
        .connect(&tx)
        .await
        .unwrap();
    assert_eq!(
        link.tls().expect("a TLS connection").peer_names(),
        ["localhost"]
    );
    assert!(
        link.transport().websocket().is_some(),
        "a WebSocket connection"
    );
    let peer = expect_connected(&mut sev).await;
    assert!(peer.tls().is_some());
    link.send(chat("over tls and websocket")).unwrap();
    assert_eq!(
        expect_message(&mut sev).await.1,
        chat("over tls and websocket")
    );
    peer.send(chat("and back")).unwrap();
    expect_connected(&mut cev).await;
    assert_eq!(expect_message(&mut cev).await.1, chat("and back"));
    // A reset reaches both ends through TLS as well.
    net.connections("launcher", "login")[0].reset();
    let (_, d) = expect_disconnected(&mut sev).await;
    assert!(matches!(d.reason, DisconnectReason::Io(_)), "{d}");
}
