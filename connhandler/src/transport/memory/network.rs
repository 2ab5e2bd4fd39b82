//! The in-memory network's shared state: hosts and their addresses, listeners, the links
//! between hosts (conditions, partitions), and the connections made, for faults.

use std::{
    collections::{HashMap, HashSet},
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use tokio::{
    sync::{mpsc, Notify},
    time::Instant,
};

use super::{pipe::Pipe, MemStream};
use crate::testing::net::Conditions;

/// Whether a link delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Down {
    Up,
    /// Stalled until then.
    Until(Instant),
    /// Partitioned until healed.
    Cut,
}

/// One direction of the link between two hosts.
pub(crate) struct LinkState {
    inner: Mutex<LinkInner>,
}

struct LinkInner {
    conditions: Conditions,
    down: Down,
    /// The jitter's draws, from the network's seed and the link's ends.
    rng: u64,
    /// The connections' pipes in this direction, woken when the link changes.
    pipes: Vec<Weak<Pipe>>,
}

/// splitmix64: a small, fixed generator (the same seed gives the same run).
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl LinkState {
    fn new(seed: u64) -> Arc<LinkState> {
        Arc::new(LinkState {
            inner: Mutex::new(LinkInner {
                conditions: Conditions::default(),
                down: Down::Up,
                rng: seed,
                pipes: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LinkInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn attach(&self, pipe: &Arc<Pipe>) {
        let mut l = self.lock();
        l.pipes.retain(|p| p.strong_count() > 0);
        l.pipes.push(Arc::downgrade(pipe));
    }

    /// The time a chunk takes to cross (latency and a draw of jitter), and the bandwidth cap.
    pub(crate) fn crossing(&self) -> (Duration, Option<u64>) {
        let mut l = self.lock();
        let c = l.conditions;
        let jitter = if c.jitter.is_zero() {
            Duration::ZERO
        } else {
            let unit = (next_random(&mut l.rng) >> 11) as f64 / (1u64 << 53) as f64;
            c.jitter.mul_f64(unit)
        };
        (c.latency + jitter, c.bandwidth)
    }

    /// From when the link delivers: `Some(now or earlier)` when up, `None` when cut.
    pub(crate) fn open_at(&self, now: Instant) -> Option<Instant> {
        match self.lock().down {
            Down::Up => Some(now),
            Down::Until(t) => Some(t),
            Down::Cut => None,
        }
    }

    fn is_cut(&self) -> bool {
        self.lock().down == Down::Cut
    }

    fn set(&self, f: impl FnOnce(&mut LinkInner)) {
        let pipes: Vec<Arc<Pipe>> = {
            let mut l = self.lock();
            f(&mut l);
            l.pipes.iter().filter_map(Weak::upgrade).collect()
        };
        for p in pipes {
            p.link_changed();
        }
    }
}

/// A connection made, for the fault handles.
#[derive(Clone)]
pub(crate) struct Made {
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    /// Client to server, and server to client.
    pub(crate) up: Weak<Pipe>,
    pub(crate) down: Weak<Pipe>,
}

type Backlog = mpsc::Sender<(MemStream, SocketAddr)>;

/// The whole network.
pub(crate) struct NetInner {
    seed: u64,
    state: Mutex<NetState>,
    /// Told when a link is healed or a listener opens (connects waiting on them look again).
    changed: Notify,
}

struct NetState {
    hosts: HashMap<String, IpAddr>,
    listeners: HashMap<SocketAddr, Backlog>,
    links: HashMap<(IpAddr, IpAddr), Arc<LinkState>>,
    refusing: HashSet<IpAddr>,
    next_port: HashMap<IpAddr, u16>,
    made: Vec<Made>,
    /// Bytes each direction of a connection holds (both sockets' buffers together).
    buffer: usize,
}

/// The default bytes a direction holds: about what two sockets' default buffers hold.
pub(crate) const DEFAULT_BUFFER: usize = 256 * 1024;

impl NetInner {
    pub(crate) fn new(seed: u64) -> Arc<NetInner> {
        Arc::new(NetInner {
            seed,
            state: Mutex::new(NetState {
                hosts: HashMap::new(),
                listeners: HashMap::new(),
                links: HashMap::new(),
                refusing: HashSet::new(),
                next_port: HashMap::new(),
                made: Vec::new(),
                buffer: DEFAULT_BUFFER,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The address of host `name`, made on first use (10.0.0.1, 10.0.0.2, ...).
    pub(crate) fn host(&self, name: &str) -> IpAddr {
        let mut s = self.lock();
        if let Some(ip) = s.hosts.get(name) {
            return *ip;
        }
        let n = s.hosts.len() as u32 + 1;
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
        s.hosts.insert(name.to_owned(), ip);
        ip
    }

    pub(crate) fn set_buffer(&self, bytes: usize) {
        self.lock().buffer = bytes.max(1);
    }

    fn link(&self, from: IpAddr, to: IpAddr) -> Arc<LinkState> {
        let mut s = self.lock();
        let seed = self.seed;
        s.links
            .entry((from, to))
            .or_insert_with(|| {
                let mut mix = seed ^ u64::from(ip_bits(from)) << 32 ^ u64::from(ip_bits(to));
                LinkState::new(next_random(&mut mix))
            })
            .clone()
    }

    pub(crate) fn set_conditions(&self, from: IpAddr, to: IpAddr, c: Conditions) {
        self.link(from, to).set(|l| l.conditions = c);
    }

    pub(crate) fn cut(&self, a: IpAddr, b: IpAddr) {
        self.link(a, b).set(|l| l.down = Down::Cut);
        self.link(b, a).set(|l| l.down = Down::Cut);
    }

    pub(crate) fn heal(&self, a: IpAddr, b: IpAddr) {
        self.link(a, b).set(|l| l.down = Down::Up);
        self.link(b, a).set(|l| l.down = Down::Up);
        self.changed.notify_waiters();
    }

    pub(crate) fn heal_all(&self) {
        let links: Vec<_> = self.lock().links.values().cloned().collect();
        for l in links {
            l.set(|l| l.down = Down::Up);
        }
        self.changed.notify_waiters();
    }

    pub(crate) fn stall(&self, from: IpAddr, to: IpAddr, until: Instant) {
        self.link(from, to).set(|l| {
            if l.down != Down::Cut {
                l.down = Down::Until(until);
            }
        });
    }

    pub(crate) fn refuse(&self, host: IpAddr, refuse: bool) {
        let mut s = self.lock();
        if refuse {
            s.refusing.insert(host);
        } else {
            s.refusing.remove(&host);
        }
    }

    /// The connections made between `a` and `b` (either one connecting) that are not over.
    pub(crate) fn made_between(&self, a: IpAddr, b: IpAddr) -> Vec<Made> {
        let mut s = self.lock();
        s.made.retain(|m| {
            let live = |p: &Weak<Pipe>| p.upgrade().is_some_and(|p| !p.is_over());
            live(&m.up) || live(&m.down)
        });
        s.made
            .iter()
            .filter(|m| {
                let (c, v) = (m.client.ip(), m.server.ip());
                (c == a && v == b) || (c == b && v == a)
            })
            .cloned()
            .collect()
    }

    /// Opens a listener on `host` at `port` (0: a free one).
    pub(crate) fn bind(
        self: &Arc<Self>,
        host: IpAddr,
        port: u16,
        backlog: u32,
    ) -> io::Result<MemListener> {
        let mut s = self.lock();
        let port = if port == 0 {
            next_port(&mut s, host)
        } else {
            port
        };
        let addr = SocketAddr::new(host, port);
        if s.listeners.get(&addr).is_some_and(|l| !l.is_closed()) {
            return Err(io::ErrorKind::AddrInUse.into());
        }
        let (tx, rx) = mpsc::channel(backlog.max(1) as usize);
        s.listeners.insert(addr, tx);
        drop(s);
        self.changed.notify_waiters();
        Ok(MemListener {
            net: self.clone(),
            addr,
            rx,
        })
    }

    /// The address `host:port` names: a host of this network by name, or an address as it
    /// is (a loopback one means the connecting host itself).
    pub(crate) fn resolve(&self, from: IpAddr, text: &str) -> io::Result<SocketAddr> {
        if let Ok(a) = text.parse::<SocketAddr>() {
            return Ok(if a.ip().is_loopback() {
                SocketAddr::new(from, a.port())
            } else {
                a
            });
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no port in the address"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?;
        if host == "localhost" {
            return Ok(SocketAddr::new(from, port));
        }
        match self.lock().hosts.get(host) {
            Some(ip) => Ok(SocketAddr::new(*ip, port)),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no host named {host} on the in-memory network"),
            )),
        }
    }

    /// Connects from `from` to `to`: waits while a partition separates them, takes a round
    /// trip of the links, then is refused (no listener, or the host refuses) or accepted.
    pub(crate) async fn connect(&self, from: IpAddr, to: SocketAddr) -> io::Result<MemStream> {
        let (up, back) = (self.link(from, to.ip()), self.link(to.ip(), from));
        loop {
            let changed = self.changed.notified();
            if !up.is_cut() && !back.is_cut() {
                break;
            }
            changed.await;
        }
        let rtt = up.crossing().0 + back.crossing().0;
        if !rtt.is_zero() {
            tokio::time::sleep(rtt).await;
        }
        let (listener, buffer, local) = {
            let mut s = self.lock();
            let listener = if s.refusing.contains(&to.ip()) {
                None
            } else {
                s.listeners.get(&to).filter(|l| !l.is_closed()).cloned()
            };
            let port = next_port(&mut s, from);
            (listener, s.buffer, SocketAddr::new(from, port))
        };
        let Some(listener) = listener else {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("connection refused by {to} (in-memory network)"),
            ));
        };
        let (a, b) = (Pipe::new(up, buffer), Pipe::new(back, buffer));
        Pipe::pair(&a, &b);
        let client = MemStream::new(b.clone(), a.clone(), local);
        let server = MemStream::new(a.clone(), b.clone(), to);
        // A full backlog makes the connect wait, as a dropped SYN would.
        if listener.send((server, local)).await.is_err() {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        self.lock().made.push(Made {
            client: local,
            server: to,
            up: Arc::downgrade(&a),
            down: Arc::downgrade(&b),
        });
        Ok(client)
    }
}

fn ip_bits(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6.to_bits() as u32,
    }
}

fn next_port(s: &mut NetState, host: IpAddr) -> u16 {
    let taken: HashSet<u16> = s
        .listeners
        .keys()
        .filter(|a| a.ip() == host)
        .map(SocketAddr::port)
        .collect();
    let next = s.next_port.entry(host).or_insert(40_000);
    loop {
        let port = *next;
        *next = if *next == u16::MAX { 40_000 } else { *next + 1 };
        if !taken.contains(&port) {
            return port;
        }
    }
}

/// A listener of the in-memory network.
pub(crate) struct MemListener {
    net: Arc<NetInner>,
    addr: SocketAddr,
    rx: mpsc::Receiver<(MemStream, SocketAddr)>,
}

impl MemListener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) async fn accept(&mut self) -> io::Result<(MemStream, SocketAddr)> {
        match self.rx.recv().await {
            Some(accepted) => Ok(accepted),
            None => std::future::pending().await,
        }
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        self.rx.close();
        self.net.lock().listeners.remove(&self.addr);
    }
}
