//! A real browser: headless Chromium (the system's, installed on first use when the tests
//! run as root: `common/tools.rs`) loads the chat example's page (examples/chat.html), which
//! speaks the derived `Say` protocol over WebSocket through the module generated from it
//! (examples/chat_protocol.js, kept in step here); the test reads the page's DOM once the
//! page says it has shown the replies and seen the server's close frame.

mod common;

use std::{process::Command, sync::Arc};

use common::within;
use connhandler::{
    central,
    schema::{keep_generated, typescript, FramingSpec, Protocol},
    ws::WebSocket,
    Event, Incoming,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::Notify,
};

/// The chat example's protocol.
#[path = "../examples/chat_protocol.rs"]
mod chat_protocol;

use chat_protocol::{ChatClient as Browser, Say};

/// The page's module, kept in step with the protocol: written (and this fails) when the
/// committed one is stale.
fn page_module() -> String {
    static KEPT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    KEPT.get_or_init(|| {
        let module = typescript::generate(&Protocol::of::<Browser>(FramingSpec::websocket()));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let js = keep_generated(dir.join("chat_protocol.js"), &module.js);
        let d_ts = keep_generated(dir.join("chat_protocol.d.ts"), &module.d_ts);
        js.and(d_ts).map(|()| module.js)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Serves the page (with the WebSocket port filled in) and its module, and `/hold` until
/// `/done`.
async fn serve_page(listener: TcpListener, ws_port: u16) {
    let page = include_str!("../examples/chat.html").replace("__WS_PORT__", &ws_port.to_string());
    let module = page_module();
    let done = Arc::new(Notify::new());
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let (page, module, done) = (page.clone(), module.clone(), done.clone());
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            let (status, kind, body) = if path == "/hold" {
                done.notified().await;
                ("200 OK", "text/plain", String::new())
            } else if path == "/done" {
                done.notify_waiters();
                done.notify_one();
                ("200 OK", "text/plain", String::new())
            } else if path == "/chat_protocol.js" {
                ("200 OK", "text/javascript", module)
            } else if path.starts_with("/?") || path == "/" {
                ("200 OK", "text/html; charset=utf-8", page)
            } else {
                ("404 Not Found", "text/plain", String::new())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(response.as_bytes()).await;
        });
    }
}

/// The page's codec is the generated module, never hand-written: the committed
/// `chat_protocol.js` is the current protocol's, and the page imports it.
#[test]
fn the_page_speaks_through_the_generated_module() {
    let module = page_module();
    assert!(module.contains(&Protocol::of::<Browser>(FramingSpec::websocket()).hash()));
    let page = include_str!("../examples/chat.html");
    assert!(page.contains(r#"import { connect, Say } from "./chat_protocol.js";"#));
    assert!(
        !page.contains("DataView"),
        "the page writes a codec of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_chats_over_websocket() {
    let chromium = common::tools::chromium();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    let origin = format!("http://127.0.0.1:{http_port}");
    let (tx, mut events) = central::<Event<Browser>>(64);
    let server = Incoming::<Browser>::builder("127.0.0.1:0")
        .websocket(WebSocket::new().path("/chat").allow_origin(&origin))
        .listen(&tx)
        .await
        .unwrap();
    tokio::spawn(serve_page(http, server.local_addr().port()));

    let url = format!("{origin}/?name=tester&say=h%C3%A9llo%20%3Cworld%3E&expect=2&close=1");
    let browser = tokio::task::spawn_blocking(move || {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!(
                "--user-data-dir={}",
                std::env::temp_dir()
                    .join(format!("connhandler-chromium-{}", std::process::id()))
                    .display()
            ))
            .arg(url)
            .output()
            .expect("cannot run chromium")
    });

    // The central loop: the page's line comes back to everyone, a welcome to it, then a
    // kick with a reason its close frame carries.
    let connected = within("the page connects", events.recv()).await.unwrap();
    let Event::Connected(page) = connected else {
        panic!("{connected:?}")
    };
    let ws = page.transport().websocket().unwrap();
    assert_eq!(ws.origin(), Some(origin.as_str()));
    assert!(ws.user_agent().unwrap_or_default().contains("Chrome"));
    let said = within("the page's message", events.recv()).await.unwrap();
    let Event::Message(from, say) = said else {
        panic!("{said:?}")
    };
    assert_eq!(
        say,
        Say {
            from: "tester".into(),
            text: "héllo <world>".into()
        }
    );
    server.broadcast(&say).unwrap();
    let _ = from.send(Say {
        from: "server".into(),
        text: format!("welcome, {}", say.from),
    });
    from.disconnect_with("the test is over");
    let Some(Event::Disconnected(_, d)) = within("the close", events.recv()).await else {
        panic!("no Disconnected")
    };
    assert_eq!(d.reason.to_string(), "closed locally: the test is over");

    let out = within("chromium", browser).await.unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains(r#"data-done="1""#),
        "the page did not finish:\n{dom}"
    );
    assert!(
        dom.contains(r#"<li><b>tester</b>: <span class="text">héllo &lt;world&gt;</span></li><li><b>server</b>: <span class="text">welcome, tester</span></li>"#),
        "the replies are not on the page:\n{dom}"
    );
    assert!(
        dom.contains("closed (1000: the test is over)"),
        "the close frame's reason is not on the page:\n{dom}"
    );
}
