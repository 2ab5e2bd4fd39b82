//! TLS under the handlers, with certificates made at test time: connhandler on both sides,
//! mutual TLS, Python's `ssl` module speaking the reference TcpMessage framing both ways,
//! and the bad doors (a plain client on the TLS port, a handshake that never ends, a
//! certificate that is untrusted, expired or for another name).

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    events::next_event as next,
    python::{free_port, python3, Peer as PyPeer},
    within, Raw, RawClient,
};
use connhandler::{
    central,
    codec::TcpMessageCodec,
    tls::{TlsClient, TlsServer},
    Event, Incoming, Outgoing, Retry,
};
use tokio::io::AsyncReadExt;

type Ev = Event<Raw>;

/// An echo server over TLS; returns it and the central loop's task.
async fn echo(tls: TlsServer) -> (Incoming<Raw>, tokio::task::JoinHandle<Vec<Ev>>) {
    let (tx, mut central) = central::<Ev>(256);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .tls(tls)
        .handshake_timeout(Duration::from_millis(500))
        .listen(&tx)
        .await
        .unwrap();
    drop(tx); // the handler holds its own: the queue closes when it is gone
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(event) = central.recv().await {
            match event {
                Event::Message(peer, msg) => {
                    let _ = peer.send(msg);
                }
                other => seen.push(other),
            }
        }
        seen
    });
    (server, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_over_tls_both_sides_connhandler() {
    let pki = certs::pki("round-trips");
    let (cert, key) = pki.server();
    let (server, _task) = echo(TlsServer::from_pem_files(&cert, &key).unwrap()).await;
    let (tx, mut events) = central::<Ev>(64);
    let tls = TlsClient::with_ca_file(pki.ca())
        .unwrap()
        .server_name("localhost");
    let (_out, peer) = Outgoing::<Raw>::builder(server.local_addr())
        .tls(tls)
        .connect(&tx)
        .await
        .unwrap();
    let info = peer.tls().expect("a TLS connection");
    assert_eq!(info.protocol(), "TLSv1.3");
    assert_eq!(info.peer_names(), ["localhost"]);
    assert!(matches!(next(&mut events).await, Event::Connected(_)));
    // Small and large messages (the large ones span TLS records and TcpMessage chunks),
    // many in flight at once.
    let sizes = [1usize, 100, 16 * 1024, 100_000, 300_000, 5];
    for (i, &n) in sizes.iter().enumerate() {
        peer.send(Bytes::from(common::pattern(n, i as u8))).unwrap();
    }
    for (i, &n) in sizes.iter().enumerate() {
        match next(&mut events).await {
            Event::Message(_, got) => assert_eq!(got, common::pattern(n, i as u8), "size {n}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.stats().connected, 1);
    // The server saw no client certificate.
    let on_server = server.peers().pop().unwrap();
    assert!(on_server.tls().unwrap().peer_certificates().is_empty());
    assert_eq!(on_server.tls().unwrap().sni(), Some("localhost"));
    // A local close: messages queued before it are written first, then close_notify.
    peer.send(Bytes::from_static(b"last")).unwrap();
    peer.disconnect();
    loop {
        match next(&mut events).await {
            Event::Message(_, got) => assert_eq!(&got[..], b"last"),
            Event::Disconnected(_, d) => {
                assert_eq!(d.reason.to_string(), "closed locally");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_names_the_client_and_refuses_one_without_a_certificate() {
    let pki = certs::pki("mutual");
    let (cert, key) = pki.server();
    let tls = TlsServer::from_pem_files(&cert, &key)
        .unwrap()
        .require_client_certs(pki.ca())
        .unwrap();
    let (server, _task) = echo(tls).await;
    let (ccert, ckey) = pki.client();
    let (tx, mut events) = central::<Ev>(64);
    let with_cert = TlsClient::with_ca_file(pki.ca())
        .unwrap()
        .client_cert(&ccert, &ckey)
        .unwrap();
    let (_out, peer) = Outgoing::<Raw>::builder(("localhost", server.local_addr().port()))
        .tls(with_cert)
        .connect(&tx)
        .await
        .unwrap();
    peer.send(Bytes::from_static(b"hello")).unwrap();
    loop {
        if let Event::Message(_, got) = next(&mut events).await {
            assert_eq!(&got[..], b"hello");
            break;
        }
    }
    let on_server = server.peers().pop().unwrap();
    assert_eq!(
        on_server.tls().unwrap().peer_names(),
        ["launcher-1.internal"]
    );

    // Without a certificate: the server refuses the handshake; no event on its side.
    let without = TlsClient::with_ca_file(pki.ca()).unwrap();
    let (tx2, mut central2) = central::<Ev>(64);
    let result = Outgoing::<Raw>::builder(("localhost", server.local_addr().port()))
        .retry(Retry::never())
        .tls(without)
        .connect(&tx2)
        .await;
    // TLS 1.3: the client finishes its side before the server checks its certificate,
    // so the refusal arrives as the connection's end, or as a failed connect.
    if let Ok((_out2, _peer2)) = result {
        loop {
            if let Event::Disconnected(_, d) = next(&mut central2).await {
                assert!(d.reason.is_error(), "{}", d.reason);
                break;
            }
        }
    }
    within("the refusal counted", async {
        while server.stats().failed_handshakes == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(server.stats().connected, 1);
}

/// What a connecting handler's error says for a certificate it must not accept.
async fn connect_error(
    pki: &certs::Pki,
    server_cert: (std::path::PathBuf, std::path::PathBuf),
    client: TlsClient,
) -> String {
    let _ = pki;
    let (server, _task) =
        echo(TlsServer::from_pem_files(&server_cert.0, &server_cert.1).unwrap()).await;
    let (tx, _events) = central::<Ev>(64);
    let err = Outgoing::<Raw>::builder(server.local_addr())
        .retry(Retry::never())
        .tls(client)
        .connect(&tx)
        .await
        .expect_err("the handshake must fail");
    err.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_server_certificate_is_a_connect_error_that_says_which() {
    let pki = certs::pki("bad-certs");
    let trusting = || TlsClient::with_ca_file(pki.ca()).unwrap();
    let untrusted = connect_error(&pki, pki.untrusted(), trusting()).await;
    assert!(
        untrusted.contains("TLS handshake failed") && untrusted.contains("UnknownIssuer"),
        "{untrusted}"
    );
    let expired = connect_error(&pki, pki.expired(), trusting()).await;
    assert!(expired.contains("certificate expired"), "{expired}");
    let wrong_name =
        connect_error(&pki, pki.server(), trusting().server_name("login.internal")).await;
    assert!(
        wrong_name.contains("not valid for name \"login.internal\""),
        "{wrong_name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_or_a_silent_one_is_closed_at_the_door_and_others_are_served() {
    let pki = certs::pki("plain");
    let (cert, key) = pki.server();
    let (server, task) = echo(TlsServer::from_pem_files(&cert, &key).unwrap()).await;
    // A plain-TCP client sends a TcpMessage frame to the TLS port.
    let mut plain = RawClient::connect(server.local_addr()).await;
    plain.send(b"not a client hello").await;
    assert_eq!(plain.recv().await, None, "closed");
    // A client that connects and says nothing: cut at handshake_timeout (500 ms here).
    let mut silent = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let mut sink = [0u8; 64];
    let n = within("the silent client is cut", silent.read(&mut sink)).await;
    assert!(matches!(n, Ok(0) | Err(_)));
    // A good client meanwhile.
    let (tx, mut events) = central::<Ev>(64);
    let (_out, peer) = Outgoing::<Raw>::builder(server.local_addr())
        .tls(TlsClient::with_ca_file(pki.ca()).unwrap())
        .connect(&tx)
        .await
        .unwrap();
    peer.send(Bytes::from_static(b"ok")).unwrap();
    loop {
        if let Event::Message(_, got) = next(&mut events).await {
            assert_eq!(&got[..], b"ok");
            break;
        }
    }
    let stats = server.stats();
    assert_eq!(stats.failed_handshakes, 2);
    assert_eq!(stats.accepted, 1);
    server.shutdown().await;
    drop(server);
    let seen = task.await.unwrap();
    // Neither bad client reached the central queue.
    let connected = seen
        .iter()
        .filter(|e| matches!(e, Event::Connected(_)))
        .count();
    assert_eq!(connected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_serves_new_handshakes() {
    let pki = certs::pki("reload");
    let (cert, key) = pki.untrusted();
    let tls = TlsServer::from_pem_files(&cert, &key).unwrap();
    let (server, _task) = echo(tls.clone()).await;
    let (tx, _events) = central::<Ev>(64);
    let client = || {
        Outgoing::<Raw>::builder(server.local_addr())
            .retry(Retry::never())
            .tls(TlsClient::with_ca_file(pki.ca()).unwrap())
    };
    assert!(client().connect(&tx).await.is_err());
    let (cert, key) = pki.server();
    tls.reload_pem_files(&cert, &key).unwrap();
    let (_out, peer) = client().connect(&tx).await.unwrap();
    assert!(peer.tls().is_some());
}

/// Python's `ssl` module as a client, speaking the reference framing with the reference's
/// JSON messages, with a client certificate the server verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ssl_client_with_a_client_certificate() {
    let pki = certs::pki("python-client");
    let (cert, key) = pki.server();
    let (ccert, ckey) = pki.client();
    // The reference peer sends Register messages and checks each Registered reply: the
    // server answers with the same body under the Registered id.
    let (tx, mut events) = central::<Event<Raw>>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .tls(
            TlsServer::from_pem_files(&cert, &key)
                .unwrap()
                .require_client_certs(pki.ca())
                .unwrap(),
        )
        .framing(
            TcpMessageCodec::builder()
                .max_message_size(1000)
                .new_codec()
                .unwrap(),
        )
        .listen(&tx)
        .await
        .unwrap();
    let names = tokio::spawn(async move {
        let mut names = Vec::new();
        while let Some(event) = events.recv().await {
            match event {
                Event::Connected(peer) => names.push(peer.tls().unwrap().peer_names().to_vec()),
                Event::Message(peer, msg) => {
                    // Register (0x0101) -> Registered (0x0102), same body.
                    let mut reply = msg.to_vec();
                    reply[0] = 0x02;
                    let _ = peer.send(Bytes::from(reply));
                }
                Event::Disconnected(..) => return names,
                _ => {}
            }
        }
        names
    });
    // Not a multiple of max_message_size: with raw bytes (no JSON body to tell a message's
    // end) such a message would wait for a next chunk (see tests/interop_python.rs).
    let sizes = [60usize, 500, 999, 1001, 2500];
    let mut args = vec![
        "--tls-ca".into(),
        pki.ca().display().to_string(),
        "--tls-cert".into(),
        ccert.display().to_string(),
        "--tls-key".into(),
        ckey.display().to_string(),
        "--tls-name".into(),
        "localhost".into(),
        "client".into(),
        "127.0.0.1".into(),
        server.local_addr().port().to_string(),
        "1000".into(),
    ];
    args.extend(sizes.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python3(), "reference_peer.py", &args);
        for s in sizes {
            assert_eq!(peer.line(), format!("ok {s}"));
        }
        peer.success();
    })
    .await
    .unwrap();
    let names = within("the Python client's end", names).await.unwrap();
    assert_eq!(names, [vec!["launcher-1.internal".to_owned()]]);
}

/// Python's `ssl` module as the server (requiring our client certificate); connhandler
/// connects with TLS and mutual TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ssl_server_with_our_client_certificate() {
    let pki = certs::pki("python-server");
    let (cert, key) = pki.server();
    let (ccert, ckey) = pki.client();
    let port = free_port();
    let args = vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
        "--tls-ca".into(),
        pki.ca().display().to_string(),
        "server".into(),
        port.to_string(),
        "1000".into(),
    ];
    let mut py = tokio::task::spawn_blocking(move || {
        let mut peer = PyPeer::spawn(&python3(), "reference_peer.py", &args);
        assert_eq!(peer.line(), format!("listening on {port}"));
        peer
    })
    .await
    .unwrap();
    let (tx, mut events) = central::<Ev>(64);
    let tls = TlsClient::with_ca_file(pki.ca())
        .unwrap()
        .server_name("localhost")
        .client_cert(&ccert, &ckey)
        .unwrap();
    let (out, peer) = Outgoing::<Raw>::builder(("127.0.0.1", port))
        .tls(tls)
        .framing(
            TcpMessageCodec::builder()
                .max_message_size(1000)
                .new_codec()
                .unwrap(),
        )
        .connect(&tx)
        .await
        .unwrap();
    for size in [100usize, 1000, 2001] {
        let body = format!(
            r#"{{"name":"peer","payload":"{}","n":1}}"#,
            "y".repeat(size)
        );
        let mut msg = vec![0x01, 0x01];
        msg.extend_from_slice(body.as_bytes());
        peer.send(Bytes::from(msg)).unwrap();
        loop {
            if let Event::Message(_, got) = next(&mut events).await {
                assert_eq!(&got[..2], &[0x02, 0x01]);
                assert_eq!(&got[2..], body.as_bytes());
                break;
            }
        }
    }
    out.shutdown().await;
    tokio::task::spawn_blocking(move || {
        assert_eq!(py.line(), "peer launcher-1.internal");
        py.success();
    })
    .await
    .unwrap();
}

/// The README's development certificate: its `openssl req` line, run as written, makes a
/// certificate and key that a server serves and a client trusting the certificate itself
/// accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_development_certificate_works() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("openssl req -x509"))
        .expect("the README's development certificate recipe");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("devcert");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let out = std::process::Command::new("openssl")
        .args(&args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test runs the README's recipe with `openssl`, which is missing: {e}")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (server, _task) =
        echo(TlsServer::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap()).await;
    let (tx, mut events) = central::<Ev>(64);
    let tls = TlsClient::with_ca_file(dir.join("cert.pem")).unwrap();
    let (_out, peer) = Outgoing::<Raw>::builder(("localhost", server.local_addr().port()))
        .tls(tls)
        .retry(Retry::never())
        .connect(&tx)
        .await
        .unwrap();
    assert!(matches!(next(&mut events).await, Event::Connected(_)));
    peer.send(Bytes::from_static(b"dev")).unwrap();
    match next(&mut events).await {
        Event::Message(_, got) => assert_eq!(&got[..], b"dev"),
        other => panic!("{other:?}"),
    }
}

/// A CA certificate as the server's own (what `openssl req -x509` makes by default): the
/// client refuses it, and its error says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_as_the_servers_own_is_refused_saying_what_to_do() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ca-as-server");
    std::fs::create_dir_all(&dir).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let (server, _task) =
        echo(TlsServer::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap()).await;
    let (tx, _events) = central::<Ev>(64);
    let tls = TlsClient::with_ca_file(dir.join("cert.pem")).unwrap();
    let err = Outgoing::<Raw>::builder(("localhost", server.local_addr().port()))
        .tls(tls)
        .retry(Retry::never())
        .connect(&tx)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("CaUsedAsEndEntity"), "{err}");
    assert!(err.contains("is a CA certificate"), "{err}");
    assert!(err.contains("development certificate recipe"), "{err}");
}
