//! The PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer puts before
//! the client's bytes, naming the client. Read exactly, so that the bytes after it (a TLS
//! handshake, a WebSocket request, messages) stay in the socket for the next step.
//!
//! | header | what it says | the connection's address |
//! | --- | --- | --- |
//! | v1 `PROXY TCP4`/`TCP6 src dst sport dport` | a proxied client | the source |
//! | v1 `PROXY UNKNOWN ...` | the balancer's own connection | the socket's |
//! | v2 `PROXY` command, AF_INET/AF_INET6 | a proxied client | the source |
//! | v2 `LOCAL` command, or another family | a health check, or no address | the socket's |
//! | anything else | not a PROXY header | refused (the handler expects one on every connection) |

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest v1 header, `\r\n` included.
const V1_MAX: usize = 107;
/// The v2 signature.
const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The most bytes of addresses and TLVs a v2 header may announce before it is refused.
const V2_MAX_BODY: usize = 4096;

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("PROXY protocol: {}", what.into()),
    )
}

/// Reads a PROXY header from `stream`: the client's address (`None` when the header names
/// none: a health check, `UNKNOWN`).
pub(crate) async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<Option<SocketAddr>> {
    let mut start = [0u8; 16];
    stream.read_exact(&mut start[..8]).await?;
    if start.starts_with(b"PROXY ") {
        let mut line = start[..8].to_vec();
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX {
                return Err(bad("a v1 header longer than 107 bytes"));
            }
            line.push(stream.read_u8().await?);
        }
        return parse_v1(&line);
    }
    if start[..8] != V2_SIG[..8] {
        return Err(bad("no PROXY header (the handler expects one)"));
    }
    stream.read_exact(&mut start[8..]).await?;
    if start[..12] != V2_SIG {
        return Err(bad("a bad v2 signature"));
    }
    let len = u16::from_be_bytes([start[14], start[15]]) as usize;
    if len > V2_MAX_BODY {
        return Err(bad(format!(
            "a v2 header of {len} bytes (at most {V2_MAX_BODY})"
        )));
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await?;
    parse_v2(start[12], start[13], &body)
}

fn parse_v1(line: &[u8]) -> io::Result<Option<SocketAddr>> {
    let line = std::str::from_utf8(&line[..line.len() - 2])
        .map_err(|_| bad("a v1 header not in ASCII"))?;
    let parts: Vec<&str> = line.split(' ').collect();
    match parts.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", family @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src
                .parse()
                .map_err(|_| bad(format!("source address {src:?}")))?;
            if ip.is_ipv4() != (*family == "TCP4") {
                return Err(bad(format!("{src} is not a {family} address")));
            }
            let port: u16 = sport
                .parse()
                .map_err(|_| bad(format!("source port {sport:?}")))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(bad(format!("a bad v1 header {line:?}"))),
    }
}

fn parse_v2(ver_cmd: u8, family: u8, body: &[u8]) -> io::Result<Option<SocketAddr>> {
    if ver_cmd >> 4 != 2 {
        return Err(bad(format!("version {} (2 expected)", ver_cmd >> 4)));
    }
    match ver_cmd & 0x0f {
        0 => return Ok(None), // LOCAL: the balancer's own connection (a health check).
        1 => {}
        c => return Err(bad(format!("command {c}"))),
    }
    match family >> 4 {
        1 if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Ok(Some(SocketAddr::new(ip.into(), port)))
        }
        2 if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Ok(Some(SocketAddr::new(Ipv6Addr::from(octets).into(), port)))
        }
        1 | 2 => Err(bad("a v2 header too short for its addresses")),
        // AF_UNSPEC, AF_UNIX: no address to take.
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> io::Result<Option<SocketAddr>> {
        let mut s = bytes;
        let got = read_header(&mut s).await;
        // Exactly the header is read.
        assert!(got.is_err() || s == b"rest", "left {s:?}");
        got
    }

    #[tokio::test]
    async fn both_versions_name_the_client_and_leave_what_follows() {
        let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 7000\r\nrest";
        assert_eq!(
            read(v1).await.unwrap(),
            Some("203.0.113.7:51000".parse().unwrap())
        );
        let v1 = b"PROXY TCP6 2001:db8::1 ::1 4000 7000\r\nrest";
        assert_eq!(
            read(v1).await.unwrap(),
            Some("[2001:db8::1]:4000".parse().unwrap())
        );
        assert_eq!(read(b"PROXY UNKNOWN\r\nrest").await.unwrap(), None);

        let mut v2 = V2_SIG.to_vec();
        v2.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x40, 0x1b, 0x58,
        ]);
        v2.extend_from_slice(b"rest");
        assert_eq!(
            read(&v2).await.unwrap(),
            Some("198.51.100.9:8000".parse().unwrap())
        );
        let mut local = V2_SIG.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        local.extend_from_slice(b"rest");
        assert_eq!(read(&local).await.unwrap(), None);
    }

    #[tokio::test]
    async fn what_is_not_a_header_is_refused_without_reading_on() {
        let err = read(b"\x05\x00hello, world").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "PROXY protocol: no PROXY header (the handler expects one)"
        );
        let long = [b"PROXY TCP4 ".as_slice(), &[b'1'; 200]].concat();
        assert!(read(&long)
            .await
            .unwrap_err()
            .to_string()
            .contains("longer than 107"));
        let mut huge = V2_SIG.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(read(&huge)
            .await
            .unwrap_err()
            .to_string()
            .contains("65535 bytes"));
        let spoof = b"PROXY TCP4 2001:db8::1 ::1 1 2\r\nrest";
        assert!(read(spoof).await.is_err());
    }
}
