//! A login server, a game server launcher and a game controller in one process, over
//! loopback, with one central task:
//!
//! - the **controller** listens for its single local launcher (an incoming handler limited to
//!   one peer on 127.0.0.1);
//! - the **launcher** connects to the controller with retry (it starts before the controller
//!   listens) and registers with a protocol-version handshake;
//! - the **login server** serves many players (an incoming handler); each says hello with its
//!   protocol version; an outdated one is turned away, the others get a game started for them
//!   by the launcher.
//!
//! The players are simulated in the same process with outgoing handlers. It prints what
//! happens and exits. Run it with `cargo run --example game_services`.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use connhandler::{central, incoming, outgoing, Event, Message, Outgoing, Peer, PeerHandle};

const PROTOCOL: u16 = 2;

// ---- The protocols ---------------------------------------------------------------------

/// What players send the login server.
#[derive(Message, Debug)]
enum ToLogin {
    #[wire(id = 0x0100)]
    Hello { protocol: u16, name: String },
}

/// What the login server sends players.
#[derive(Message, Debug)]
enum FromLogin {
    #[wire(id = 0x0180)]
    Welcome { session: u32 },
    #[wire(id = 0x0181)]
    Rejected { reason: String },
    #[wire(id = 0x0182)]
    GameReady { port: u16 },
}

/// What the launcher sends the controller.
#[derive(Message, Debug)]
enum ToController {
    #[wire(id = 0x0200)]
    Register { protocol: u16, slots: u8 },
    #[wire(id = 0x0201)]
    GameStarted { player: String, port: u16 },
}

/// What the controller sends the launcher.
#[derive(Message, Debug)]
enum FromController {
    #[wire(id = 0x0280)]
    Registered { launcher_id: u32 },
    #[wire(id = 0x0281)]
    StartGame { player: String },
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
    protocol: u16,
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

#[incoming(peer = Player, make_peer = Self::player, name = "login", backlog = 64)]
struct LoginServer;

impl LoginServer {
    fn player(&self, from: SocketAddr) -> Player {
        Player { from }
    }
}

#[incoming(peer = Launcher, name = "controller", max_connections = 1)]
struct Controller;

#[outgoing(peer = ControllerLink, name = "launcher", retry_ms = 50, max_attempts = 100)]
struct LauncherLink;

/// The one event type of the program's central task.
enum Central {
    Login(Event<Player>),
    Player(Event<LoginLink>),
    Controller(Event<Launcher>),
    Launcher(Event<ControllerLink>),
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
            // -- launcher side: register with the controller once connected
            Central::Launcher(Event::Connected(link)) => {
                println!("launcher: connected to the controller, registering");
                let _ = link.send(ToController::Register {
                    protocol: PROTOCOL,
                    slots: 8,
                });
            }
            Central::Launcher(Event::Message(link, FromController::Registered { launcher_id })) => {
                println!("launcher: registered as launcher {launcher_id}; players may come");
                for (name, protocol) in players {
                    let out =
                        connhandler::OutgoingBuilder::new(login.local_addr(), move |_| LoginLink {
                            name: name.to_owned(),
                            protocol,
                        })
                        .start(&tx);
                    player_links.push(out);
                }
                let _ = link;
            }
            Central::Launcher(Event::Message(link, FromController::StartGame { player })) => {
                next_port += 1;
                println!("launcher: starting a game server for {player} on port {next_port}");
                let _ = link.send(ToController::GameStarted {
                    player,
                    port: next_port,
                });
            }

            // -- controller side: the handshake checks the protocol version
            Central::Controller(Event::Connected(peer)) => {
                println!("controller: launcher connected from {}", peer.addr());
            }
            Central::Controller(Event::Message(
                peer,
                ToController::Register { protocol, slots },
            )) => {
                if protocol != PROTOCOL {
                    peer.disconnect_with(format!("protocol {protocol} is not {PROTOCOL}"));
                    continue;
                }
                println!("controller: launcher speaks protocol {protocol}, {slots} slots");
                let _ = peer.send(FromController::Registered { launcher_id: 1 });
                launcher_peer = Some(peer);
            }
            Central::Controller(Event::Message(_, ToController::GameStarted { player, port })) => {
                if let Some(p) = waiting_for_game.remove(&player) {
                    println!("login: game for {player} is up on port {port}");
                    let _ = p.send(FromLogin::GameReady { port });
                }
            }

            // -- login server side
            Central::Login(Event::Connected(p)) => {
                println!("login: a player connected from {}", p.from)
            }
            Central::Login(Event::Message(p, ToLogin::Hello { protocol, name })) => {
                if protocol != PROTOCOL {
                    println!("login: {name} speaks protocol {protocol}; turning it away");
                    let _ = p.send(FromLogin::Rejected {
                        reason: format!("please update: protocol {PROTOCOL} is required"),
                    });
                    p.disconnect_with("outdated protocol");
                    continue;
                }
                next_session += 1;
                let _ = p.send(FromLogin::Welcome {
                    session: next_session,
                });
                if let Some(launcher) = &launcher_peer {
                    let _ = launcher.send(FromController::StartGame {
                        player: name.clone(),
                    });
                }
                waiting_for_game.insert(name, p);
            }
            Central::Login(Event::Disconnected(p, why)) => println!("login: {p} left: {why}"),

            // -- the simulated players
            Central::Player(Event::Connected(link)) => {
                let _ = link.send(ToLogin::Hello {
                    protocol: link.protocol,
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
                println!("{}: disconnected ({why})", link.name);
                players_done += 1;
                if players_done == players.len() {
                    break;
                }
            }
            Central::Launcher(Event::ConnectFailed(e))
            | Central::Player(Event::ConnectFailed(e)) => return Err(e.into()),
            _ => {}
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
