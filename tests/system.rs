//! A whole system tested in one process on the in-memory network, under tokio's paused
//! clock: a login server, two launchers and a game client, each a program with its own
//! central loop as it would be written for TCP. The network partitions one launcher from the
//! login server for a minute and resets the client's connection in the middle of a message;
//! the test checks what each program saw. (The README's "Testing your system" points here.)

use std::time::Duration;

use connhandler::{
    central,
    talk::Heartbeat,
    testing::net::{Host, Network},
    Event, Incoming, Message, Outgoing, Peer, Retry,
};
use tokio::sync::watch;

#[derive(Message, Debug, PartialEq, Clone)]
enum Msg {
    #[wire(id = 1, ping)]
    Ping,
    #[wire(id = 2, pong)]
    Pong,
    #[wire(id = 3)]
    Login(String),
    #[wire(id = 4)]
    Welcome(String),
}

/// What the login server calls the programs that connect to it.
#[derive(Default)]
struct Player;
impl Peer for Player {
    type Recv = Msg;
    type Send = Msg;
    const NAME: &'static str = "player";
}

/// What a launcher or the client calls the login server.
#[derive(Default)]
struct Login;
impl Peer for Login {
    type Recv = Msg;
    type Send = Msg;
    const NAME: &'static str = "login";
}

fn beat() -> Heartbeat {
    Heartbeat::every(Duration::from_secs(5)).allowance(Duration::from_secs(15))
}

/// The login server: welcomes whoever logs in; returns what it saw, in order.
async fn login_server(host: Host, mut stop: watch::Receiver<bool>) -> Vec<String> {
    let (tx, mut events) = central::<Event<Player>>(1024);
    let server = Incoming::<Player>::builder("0.0.0.0:7000")
        .in_memory(&host)
        .heartbeat(beat())
        .listen(&tx)
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            ev = events.recv() => match ev.unwrap() {
                Event::Message(peer, Msg::Login(name)) => {
                    seen.push(format!("login {name}"));
                    let _ = peer.send(Msg::Welcome(name));
                }
                Event::Disconnected(_, d) => seen.push(format!("lost a player: {}", d.reason)),
                _ => {}
            },
        }
    }
    server.shutdown().await;
    seen
}

/// A launcher or the client: logs in on every connection (it reconnects when one is lost);
/// returns what it saw.
async fn player(name: &str, host: Host, mut stop: watch::Receiver<bool>) -> Vec<String> {
    let (tx, mut events) = central::<Event<Login>>(64);
    let out = Outgoing::<Login>::builder("login:7000")
        .in_memory(&host)
        .heartbeat(beat())
        .connect_timeout(Duration::from_secs(5))
        .retry(Retry::backoff(
            Duration::from_secs(1),
            Duration::from_secs(10),
        ))
        .reconnect(true)
        .start(&tx);
    let mut seen = Vec::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            ev = events.recv() => match ev.unwrap() {
                Event::Connected(login) => {
                    let _ = login.send(Msg::Login(name.to_owned()));
                }
                Event::Message(_, Msg::Welcome(to)) => seen.push(format!("welcome {to}")),
                Event::Disconnected(_, d) => seen.push(format!("lost login: {}", d.reason)),
                _ => {}
            },
        }
    }
    out.shutdown().await;
    seen
}

#[tokio::test(start_paused = true)]
async fn the_system_survives_a_partition_and_a_reset() {
    let net = Network::with_seed(1);
    let (stop_tx, stop) = watch::channel(false);
    let login = tokio::spawn(login_server(net.host("login"), stop.clone()));
    let mut players = Vec::new();
    for name in ["launcher-1", "launcher-2", "client"] {
        players.push(tokio::spawn({
            let (host, stop) = (net.host(name), stop.clone());
            async move { player(name, host, stop).await }
        }));
    }
    // All three log in (the launchers retry until the login server listens).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(net.connections("launcher-1", "login").len(), 1);
    assert_eq!(net.connections("client", "login").len(), 1);

    // A minute's partition between launcher-1 and the login server.
    net.partition("launcher-1", "login");
    tokio::time::sleep(Duration::from_secs(60)).await;
    net.heal("launcher-1", "login");
    tokio::time::sleep(Duration::from_secs(30)).await;

    // The client's connection reset two bytes into the client's next message; the
    // client's next message is its heartbeat's ping, at most 5 s away.
    net.connections("client", "login")[0].reset_after("client", 2);
    tokio::time::sleep(Duration::from_secs(30)).await;

    stop_tx.send(true).unwrap();
    let login = login.await.unwrap();
    let mut seen = Vec::new();
    for p in players {
        seen.push(p.await.unwrap());
    }
    let [launcher1, launcher2, client] = [&seen[0], &seen[1], &seen[2]];

    // launcher-1: welcomed, cut by its heartbeat in the partition, welcomed again.
    assert_eq!(launcher1[0], "welcome launcher-1");
    assert!(
        launcher1[1].starts_with("lost login: timed out"),
        "{launcher1:?}"
    );
    assert_eq!(launcher1[2..], ["welcome launcher-1"], "{launcher1:?}");
    // launcher-2 never noticed.
    assert_eq!(launcher2[..], ["welcome launcher-2"]);
    // The client: welcomed, reset, welcomed again.
    assert_eq!(client[0], "welcome client");
    assert!(
        client[1].starts_with("lost login:") && client[1].contains("reset"),
        "{client:?}"
    );
    assert_eq!(client[2..], ["welcome client"], "{client:?}");
    // The login server saw five logins (three, then the two that came back) and two losses.
    let logins = login.iter().filter(|l| l.starts_with("login ")).count();
    let losses = login
        .iter()
        .filter(|l| l.starts_with("lost a player"))
        .count();
    assert_eq!((logins, losses), (5, 2), "{login:?}");
}
