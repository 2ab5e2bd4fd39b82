//! The WebSocket upgrade (RFC 6455, section 4), both sides: an HTTP/1.1 request and a 101
//! response, each read within `MAX_HEAD` bytes (the caller bounds the time).
//!
//! | side | checks | refusal |
//! | --- | --- | --- |
//! | listening | `GET`, HTTP/1.1, `Upgrade: websocket`, `Connection: upgrade`, a key, version 13 | 400 (426 for another version) |
//! | listening | the path (without its query) | 404 |
//! | listening | `Origin`, when sent, against the allow-list | 403 |
//! | listening | a subprotocol both sides name, when the settings name any | 400 |
//! | connecting | status 101, the accept key, a subprotocol offered | a `ConnectError` naming what the server said |

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tungstenite::handshake::derive_accept_key;

use super::{Origins, WebSocket, WsInfo};

/// The most bytes a request's or response's head may take.
const MAX_HEAD: usize = 8 * 1024;
/// The most headers read from a head.
const MAX_HEADERS: usize = 32;

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads until the end of an HTTP head; returns the head's length within the buffer, which
/// may hold bytes past it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(end + 4);
        }
        if buf.len() >= MAX_HEAD {
            return Err(bad(format!("an HTTP head longer than {MAX_HEAD} bytes")));
        }
        buf.reserve(1024.min(MAX_HEAD - buf.len()));
        let room = MAX_HEAD - buf.len();
        if (&mut *stream).take(room as u64).read_buf(buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stream ended inside the WebSocket upgrade",
            ));
        }
    }
}

fn header<'a>(headers: &'a [httparse::Header<'_>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

/// Every comma-separated token of every header `name`.
fn tokens<'a>(headers: &'a [httparse::Header<'_>], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// A refusal: the status sent, and why (for the log and the error).
struct Refusal {
    status: &'static str,
    why: String,
    extra: &'static str,
}

fn refuse(status: &'static str, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        why: why.into(),
        extra: "",
    }
}

/// Checks a request's head; the response's headers and what the connection learned.
fn check_request(ws: &WebSocket, head: &[u8]) -> Result<(String, WsInfo), Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(refuse("400 Bad Request", "a cut request")),
        Err(e) => {
            return Err(refuse(
                "400 Bad Request",
                format!("not an HTTP request: {e}"),
            ))
        }
    }
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        return Err(refuse("400 Bad Request", "not an HTTP/1.1 request"));
    };
    if method != "GET" {
        return Err(refuse(
            "400 Bad Request",
            format!("method {method}, not GET"),
        ));
    }
    let headers = req.headers;
    if !has_token(headers, "upgrade", "websocket") || !has_token(headers, "connection", "upgrade") {
        return Err(refuse("400 Bad Request", "not a WebSocket upgrade request"));
    }
    if header(headers, "sec-websocket-version") != Some("13") {
        return Err(Refusal {
            status: "426 Upgrade Required",
            why: "a WebSocket version other than 13".into(),
            extra: "Sec-WebSocket-Version: 13\r\n",
        });
    }
    let Some(key) = header(headers, "sec-websocket-key").filter(|k| k.len() == 24) else {
        return Err(refuse("400 Bad Request", "no valid Sec-WebSocket-Key"));
    };
    let path = target.split('?').next().unwrap_or_default();
    if path != &*ws.path {
        return Err(refuse(
            "404 Not Found",
            format!("path {path}, not {}", ws.path),
        ));
    }
    let origin = header(headers, "origin").map(str::to_owned);
    if let (Some(origin), Origins::Listed(allowed)) = (&origin, &ws.origins) {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Err(refuse(
                "403 Forbidden",
                format!("origin {origin} is not allowed"),
            ));
        }
    }
    let subprotocol = if ws.subprotocols.is_empty() {
        None
    } else {
        let chosen = tokens(headers, "sec-websocket-protocol")
            .find(|offered| ws.subprotocols.iter().any(|s| &**s == *offered));
        match chosen {
            Some(s) => Some(s.to_owned()),
            None => {
                return Err(refuse(
                    "400 Bad Request",
                    format!(
                        "no subprotocol in common (the server speaks {})",
                        ws.subprotocols.join(", ")
                    ),
                ))
            }
        }
    };
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(s) = &subprotocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {s}\r\n"));
    }
    response.push_str("\r\n");
    let info = WsInfo {
        path: target.to_owned(),
        subprotocol,
        origin,
        user_agent: header(headers, "user-agent").map(str::to_owned),
    };
    Ok((response, info))
}

