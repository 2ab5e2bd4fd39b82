//! `tcpmsg`: netcat for message-framed TCP, built on connhandler.
//!
//! Run `tcpmsg --help` for the commands and options.

use std::{
    collections::HashMap,
    io::{BufRead, Write},
    process::ExitCode,
    time::Duration,
};

use bytes::Bytes;
use connhandler::{
    central,
    codec::{Framing, Panda3dCodec, TcpMessageCodec},
    Event, Incoming, IncomingBuilder, Outgoing, OutgoingBuilder, Peer, PeerId, Retry,
};

const HELP: &str = "\
tcpmsg: netcat for message-framed TCP

USAGE:
    tcpmsg echo  --listen ADDR [OPTIONS]
    tcpmsg send  --connect ADDR [OPTIONS]
    tcpmsg proxy --listen ADDR --connect ADDR [OPTIONS]

COMMANDS:
    echo    Listen; print exactly one line `listening on HOST:PORT` once bound (the real
            port when port 0 was asked), then send every message back to its sender,
            unchanged, until killed.
    send    Connect; read messages from stdin, one per line, as hex (whitespace ignored);
            send each and print the one message that comes back, as a line of hex. Exit 0
            at the end of input; non-zero with an error on stderr when it cannot connect or
            an answer does not come.
    proxy   Listen; for each client, connect to the upstream and forward messages both
            ways, printing each as `DIRECTION CLIENT SIZE HEX` (`->` client to upstream,
            `<-` upstream to client).

OPTIONS:
    --framing F               tcpmessage (default), panda3d:2, panda3d:4 or panda3d:0
    --max-message-size N      TcpMessage chunk size, 1..=65535 (default 65535); with
                              panda3d, the longest datagram accepted
    --connect-timeout-ms N    time-out of one connect attempt (default 5000)
    --reply-timeout-ms N      send: how long to wait for each answer (default 10000)
    --chunk-wait-ms N         tcpmessage: a message that ends on a full chunk with header 0
                              (the reference writer's exact multiples) ends when no more
                              bytes arrive for N ms (default 100)
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
    listen: Option<String>,
    connect: Option<String>,
    framing: FramingKind,
    max_message_size: Option<usize>,
    connect_timeout: Duration,
    reply_timeout: Duration,
    chunk_wait: Duration,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut it = args.iter();
    let command = match it.next().map(String::as_str) {
        None | Some("-h" | "--help") => return Err(String::new()),
        Some(c @ ("echo" | "send" | "proxy")) => c.to_owned(),
        Some(other) => return Err(format!("unknown command `{other}`")),
    };
    let mut o = Options {
        command,
        listen: None,
        connect: None,
        framing: FramingKind::TcpMessage,
        max_message_size: None,
        connect_timeout: Duration::from_millis(5000),
        reply_timeout: Duration::from_millis(10_000),
        chunk_wait: Duration::from_millis(100),
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
            "--listen" => o.listen = Some(value()?),
            "--connect" => o.connect = Some(value()?),
            "--framing" => {
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
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    let needs = |what: &Option<String>, flag: &str| {
        what.is_none()
            .then(|| format!("`{}` needs {flag} ADDR", o.command))
    };
    let missing = match o.command.as_str() {
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
    if digits.len() % 2 != 0 {
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
    let result = match options.framing {
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpmsg: {e}");
            ExitCode::FAILURE
        }
    }
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
    let server = Incoming::<Client>::bind(listen)
        .name("echo")
        .framing(framing)
        .start(&tx)
        .await
        .map_err(|e| e.to_string())?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    while let Some(event) = central.recv().await {
        if let Event::Message(peer, msg) = event {
            // A closed peer is gone already; there is nothing to echo to.
            let _ = peer.send(msg);
        }
    }
    Ok(())
}

async fn send<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    let (tx, mut central) = central::<Event<Client>>(1024);
    let connect = o.connect.as_deref().unwrap_or_default();
    let (out, server) = Outgoing::<Client>::to(connect)
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
        let msg = unhex(&line).map_err(|e| format!("line {line_no}: {e}"))?;
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
        writeln!(stdout, "{}", hex(&answer)).map_err(|e| e.to_string())?;
        stdout.flush().map_err(|e| e.to_string())?;
    }
    out.shutdown().await;
    Ok(())
}

enum ProxyEvent {
    Client(Event<Client>),
    Upstream(Event<Upstream>),
}

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

async fn proxy<F: Framing>(o: &Options, framing: F) -> Result<(), String> {
    let (tx, mut central) = central::<ProxyEvent>(1024);
    let listen = o.listen.as_deref().unwrap_or_default();
    let upstream_addr = o.connect.clone().unwrap_or_default();
    let server = IncomingBuilder::new(listen, |_| Client)
        .name("proxy")
        .framing(framing.clone())
        .start(&tx)
        .await
        .map_err(|e| e.to_string())?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    let mut links: HashMap<PeerId, (connhandler::PeerHandle<Client>, Outgoing<Upstream>)> =
        HashMap::new();
    let mut upstreams: HashMap<PeerId, connhandler::PeerHandle<Upstream>> = HashMap::new();
    let mut stdout = std::io::stdout();
    while let Some(event) = central.recv().await {
        match event {
            ProxyEvent::Client(Event::Connected(client)) => {
                let id = client.id();
                let connected =
                    OutgoingBuilder::new(upstream_addr.as_str(), move |_| Upstream { client: id })
                        .name("upstream")
                        .framing(framing.clone())
                        .connect_timeout(o.connect_timeout)
                        .retry(Retry::never())
                        .connect(&tx)
                        .await;
                match connected {
                    Ok((out, up)) => {
                        upstreams.insert(id, up);
                        links.insert(id, (client, out));
                    }
                    Err(e) => {
                        eprintln!("tcpmsg: {e}");
                        client.disconnect_with(e.to_string());
                    }
                }
            }
            ProxyEvent::Client(Event::Message(client, msg)) => {
                let _ = writeln!(stdout, "-> {} {} {}", client.id(), msg.len(), hex(&msg));
                if let Some(up) = upstreams.get(&client.id()) {
                    let _ = up.send(msg);
                }
            }
            ProxyEvent::Client(Event::Disconnected(client, _)) => {
                upstreams.remove(&client.id());
                if let Some((_, out)) = links.remove(&client.id()) {
                    drop(out); // closes the upstream connection
                }
            }
            ProxyEvent::Upstream(Event::Message(up, msg)) => {
                let _ = writeln!(stdout, "<- {} {} {}", up.client, msg.len(), hex(&msg));
                if let Some((client, _)) = links.get(&up.client) {
                    let _ = client.send(msg);
                }
            }
            ProxyEvent::Upstream(Event::Disconnected(up, _)) => {
                if let Some((client, _)) = links.get(&up.client) {
                    client.disconnect_with("upstream closed");
                }
            }
            _ => {}
        }
        let _ = stdout.flush();
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
