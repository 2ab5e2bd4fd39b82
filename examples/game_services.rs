//! A login server, a game server launcher and a game controller in one process, over
//! loopback, with one central task:
//!
//! - the **controller** listens for its single local launcher (an incoming handler limited to
//!   one peer on 127.0.0.1);
//! - the **launcher** connects to the controller with retry (it starts before the controller
//!   listens), agrees on the protocol version (the handlers' version handshake), registers,
//!   and keeps the link checked with heartbeats;
//! - the **login server** serves many players (an incoming handler); its version handshake
//!   turns an outdated client away before the program sees it; the others log in and get a
//!   game started for them by the launcher, which the controller asks for with a request
//!   whose reply comes back as an event.
//!
//! The players are simulated in the same process with outgoing handlers. It prints what
//! happens and exits. Run it with `cargo run --example game_services`.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use connhandler::{
    central, incoming, outgoing,
    talk::{Handshake, RequestError, Version},
    Event, Message, Outgoing, Peer, PeerHandle,
};

const PROTOCOL: u16 = 2;

// ---- The protocols ---------------------------------------------------------------------

/// What players send the login server.
#[derive(Message, Debug)]
enum ToLogin {
    /// The first message: the client's protocol version (the version handshake).
    #[wire(id = 0x0100, hello)]
    Hello {
        #[wire(version)]
        protocol: u16,
    },
    #[wire(id = 0x0101, reject)]
    Rejected {
        #[wire(reason)]
        reason: String,
    },
    #[wire(id = 0x0102)]
    Login { name: String },
}

/// What the login server sends players.
#[derive(Message, Debug)]
enum FromLogin {
    #[wire(id = 0x0180, hello)]
    Hello {
        #[wire(version)]
        protocol: u16,
    },
    /// Sent to a client whose version is not accepted, before the close.
    #[wire(id = 0x0181, reject)]
    Rejected {
        #[wire(reason)]
        reason: String,
    },
    #[wire(id = 0x0182)]
    Welcome { session: u32 },
    #[wire(id = 0x0183)]
    GameReady { port: u16 },
}

/// What the launcher sends the controller.
#[derive(Message, Debug)]
enum ToController {
    #[wire(id = 0x0200, hello)]
    Hello {
        #[wire(version)]
        protocol: u16,
    },
    #[wire(id = 0x0201)]
    Register { slots: u8 },
    /// The reply to `StartGame`.
    #[wire(id = 0x0202)]
    GameStarted { port: u16 },
    #[wire(id = 0x0203, ping)]
    Ping,
    #[wire(id = 0x0204, pong)]
    Pong,
}

/// What the controller sends the launcher.
#[derive(Message, Debug)]
enum FromController {
    #[wire(id = 0x0280, hello)]
    Hello {
        #[wire(version)]
        protocol: u16,
    },
    #[wire(id = 0x0281)]
    Registered { launcher_id: u32 },
    /// A request: the launcher answers each in order with `GameStarted`.
    #[wire(id = 0x0282, reply = ToController::GameStarted)]
    StartGame { player: String },
    #[wire(id = 0x0283, ping)]
    Ping,
    #[wire(id = 0x0284, pong)]
    Pong,
}

// ---- The peer kinds ----------------------------------------------------------------------

/// A player, as the login server sees it.
#[derive(Peer)]
#[peer(recv = ToLogin, send = FromLogin, name = "player")]
struct Player {
    from: SocketAddr,
}

/// The login server, as a (simulated) player sees it.
#[derive(Peer)]
#[peer(recv = FromLogin, send = ToLogin, name = "login-link")]
struct LoginLink {
    name: String,
}

/// The launcher, as the controller sees it.
#[derive(Peer, Default)]
#[peer(recv = ToController, send = FromController, name = "launcher")]
struct Launcher;

/// The controller, as the launcher sees it.
#[derive(Peer, Default)]
#[peer(recv = FromController, send = ToController, name = "controller-link")]
struct ControllerLink;

// ---- The handlers ------------------------------------------------------------------------

/// Our protocol version is 2.0.0; a client must speak the same major version.
#[incoming(peer = Player, make_peer = Self::player, name = "login", backlog = 64, version = "2")]
struct LoginServer;

impl LoginServer {
    fn player(&self, from: SocketAddr) -> Player {
        Player { from }
    }
}

#[incoming(
    peer = Launcher,
    name = "controller",
    max_connections = 1,
    version = "2",
    heartbeat_ms = 1000
)]
struct Controller;

#[outgoing(
    peer = ControllerLink,
    name = "launcher",
    retry_ms = 50,
    max_attempts = 100,
    version = "2",
    heartbeat_ms = 1000
)]
struct LauncherLink;

/// The one event type of the program's central task.
enum Central {
    Login(Event<Player>),
    Player(Event<LoginLink>),
    Controller(Event<Launcher>),
    Launcher(Event<ControllerLink>),
    /// The launcher's reply to the controller's `StartGame` request, for `player`.
    GameStarted(String, Result<ToController, RequestError>),
}

impl From<Event<Player>> for Central {
    fn from(e: Event<Player>) -> Self {
        Central::Login(e)
    }
}
impl From<Event<LoginLink>> for Central {
    fn from(e: Event<LoginLink>) -> Self {
        Central::Player(e)
    }
}
impl From<Event<Launcher>> for Central {
    fn from(e: Event<Launcher>) -> Self {
        Central::Controller(e)
    }
}
impl From<Event<ControllerLink>> for Central {
    fn from(e: Event<ControllerLink>) -> Self {
        Central::Launcher(e)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The program, its central loop included, runs as a task on the runtime's worker
    // threads: `main`'s own thread is not one of them (see the README).
    tokio::spawn(run()).await?
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (tx, mut central) = central::<Central>(1024);

    // The launcher starts first and retries until the controller listens.
    let controller_addr: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?
    };
    let launcher = LauncherLink.start(controller_addr, &tx);
    tokio::time::sleep(Duration::from_millis(120)).await;
    println!("controller: starting on {controller_addr} (the launcher has been retrying)");
    let controller = Controller.listen(controller_addr, &tx).await?;