/// The listening side: reads the request, answers 101 or a refusal. A refused request is
/// an error that says why, after the refusal was sent.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ws: &WebSocket,
) -> io::Result<WsInfo> {
    let mut buf = BytesMut::new();
    let end = read_head(stream, &mut buf).await?;
    if buf.len() > end {
        // A client sends nothing before the server's 101.
        return Err(bad("bytes after the upgrade request, before the response"));
    }
    match check_request(ws, &buf[..end]) {
        Ok((response, info)) => {
            stream.write_all(response.as_bytes()).await?;
            stream.flush().await?;
            Ok(info)
        }
        Err(refusal) => {
            let body = format!("{}\n", refusal.why);
            let response = format!(
                "HTTP/1.1 {}\r\nConnection: close\r\nContent-Type: text/plain\r\n{}Content-Length: {}\r\n\r\n{body}",
                refusal.status,
                refusal.extra,
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            Err(bad(format!(
                "WebSocket upgrade refused ({}): {}",
                refusal.status, refusal.why
            )))
        }
    }
}

/// The connecting side: sends the request for `path` on `host`, reads the 101. Returns
/// what the upgrade said and the bytes read past the response (the server's first frames).
pub(crate) async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ws: &WebSocket,
    host: &str,
) -> io::Result<(WsInfo, BytesMut)> {
    let key = tungstenite::handshake::client::generate_key();
    let host = ws.host.as_deref().unwrap_or(host);
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: connhandler/{}\r\n",
        ws.path,
        env!("CARGO_PKG_VERSION")
    );
    if !ws.subprotocols.is_empty() {
        request.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            ws.subprotocols.join(", ")
        ));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = BytesMut::new();
    let end = read_head(stream, &mut buf).await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(bad("the server's answer to the upgrade is not HTTP")),
    }
    if resp.code != Some(101) {
        return Err(bad(format!(
            "the server refused the WebSocket upgrade: {} {}",
            resp.code.unwrap_or_default(),
            resp.reason.unwrap_or_default()
        )));
    }
    let expected = derive_accept_key(key.as_bytes());
    if header(resp.headers, "sec-websocket-accept") != Some(expected.as_str()) {
        return Err(bad(
            "the server's Sec-WebSocket-Accept does not match the key",
        ));
    }
    let subprotocol = header(resp.headers, "sec-websocket-protocol").map(str::to_owned);
    match &subprotocol {
        Some(s) if !ws.subprotocols.iter().any(|o| &**o == s) => {
            return Err(bad(format!(
                "the server chose subprotocol {s}, which was not offered"
            )))
        }
        None if !ws.subprotocols.is_empty() => {
            return Err(bad("the server chose none of the subprotocols offered"))
        }
        _ => {}
    }
    let info = WsInfo {
        path: ws.path.to_string(),
        subprotocol,
        origin: None,
        user_agent: None,
    };
    let _ = buf.split_to(end);
    Ok((info, buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> String {
        format!(
            "GET /game?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_request_is_checked_in_the_order_of_the_table() {
        let ws = WebSocket::new()
            .path("/game")
            .allow_origin("https://ok.example");
        let (response, info) = check_request(&ws, request("").as_bytes()).ok().unwrap();
        // The RFC's own example key and answer.
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert_eq!(info.path(), "/game?x=1");
        let origin = request("Origin: https://evil.example\r\n");
        let refused = check_request(&ws, origin.as_bytes()).err().unwrap();
        assert_eq!(refused.status, "403 Forbidden");
        let allowed = request("Origin: https://ok.example\r\n");
        assert!(check_request(&ws, allowed.as_bytes()).is_ok());
        let other = check_request(&WebSocket::new().path("/chat"), request("").as_bytes());
        assert_eq!(other.err().unwrap().status, "404 Not Found");
        let plain = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            check_request(&ws, plain).err().unwrap().status,
            "400 Bad Request"
        );
        let sub = WebSocket::new()
            .path("/game")
            .subprotocol("b")
            .subprotocol("a");
        let (response, info) =
            check_request(&sub, request("Sec-WebSocket-Protocol: a, b\r\n").as_bytes())
                .ok()
                .unwrap();
        assert_eq!(
            info.subprotocol(),
            Some("a"),
            "the client's first that we speak"
        );
        assert!(response.contains("Sec-WebSocket-Protocol: a\r\n"));
        assert!(check_request(&sub, request("").as_bytes()).is_err());
    }
}
