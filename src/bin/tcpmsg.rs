//! `tcpmsg`: netcat for message-framed TCP, built on connhandler.
//!
//! Run `tcpmsg --help` for the commands and options.

use std::{
    collections::HashMap,
    io::{BufRead, Write},
    process::ExitCode,
    time::Duration,
};

#[path = "tcpmsg/conditioner.rs"]
mod conditioner;

use bytes::Bytes;
use connhandler::{
    central,
    codec::{Framing, Panda3dCodec, TcpMessageCodec},
    handler::WithHook,
    tls::{TlsClient, TlsServer},
    ws::{WebSocket, WsUrl},
    ConnectError, Event, Incoming, IncomingBuilder, Outgoing, OutgoingBuilder, Peer, PeerHandle,
    PeerId, Retry,
};

const HELP: &str = "\
tcpmsg: netcat for message-framed TCP

USAGE:
    tcpmsg echo  --listen ADDR [OPTIONS]
    tcpmsg send  --connect ADDR [OPTIONS]
    tcpmsg proxy --listen ADDR --connect ADDR [OPTIONS]
    tcpmsg gen   --schema FILE [--out DIR]

COMMANDS:
    gen     Write the peers of a protocol document (connhandler::schema): NAME.py
            (Python), NAME.ts, NAME.js and NAME.d.ts (TypeScript, and the same as an ES
            module with its types), NAME.cs (C#) and NAME.lua (a Wireshark dissector), into
            --out DIR (default: here); prints each path written.
    echo    Listen; print exactly one line `listening on HOST:PORT` once bound (the real
            port when port 0 was asked), then send every message back to its sender,
            unchanged, until killed.
    send    Connect; read messages from stdin, one per line, as hex (whitespace ignored);
            send each and print the one message that comes back, as a line of hex. Exit 0
            at the end of input; non-zero with an error on stderr when it cannot connect or
            an answer does not come.
    proxy   Listen; for each client, connect to the upstream and forward messages both
            ways, printing each as `DIRECTION CLIENT SIZE HEX` (`->` client to upstream,
            `<-` upstream to client). Upstream connects run beside the forwarding, so
            a slow or unreachable upstream holds up only its own client: what that client
            sends meanwhile waits in a bounded buffer (--pending-bytes), and a client whose
            upstream cannot be reached is closed with the reason. Lines that stdout cannot
            take fast enough are dropped, and counted on stderr, rather than stall clients.

OPTIONS:
    --framing F               tcpmessage (default), panda3d:2, panda3d:4 or panda3d:0
    --max-message-size N      TcpMessage chunk size, 1..=65535 (default 65535); with
                              panda3d, the longest datagram accepted
    --connect-timeout-ms N    time-out of one connect attempt (default 5000)
    --reply-timeout-ms N      send: how long to wait for each answer (default 10000)
    --chunk-wait-ms N         tcpmessage: a message that ends on a full chunk with header 0
                              (the reference writer's exact multiples) ends when no more
                              bytes arrive for N ms (default 100)

  Protection of the listening side (echo, proxy); 0 turns one off. The defaults are the
  library's, safe for a server facing the internet:
    --first-message-timeout-ms N  close a connection that sends nothing within N ms (30000)
    --idle-timeout-ms N       close a connection on which nothing arrives for N ms (300000)
    --frame-timeout-ms N      close a connection that leaves a frame unfinished for N ms
                              from its first byte (30000), extended by --min-frame-rate
    --min-frame-rate N        bytes per second an unfinished frame may take beyond that (4096)
    --max-connections N       connections served at once (16384)
    --max-connections-per-ip N  from one address, IPv6 by /64 (a quarter of the above, <= 4096)
    --connect-rate-per-ip N   new connections per second from one address (2048)
    --read-budget N           bytes of unfinished frames all connections hold together (64 MiB);
                              one short of it waits, and the largest holder is cut
    --read-budget-per-ip N    of which one address may hold (an eighth of the read budget)
    --queue-bytes N           bytes queued for one peer, its soft bound (1 MiB): past half of it
                              (with what its requests in flight will bring), its messages
                              wait to be read, so a client that pipelines and reads is
                              served; one that does not read is cut (--write-timeout-ms)
    --queue-hard-cap N        bytes queued for one peer at most, draining or not (8 x the above)
    --write-timeout-ms N      cut a peer whose queue is past its soft bound when it has read
                              nothing for N ms (15000)
    --control-rate N          WebSocket pings and pongs a peer may send per second (64)
    --half-close on|off       after a peer's FIN, still write the replies (on)
    --unprotected             all of the protection above off (loopback tools, benchmarks)
    --pending-bytes N         proxy: bytes a client may send before its upstream is up (1 MiB)

  Link conditioner (proxy; all off by default): the clients' side of the proxy as a bad
  link, to test real programs. Applied to the bytes between each client and the proxy:
    --delay-ms N              add N ms to each direction (a round trip gains 2 N)
    --jitter-ms N             and up to N ms more, drawn per read from --seed (order kept)
    --bandwidth BITS          at most BITS bits per second each way
    --bandwidth-up BITS       client to upstream only; --bandwidth-down: the other way
    --stall-every-ms N --stall-ms M  every N ms, deliver nothing for M ms
    --reset-after-bytes N     reset each connection (a real RST: zero linger) once N bytes
                              have crossed it, both ways together
    --reset-random-bytes N    reset each connection after a number of bytes drawn from
                              1..=N (from --seed)
    --seed S                  the draws' seed (0): the same seed, the same run

  Transports of the listening side (echo, proxy's clients):
    --tls-cert FILE --tls-key FILE  serve TLS with this certificate chain and key (PEM)
    --tls-client-ca FILE      mutual TLS: clients must show a certificate this CA signed
    --websocket PATH          serve WebSocket on PATH (each binary message is one message;
                              with --tls-cert, wss://)
    --ws-origin ORIGIN        let browsers from ORIGIN in (repeatable); pages from other
                              sites are refused, clients without an Origin let in
    --ws-any-origin           let browsers from any site in
    --proxy-protocol          expect a PROXY protocol v1/v2 header from a load balancer;
                              direct connections from other addresses are refused
    --proxy-trusted NETS      the load balancers, as addresses or networks (10.0.0.0/8),
                              comma-separated or repeated (default: loopback and the
                              private networks)
    --proxy-serve-direct      serve direct connections from other addresses, without a header
    --ws-max-fragments N      fragments one WebSocket message may come in (1024)
    --handshake-timeout-ms N  PROXY header, TLS handshake and upgrade together (10000)

  Transports of the connecting side (send, proxy's upstream); ADDR may also be a ws:// or
  wss:// URL (so proxy bridges, say, browsers on WebSocket to a plain-TCP server):
    --tls                     connect with TLS, trusting the platform's store
    --ca FILE                 connect with TLS, trusting the CAs in FILE (PEM) only
    --tls-name NAME           the name the server's certificate must carry (default: the
                              host connected to)
    --client-cert FILE --client-key FILE  mutual TLS: our certificate and key (PEM)

MESSAGES (--schema FILE, a protocol document written by connhandler::schema):
    --schema FILE             echo, send and proxy speak the document's messages: each
                              message is printed as one JSON line,
                              {\"dir\":\"->\",\"client\":ID,\"msg\":NAME,\"fields\":{..}} (`->` what
                              the document's peer kind receives, `<-` what it sends; no
                              client on send's lines), one that does not decode as
                              {\"dir\":..,\"size\":N,\"hex\":..,\"error\":..}; send reads
                              {\"msg\":NAME,\"fields\":{..}} lines and encodes them by name
                              (a bad line is an error, exit 1). The framing is the
                              document's unless --framing says otherwise.

    -h, --help                print this help
";

/// Raw bytes both ways: the tool does not interpret messages.
#[derive(Default)]
struct Client;

impl Peer for Client {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "client";
}

/// The upstream of one proxied client.
struct Upstream {
    client: PeerId,
}

impl Peer for Upstream {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "upstream";
}

#[derive(Clone, Copy)]
enum FramingKind {
    TcpMessage,
    Panda3d(usize),
}

struct Options {
    command: String,
    /// The protocol document of `--schema`: messages as JSON lines.
    schema: Option<connhandler::schema::Protocol>,
    /// Whether `--framing` was given (otherwise a document's framing is used).
    framing_given: bool,
    /// `gen`'s folder.
    out: String,
    listen: Option<String>,
    connect: Option<String>,
    framing: FramingKind,
    max_message_size: Option<usize>,
    connect_timeout: Duration,
    reply_timeout: Duration,
    chunk_wait: Duration,
    protection: Protection,
    pending_bytes: usize,
    conditions: conditioner::Conditions,
    listen_door: ListenDoor,
    connect_door: ConnectDoor,
}

/// The transport options of the listening side.
#[derive(Default)]
struct ListenDoor {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    websocket: Option<String>,
    origins: Vec<String>,
    any_origin: bool,
    proxy_protocol: bool,
    proxy_trusted: Vec<connhandler::IpNet>,
    proxy_serve_direct: bool,
    ws_max_fragments: Option<usize>,
    handshake_timeout: Option<u64>,
}

impl ListenDoor {
    fn apply<P: Peer, F: Framing, H>(
        &self,
        mut b: IncomingBuilder<P, F, H>,
    ) -> Result<IncomingBuilder<P, F, H>, String> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let mut tls = TlsServer::from_pem_files(cert, key).map_err(|e| e.to_string())?;
                if let Some(ca) = &self.client_ca {
                    tls = tls.require_client_certs(ca).map_err(|e| e.to_string())?;
                }
                b = b.tls(tls);
            }
            (None, None) if self.client_ca.is_none() => {}
            _ => {
                return Err(
                    "--tls-cert and --tls-key go together (and --tls-client-ca needs them)".into(),
                )
            }
        }
        if let Some(path) = &self.websocket {
            let mut ws = WebSocket::new().path(path.as_str());
            for origin in &self.origins {
                ws = ws.allow_origin(origin.as_str());
            }
            if self.any_origin {
                ws = ws.allow_any_origin();
            }
            if let Some(max) = self.ws_max_fragments {
                ws = ws.max_fragments(max);
            }
            b = b.websocket(ws);
        }
        b = b.proxy_protocol(self.proxy_protocol);
        if !self.proxy_trusted.is_empty() {
            b = b.proxy_trusted(self.proxy_trusted.iter().copied());
        }
        b = b.proxy_serve_direct(self.proxy_serve_direct);
        if let Some(ms) = self.handshake_timeout {
            b = b.handshake_timeout(Duration::from_millis(ms));
        }
        Ok(b)
    }
}

/// The transport options of the connecting side.
#[derive(Default)]
struct ConnectDoor {
    tls: bool,
    ca: Option<String>,
    name: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

impl ConnectDoor {
    /// A builder for `addr` (a host:port, or a ws:// or wss:// URL) with these options.
    fn builder<P: Peer>(
        &self,
        addr: &str,
        make_peer: impl Fn(std::net::SocketAddr) -> P + Send + Sync + 'static,
    ) -> Result<OutgoingBuilder<P, TcpMessageCodec, WithHook<P>>, String> {
        let (mut b, tls) = if addr.starts_with("ws://") || addr.starts_with("wss://") {
            let url = WsUrl::parse(addr)?;
            let b = OutgoingBuilder::new((url.host.as_str(), url.port), make_peer)
                .websocket(WebSocket::new().path(url.path.as_str()));
            (b, url.tls)
        } else {
            (OutgoingBuilder::new(addr, make_peer), false)
        };
        if tls || self.tls || self.ca.is_some() {
            let mut t = match &self.ca {
                Some(ca) => TlsClient::with_ca_file(ca).map_err(|e| e.to_string())?,
                None => TlsClient::platform_roots(),
            };
            if let Some(name) = &self.name {
                t = t.server_name(name.as_str());
            }
            match (&self.client_cert, &self.client_key) {
                (Some(c), Some(k)) => t = t.client_cert(c, k).map_err(|e| e.to_string())?,
                (None, None) => {}
                _ => return Err("--client-cert and --client-key go together".into()),
            }
            b = b.tls(t);
        }
        Ok(b)
    }
}

/// The protection options of the listening side; `None`: the library's default, `Some(0)`:
/// off.
#[derive(Default)]
struct Protection {
    first_message_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    frame_timeout: Option<u64>,
    min_frame_rate: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_ip: Option<u64>,
    connect_rate_per_ip: Option<u64>,
    read_budget: Option<u64>,
    queue_bytes: Option<u64>,
    queue_hard_cap: Option<u64>,
    write_timeout: Option<u64>,
    read_budget_per_ip: Option<u64>,
    control_rate: Option<u64>,
    half_close: Option<bool>,
    unprotected: bool,
}

impl Protection {
    /// Applies the options to an incoming handler's builder.
    fn apply<P: Peer, F: Framing, H>(
        &self,
        mut b: IncomingBuilder<P, F, H>,
    ) -> IncomingBuilder<P, F, H> {
        let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
        let count = |v: u64| (v > 0).then_some(v as usize);
        if self.unprotected {
            b = b.unprotected();
        }
        if let Some(v) = self.first_message_timeout {
            b = b.first_message_timeout(ms(v));
        }
        if let Some(v) = self.idle_timeout {
            b = b.idle_timeout(ms(v));
        }
        if let Some(v) = self.frame_timeout {
            b = b.frame_timeout(ms(v));
        }
        if let Some(v) = self.min_frame_rate {
            b = b.min_frame_rate((v > 0).then(|| v.min(u64::from(u32::MAX)) as u32));
        }
        if let Some(v) = self.max_connections {
            b = b.max_connections(count(v));
        }
        if let Some(v) = self.max_connections_per_ip {
            b = b.max_connections_per_ip(count(v));
        }
        if let Some(v) = self.connect_rate_per_ip {
            b = b.connect_rate_per_ip((v > 0).then_some((v, Duration::from_secs(1))));
        }
        if let Some(v) = self.read_budget {
            b = b.read_budget(count(v));
        }
        if let Some(v) = self.queue_bytes {
            b = b.queue_bytes(v.max(1) as usize);
        }
        if let Some(v) = self.queue_hard_cap {
            b = b.queue_hard_cap(v.max(1) as usize);
        }
        if let Some(v) = self.write_timeout {
            b = b.write_timeout(ms(v));
        }
        if let Some(v) = self.read_budget_per_ip {
            b = b.read_budget_per_ip(count(v));
        }
        if let Some(v) = self.control_rate {
            b = b.control_rate_limit((v > 0).then_some((v, Duration::from_secs(1))));
        }
        if let Some(on) = self.half_close {
            b = b.half_close(on);
        }
        b
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    let command = match it.next().map(String::as_str) {
        None | Some("-h" | "--help") => return Err(String::new()),
        Some(c @ ("echo" | "send" | "proxy" | "gen")) => c.to_owned(),
        Some(other) => return Err(format!("unknown command `{other}`")),
    };
    let mut o = Options {
        command,
        schema: None,
        framing_given: false,
        out: ".".to_owned(),
        listen: None,
        connect: None,
        framing: FramingKind::TcpMessage,
        max_message_size: None,
        connect_timeout: Duration::from_millis(5000),
        reply_timeout: Duration::from_millis(10_000),
        chunk_wait: Duration::from_millis(100),
        protection: Protection::default(),
        pending_bytes: 1 << 20,
        conditions: conditioner::Conditions::default(),
        listen_door: ListenDoor::default(),
        connect_door: ConnectDoor::default(),
    };
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("`{flag}` takes a whole number, not `{v}`"))
        };
        match flag.as_str() {
            "--schema" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("`--schema {path}`: {e}"))?;
                o.schema = Some(
                    connhandler::schema::Protocol::from_json(&text)
                        .map_err(|e| format!("`--schema {path}`: {e}"))?,
                );
            }
            "--out" => o.out = value()?,
            "--listen" => o.listen = Some(value()?),
            "--connect" => o.connect = Some(value()?),
            "--framing" => {
                o.framing_given = true;
                o.framing = match value()?.as_str() {
                    "tcpmessage" => FramingKind::TcpMessage,
                    "panda3d" | "panda3d:2" => FramingKind::Panda3d(2),
                    "panda3d:4" => FramingKind::Panda3d(4),
                    "panda3d:0" => FramingKind::Panda3d(0),
                    other => {
                        return Err(format!(
                    "unknown framing `{other}`: use tcpmessage, panda3d:2, panda3d:4 or panda3d:0"
                ))
                    }
                }
            }
            "--max-message-size" => o.max_message_size = Some(number(value()?)? as usize),
            "--connect-timeout-ms" => o.connect_timeout = Duration::from_millis(number(value()?)?),
            "--reply-timeout-ms" => o.reply_timeout = Duration::from_millis(number(value()?)?),
            "--chunk-wait-ms" => o.chunk_wait = Duration::from_millis(number(value()?)?),
            "--first-message-timeout-ms" => {
                o.protection.first_message_timeout = Some(number(value()?)?)
            }
            "--idle-timeout-ms" => o.protection.idle_timeout = Some(number(value()?)?),
            "--frame-timeout-ms" => o.protection.frame_timeout = Some(number(value()?)?),
            "--min-frame-rate" => o.protection.min_frame_rate = Some(number(value()?)?),
            "--max-connections" => o.protection.max_connections = Some(number(value()?)?),
            "--max-connections-per-ip" => {
                o.protection.max_connections_per_ip = Some(number(value()?)?)
            }
            "--connect-rate-per-ip" => o.protection.connect_rate_per_ip = Some(number(value()?)?),
            "--read-budget" => o.protection.read_budget = Some(number(value()?)?),
            "--queue-bytes" => o.protection.queue_bytes = Some(number(value()?)?),
            "--queue-hard-cap" => o.protection.queue_hard_cap = Some(number(value()?)?),
            "--write-timeout-ms" => o.protection.write_timeout = Some(number(value()?)?),
            "--read-budget-per-ip" => o.protection.read_budget_per_ip = Some(number(value()?)?),
            "--control-rate" => o.protection.control_rate = Some(number(value()?)?),
            "--half-close" => {
                o.protection.half_close = Some(match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    other => return Err(format!("`--half-close` takes on or off, not `{other}`")),
                })
            }
            "--unprotected" => o.protection.unprotected = true,
            "--pending-bytes" => o.pending_bytes = number(value()?)? as usize,
            "--delay-ms" => o.conditions.delay = Duration::from_millis(number(value()?)?),
            "--jitter-ms" => o.conditions.jitter = Duration::from_millis(number(value()?)?),
            "--bandwidth" => {
                let bps = number(value()?)?;
                o.conditions.up_bps = Some(bps);
                o.conditions.down_bps = Some(bps);
            }
            "--bandwidth-up" => o.conditions.up_bps = Some(number(value()?)?),
            "--bandwidth-down" => o.conditions.down_bps = Some(number(value()?)?),
            "--stall-every-ms" => {
                o.conditions.stall_every = Some(Duration::from_millis(number(value()?)?))
            }
            "--stall-ms" => o.conditions.stall_for = Duration::from_millis(number(value()?)?),
            "--reset-after-bytes" => o.conditions.reset_after = Some(number(value()?)?),
            "--reset-random-bytes" => o.conditions.reset_random = Some(number(value()?)?),
            "--seed" => o.conditions.seed = number(value()?)?,
            "--tls-cert" => o.listen_door.cert = Some(value()?),
            "--tls-key" => o.listen_door.key = Some(value()?),
            "--tls-client-ca" => o.listen_door.client_ca = Some(value()?),
            "--websocket" => o.listen_door.websocket = Some(value()?),
            "--ws-origin" => o.listen_door.origins.push(value()?),
            "--ws-any-origin" => o.listen_door.any_origin = true,
            "--proxy-protocol" => o.listen_door.proxy_protocol = true,
            "--proxy-trusted" => {
                for net in value()?.split(',').filter(|n| !n.trim().is_empty()) {
                    let net = net
                        .parse::<connhandler::IpNet>()
                        .map_err(|e| format!("`--proxy-trusted`: {e}"))?;
                    o.listen_door.proxy_trusted.push(net);
                }
            }
            "--proxy-serve-direct" => o.listen_door.proxy_serve_direct = true,
            "--ws-max-fragments" => {
                o.listen_door.ws_max_fragments = Some(number(value()?)? as usize)
            }
            "--handshake-timeout-ms" => o.listen_door.handshake_timeout = Some(number(value()?)?),
            "--tls" => o.connect_door.tls = true,
            "--ca" => o.connect_door.ca = Some(value()?),
            "--tls-name" => o.connect_door.name = Some(value()?),
            "--client-cert" => o.connect_door.client_cert = Some(value()?),
            "--client-key" => o.connect_door.client_key = Some(value()?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let needs = |what: &Option<String>, flag: &str| {
        what.is_none()
            .then(|| format!("`{}` needs {flag} ADDR", o.command))
    };
    if !o.framing_given {
        if let Some(p) = &o.schema {
            match p.framing {
                connhandler::schema::FramingSpec::TcpMessage {
                    max_message_size, ..
                } if o.max_message_size.is_none() => {
                    o.max_message_size = Some(max_message_size);
                }
                connhandler::schema::FramingSpec::Panda3d { header_size } => {
                    o.framing = FramingKind::Panda3d(usize::from(header_size));
                }
                _ => {}
            }
        }
    }
    let missing = match o.command.as_str() {
        "gen" if o.schema.is_none() => Some("`gen` needs --schema FILE".to_owned()),
        "gen" => None,
        "echo" => needs(&o.listen, "--listen"),
        "send" => needs(&o.connect, "--connect"),
        _ => needs(&o.listen, "--listen").or_else(|| needs(&o.connect, "--connect")),
    };
    match missing {
        Some(m) => Err(m),
        None => Ok(o),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(line: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = line.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("an odd number of hex digits".to_owned());
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Ok(d - b'0'),
        b'a'..=b'f' => Ok(d - b'a' + 10),
        b'A'..=b'F' => Ok(d - b'A' + 10),
        _ => Err(format!("`{}` is not a hex digit", d as char)),
    };
    digits
        .chunks(2)
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tcpmsg: {e}\n\nRun `tcpmsg --help` for usage.");
            return ExitCode::from(2);
        }
    };
    if options.command == "gen" {
        return match generate(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tcpmsg: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // The command (its central loop included) runs as a task of the runtime, on its worker
    // threads: run in `main`'s own thread, every event would cross threads to reach the
    // central loop (a wake-up through the kernel per message; measured in BENCHMARKS.md).
    let result = tokio::spawn(async move {
        match options.framing {
            FramingKind::TcpMessage => {
                let mut builder = TcpMessageCodec::builder();
                builder.idle_end(options.chunk_wait);
                if let Some(max) = options.max_message_size {
                    builder.max_message_size(max);
                }
                match builder.new_codec() {
                    Ok(codec) => run(&options, codec).await,
                    Err(e) => Err(e.to_string()),
                }
            }
            FramingKind::Panda3d(header) => {
                let mut builder = Panda3dCodec::builder();
                builder.header_size(header);
                if let Some(max) = options.max_message_size {
                    builder.max_frame_length(max);
                }
                match builder.new_codec() {
                    Ok(codec) => run(&options, codec).await,
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    })
    .await
    .unwrap_or_else(|e| Err(format!("the command failed: {e}")));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpmsg: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `gen`: the peers of the document, written into `--out`.
fn generate(o: &Options) -> Result<(), String> {
    use connhandler::schema::{csharp, python, typescript, wireshark};
    let Some(p) = &o.schema else {
        return Err("`gen` needs --schema FILE".to_owned());
    };
    let name: String = p
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let class: String = name
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let dir = std::path::Path::new(&o.out);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ts = typescript::generate(p);
    for (file, text) in [
        (format!("{name}.py"), python::generate(p)),
        (format!("{name}.ts"), ts.ts),
        (format!("{name}.js"), ts.js),
        (format!("{name}.d.ts"), ts.d_ts),
        (format!("{class}.cs"), csharp::generate(p)),
        (format!("{name}.lua"), wireshark::generate(p)),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// A message as a JSON line: decoded by the document (`recv`: the document's peer kind
/// receives it), or its hex and why it does not decode.
fn message_line(o: &Options, recv: bool, client: Option<PeerId>, msg: &[u8]) -> Option<String> {
    let p = o.schema.as_ref()?;
    let ty = if recv { &p.recv } else { &p.send };
    let mut line = serde_json::Map::new();
    line.insert("dir".into(), (if recv { "->" } else { "<-" }).into());
    if let Some(c) = client {
        line.insert("client".into(), c.to_string().into());
    }
    match connhandler::schema::dynamic::decode(p, ty, msg) {
        Ok(serde_json::Value::Object(m)) => line.extend(m),
        Ok(other) => {
            line.insert("msg".into(), other);
        }
        Err(e) => {
            line.insert("size".into(), msg.len().into());
            line.insert("hex".into(), hex(msg).into());
            line.insert("error".into(), e.into());
        }
    }
    Some(serde_json::Value::Object(line).to_string())
}

async fn run<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    match o.command.as_str() {
        "echo" => echo(o, framing).await,
        "send" => send(o, framing).await,
        _ => proxy(o, framing).await,
    }
}

async fn echo<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    let (tx, mut central) = central::<Event<Client>>(1024);
    let listen = o.listen.as_deref().unwrap_or_default();
    let builder = Incoming::<Client>::builder(listen)
        .name("echo")
        .framing(framing);
    let server = o
        .listen_door
        .apply(o.protection.apply(builder))?
        .listen(&tx)
        .await
        .map_err(|e| e.to_string())?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    let mut printer = o.schema.is_some().then(Printer::start);
    while let Some(event) = central.recv().await {
        if let Event::Message(peer, msg) = event {
            if let (Some(printer), Some(line)) = (
                printer.as_mut(),
                message_line(o, true, Some(peer.id()), &msg),
            ) {
                printer.print(line);
            }
            // Never waits: a peer that does not read is cut when its queue fills (the
            // default policy), and the others carry on. A closed peer is gone already.
            let _ = peer.send(msg);
        }
    }
    Ok(())
}

async fn send<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    let (tx, mut central) = central::<Event<Client>>(1024);
    let connect = o.connect.as_deref().unwrap_or_default();
    let (out, server) = o
        .connect_door
        .builder(connect, |_| Client)?
        .name("send")
        .framing(framing)
        .connect_timeout(o.connect_timeout)
        .retry(Retry::never())
        .connect(&tx)
        .await
        .map_err(|e| e.to_string())?;
    // Lines are read on a thread of their own: stdin is blocking.
    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = std::io::stdout();
    let mut line_no = 0;
    while let Some(line) = lines.recv().await {
        line_no += 1;
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let msg = match &o.schema {
            None => unhex(&line).map_err(|e| format!("line {line_no}: {e}"))?,
            Some(p) => {
                if line.trim().is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| format!("line {line_no}: not JSON: {e}"))?;
                connhandler::schema::dynamic::encode(p, &p.recv, &value)
                    .map_err(|e| format!("line {line_no}: {e}"))?
            }
        };
        server
            .send(Bytes::from(msg))
            .map_err(|e| format!("line {line_no}: {e}"))?;
        let answer = tokio::time::timeout(o.reply_timeout, async {
            loop {
                match central.recv().await {
                    Some(Event::Message(_, reply)) => return Ok(reply),
                    Some(Event::Disconnected(_, why)) => {
                        return Err(format!("the connection closed: {why}"))
                    }
                    Some(_) => {}
                    None => return Err("the connection closed".to_owned()),
                }
            }
        })
        .await
        .map_err(|_| format!("line {line_no}: no answer within {:?}", o.reply_timeout))?
        .map_err(|e| format!("line {line_no}: {e}"))?;
        let answer = message_line(o, false, None, &answer).unwrap_or_else(|| hex(&answer));
        writeln!(stdout, "{answer}").map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
    }
    out.shutdown().await;
    Ok(())
}

enum ProxyEvent {
    Client(Event<Client>),
    Upstream(Event<Upstream>),
    /// A client's upstream connect ended (in a task of its own).
    Linked(PeerId, Result<UpstreamLink, ConnectError>),
}

type UpstreamLink = (Outgoing<Upstream>, PeerHandle<Upstream>);

impl From<Event<Client>> for ProxyEvent {
    fn from(e: Event<Client>) -> Self {
        ProxyEvent::Client(e)
    }
}

impl From<Event<Upstream>> for ProxyEvent {
    fn from(e: Event<Upstream>) -> Self {
        ProxyEvent::Upstream(e)
    }
}

/// One proxied client: its upstream once connected, what it sent before that.
struct Link {
    client: PeerHandle<Client>,
    upstream: Option<UpstreamLink>,
    pending: Vec<Bytes>,
    pending_bytes: usize,
}

/// Prints traffic lines on a thread of its own, so that a slow stdout (a stalled pipe)
/// never holds up the proxy: lines it cannot take are dropped and counted on stderr.
struct Printer {
    lines: std::sync::mpsc::SyncSender<String>,
    dropped: u64,
}

impl Printer {
    fn start() -> Self {
        let (lines, rx) = std::sync::mpsc::sync_channel::<String>(4096);
        std::thread::spawn(move || {
            let mut stdout = std::io::stdout().lock();
            for line in rx {
                if writeln!(stdout, "{line}").is_err() {
                    break;
                }
                // Flushed when nothing else waits, so lines come out promptly.
                let _ = stdout.flush();
            }
        });
        Printer { lines, dropped: 0 }
    }

    fn print(&mut self, line: String) {
        match self.lines.try_send(line) {
            Ok(()) if self.dropped > 0 => {
                eprintln!(
                    "tcpmsg: {} lines not printed: stdout is not keeping up",
                    self.dropped
                );
                self.dropped = 0;
            }
            Ok(()) => {}
            Err(_) => self.dropped += 1,
        }
    }
}

async fn proxy<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    let (tx, mut central) = central::<ProxyEvent>(1024);
    let listen = o.listen.as_deref().unwrap_or_default();
    let upstream_addr = o.connect.clone().unwrap_or_default();
    let conditioned = o.conditions.is_on();
    o.conditions.check()?;
    if conditioned && o.listen_door.proxy_protocol {
        return Err(
            "the link conditioner and --proxy-protocol cannot be combined: the \
             conditioner gives the proxy each client's address in a PROXY header of its own"
                .into(),
        );
    }
    // Conditioned, the message handler listens on loopback behind the conditioner's relay,
    // which names each client in a PROXY header.
    let inner = if conditioned { "127.0.0.1:0" } else { listen };
    let builder = IncomingBuilder::new(inner, |_| Client)
        .name("proxy")
        .framing(framing.clone());
    let mut builder = o.listen_door.apply(o.protection.apply(builder))?;
    if conditioned {
        builder = builder
            .proxy_protocol(true)
            .proxy_trusted(["127.0.0.1/32".parse::<connhandler::IpNet>().unwrap()]);
    }
    let server = builder.listen(&tx).await.map_err(|e| e.to_string())?;
    if conditioned {
        let relay = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        println!(
            "listening on {}",
            relay.local_addr().map_err(|e| e.to_string())?
        );
        let max = o
            .protection
            .max_connections
            .filter(|n| *n > 0)
            .map_or(16_384, |n| n as usize);
        tokio::spawn(conditioner::relay(
            relay,
            server.local_addr(),
            o.conditions.clone(),
            max,
        ));
    } else {
        println!("listening on {}", server.local_addr());
    }
    let _ = std::io::stdout().flush();
    // The upstream's transport options, checked once (each client's upstream uses them).
    o.connect_door.builder(upstream_addr.as_str(), |_| Client)?;
    let mut printer = Printer::start();
    let mut links: HashMap<PeerId, Link> = HashMap::new();
    while let Some(event) = central.recv().await {
        match event {
            ProxyEvent::Client(Event::Connected(client)) => {
                // The connect runs beside the loop; its end comes back as `Linked`.
                let id = client.id();
                let upstream = match o
                    .connect_door
                    .builder(upstream_addr.as_str(), move |_| Upstream { client: id })
                {
                    Ok(b) => b,
                    Err(e) => return Err(e),
                };
                let upstream = upstream
                    .name("upstream")
                    .framing(framing.clone())
                    .connect_timeout(o.connect_timeout)
                    .retry(Retry::never());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let linked = upstream.connect(&tx).await;
                    let _ = tx.post(ProxyEvent::Linked(id, linked)).await;
                });
                links.insert(
                    id,
                    Link {
                        client,
                        upstream: None,
                        pending: Vec::new(),
                        pending_bytes: 0,
                    },
                );
            }
            ProxyEvent::Linked(id, linked) => match (links.get_mut(&id), linked) {
                (Some(link), Ok(up)) => {
                    for msg in link.pending.drain(..) {
                        let _ = up.1.send(msg);
                    }
                    link.pending_bytes = 0;
                    link.upstream = Some(up);
                }
                (Some(link), Err(e)) => {
                    eprintln!("tcpmsg: {e}");
                    link.client.disconnect_with(e.to_string());
                }
                // The client left first: dropping the link closes the upstream.
                (None, _) => {}
            },
            ProxyEvent::Client(Event::Message(client, msg)) => {
                printer.print(
                    message_line(o, true, Some(client.id()), &msg).unwrap_or_else(|| {
                        format!("-> {} {} {}", client.id(), msg.len(), hex(&msg))
                    }),
                );
                let Some(link) = links.get_mut(&client.id()) else {
                    continue;
                };
                match &link.upstream {
                    Some((_, up)) => {
                        let _ = up.send(msg);
                    }
                    None if link.pending_bytes + msg.len() <= o.pending_bytes => {
                        link.pending_bytes += msg.len();
                        link.pending.push(msg);
                    }
                    None => client.disconnect_with(format!(
                        "sent more than {} bytes before the upstream was connected",
                        o.pending_bytes
                    )),
                }
            }
            ProxyEvent::Client(Event::Disconnected(client, _)) => {
                // Dropping the link closes the upstream connection.
                links.remove(&client.id());
            }
            ProxyEvent::Upstream(Event::Message(up, msg)) => {
                printer.print(
                    message_line(o, false, Some(up.client), &msg)
                        .unwrap_or_else(|| format!("<- {} {} {}", up.client, msg.len(), hex(&msg))),
                );
                if let Some(link) = links.get(&up.client) {
                    let _ = link.client.send(msg);
                }
            }
            ProxyEvent::Upstream(Event::Disconnected(up, _)) => {
                if let Some(link) = links.get(&up.client) {
                    link.client.disconnect_with("upstream closed");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00 AB\t10").unwrap(), [0, 0xab, 0x10]);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
    }
}