    let login = LoginServer.listen("127.0.0.1:0", &tx).await?;
    println!("login: listening on {}", login.local_addr());

    let players = [("ann", PROTOCOL), ("bob", PROTOCOL), ("old-client", 1)];
    let mut player_links: Vec<Outgoing<LoginLink>> = Vec::new();
    let mut waiting_for_game: HashMap<String, PeerHandle<Player>> = HashMap::new();
    let mut launcher_peer: Option<PeerHandle<Launcher>> = None;
    let mut next_session = 1000;
    let mut next_port = 7000;
    let mut players_done = 0;

    while let Some(event) = central.recv().await {
        match event {
            // -- launcher side: Connected comes once both sides agreed on the version
            Central::Launcher(Event::Connected(link)) => {
                let v = link.peer_version().map(ToString::to_string);
                println!("launcher: the controller speaks {v:?}; registering");
                let _ = link.send(ToController::Register { slots: 8 });
            }
            Central::Launcher(Event::Message(_, FromController::Registered { launcher_id })) => {
                println!("launcher: registered as launcher {launcher_id}; players may come");
                for (name, protocol) in players {
                    let out =
                        connhandler::OutgoingBuilder::new(login.local_addr(), move |_| LoginLink {
                            name: name.to_owned(),
                        })
                        .handshake(Handshake::new(Version::new(protocol.into(), 0, 0)))
                        .start(&tx);
                    player_links.push(out);
                }
            }
            // A request from the controller: answered in order, as the protocol says.
            Central::Launcher(Event::Message(link, FromController::StartGame { player })) => {
                next_port += 1;
                println!("launcher: starting a game server for {player} on port {next_port}");
                let _ = link.send(ToController::GameStarted { port: next_port });
            }

            // -- controller side
            Central::Controller(Event::Connected(peer)) => {
                println!("controller: launcher connected from {}", peer.addr());
            }
            Central::Controller(Event::Message(peer, ToController::Register { slots })) => {
                println!("controller: launcher registered with {slots} slots");
                let _ = peer.send(FromController::Registered { launcher_id: 1 });
                launcher_peer = Some(peer);
            }
            // The launcher's reply to a `StartGame`, as an event of the program's own: the
            // central loop never waited for it.
            Central::GameStarted(player, started) => {
                let Some(p) = waiting_for_game.remove(&player) else {
                    continue;
                };
                match started {
                    Ok(ToController::GameStarted { port }) => {
                        println!("login: game for {player} is up on port {port}");
                        let _ = p.send(FromLogin::GameReady { port });
                    }
                    other => {
                        println!("login: no game for {player}: {other:?}");
                        p.disconnect_with("no game server");
                    }
                }
            }

            // -- login server side: only clients of an accepted version get here
            Central::Login(Event::Connected(p)) => {
                let v = p.peer_version().map(ToString::to_string);
                println!("login: a player connected from {} speaking {v:?}", p.from);
            }
            Central::Login(Event::Message(p, ToLogin::Login { name })) => {
                next_session += 1;
                let _ = p.send(FromLogin::Welcome {
                    session: next_session,
                });
                if let Some(launcher) = &launcher_peer {
                    let who = name.clone();
                    launcher
                        .request(FromController::StartGame {
                            player: name.clone(),
                        })
                        .timeout(Duration::from_secs(5))
                        .post(&tx, move |started| Central::GameStarted(who, started));
                }
                waiting_for_game.insert(name, p);
            }
            Central::Login(Event::Disconnected(p, why)) => println!("login: {p} left: {why}"),

            // -- the simulated players
            Central::Player(Event::Connected(link)) => {
                let _ = link.send(ToLogin::Login {
                    name: link.name.clone(),
                });
            }
            Central::Player(Event::Message(link, reply)) => {
                println!("{}: got {reply:?}", link.name);
                if matches!(reply, FromLogin::GameReady { .. }) {
                    link.disconnect();
                }
            }
            Central::Player(Event::Disconnected(link, why)) => {
                // The outdated client's Disconnected comes without a Connected: the login
                // server's version handshake turned it away.
                println!("{}: disconnected ({why})", link.name);
                players_done += 1;
                if players_done == players.len() {
                    break;
                }
            }
            Central::Launcher(Event::ConnectFailed(e))
            | Central::Player(Event::ConnectFailed(e)) => return Err(e.into()),
            Central::Launcher(Event::Disconnected(_, why)) => {
                println!("launcher: link to the controller lost ({why})");
            }
            Central::Controller(Event::Disconnected(_, why)) => {
                println!("controller: launcher gone ({why})");
                launcher_peer = None;
            }
            Central::Login(Event::ConnectFailed(_))
            | Central::Controller(Event::ConnectFailed(_))
            | Central::Login(Event::Message(_, _))
            | Central::Controller(Event::Message(_, _))
            | Central::Launcher(Event::Message(_, _)) => {}
        }
    }

    for link in &player_links {
        link.shutdown().await;
    }
    launcher.shutdown().await;
    controller.shutdown().await;
    login.shutdown().await;
    println!(
        "done: {} players served by the login server, launcher registered: {}",
        login.stats().accepted,
        launcher_peer.is_some()
    );
    Ok(())
}
