//! A real browser: headless Chromium (the system's, installed on first use when the tests
//! run as root: `common/tools.rs`) loads the chat example's page (examples/chat.html), which
//! speaks the derived `Say` protocol over WebSocket through the module generated from it
//! (examples/chat_protocol.js, kept in step here); the page reports what it shows once it
//! has shown the replies and seen the server's close frame.

mod common;

use common::within;
use connhandler::{
    central,
    schema::{keep_generated, typescript, FramingSpec, Protocol},
    ws::WebSocket,
    Event, Incoming,
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
    let (tx, mut events) = central::<Event<Browser>>(64);
    // The page's server first: the WebSocket door allows its origin only.
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", http.local_addr().unwrap().port());
    let server = Incoming::<Browser>::builder("127.0.0.1:0")
        .websocket(WebSocket::new().path("/chat").allow_origin(&origin))
        .listen(&tx)
        .await
        .unwrap();
    let page = include_str!("../examples/chat.html")
        .replace("__WS_PORT__", &server.local_addr().port().to_string());
    let files = std::collections::HashMap::from([
        (
            "/".to_owned(),
            ("text/html; charset=utf-8", page.into_bytes()),
        ),
        (
            "/chat_protocol.js".to_owned(),
            ("text/javascript", page_module().into_bytes()),
        ),
    ]);
    let (_, posted) = common::web::serve_on(http, files);
    let mut browser = common::web::Browser::open(&format!(
        "{origin}/?name=tester&say=h%C3%A9llo%20%3Cworld%3E&expect=2&close=1"
    ));

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

    // What the page shows, once it has shown both lines and the close.
    let (path, shows) = tokio::task::spawn_blocking(move || {
        browser.posted(
            &posted,
            "what the page shows",
            std::time::Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    assert_eq!(path, "/done");
    let shows = String::from_utf8(shows).unwrap();
    assert!(
        shows.contains(r#"<li><b>tester</b>: <span class="text">héllo &lt;world&gt;</span></li><li><b>server</b>: <span class="text">welcome, tester</span></li>"#),
        "the replies are not on the page:\n{shows}"
    );
    assert!(
        shows.contains("closed (1000: the test is over)"),
        "the close frame's reason is not on the page:\n{shows}"
    );
    server.shutdown().await;
}
