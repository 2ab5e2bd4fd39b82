//! Running out of file descriptors does not end the listener. This lowers the whole test
//! process's descriptor limit, so it lives in a test binary of its own.

mod common;

use std::time::Duration;

use common::{within, Raw, RawClient};
use connhandler::{central, Event, Incoming};

/// The soft limit on open descriptors, from `/proc/self/limits`.
fn soft_fd_limit() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().to_owned()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn running_out_of_descriptors_does_not_end_the_listener() {
    let (tx, mut central) = central::<Event<Raw>>(1024);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();

    // Leave room for a few more descriptors only (the soft limit; the hard one stays).
    let soft = soft_fd_limit();
    let limit = common::open_fds() + 12;
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={limit}:")])
        .status()
        .expect("prlimit (util-linux) is needed for this test");
    assert!(status.success());

    // Client sockets (made in this process too) use up what is left; the server side then
    // fails to accept with EMFILE. Connections stay queued in the backlog meanwhile.
    let mut clients = Vec::new();
    for _ in 0..20 {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => clients.push(s),
            Err(_) => break,
        }
    }
    let mut waited = 0;
    while server.stats().accept_errors == 0 {
        waited += 1;
        assert!(waited < 3000, "accept never failed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(server.is_listening());

    // Free the descriptors and lift the limit: the listener carries on accepting.
    drop(clients);
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={soft}:")])
        .status()
        .unwrap();
    assert!(status.success());
    let mut client = RawClient::connect(addr).await;
    client.send(b"after EMFILE").await;
    within("the message after the descriptors came back", async {
        loop {
            if let Some(Event::Message(peer, msg)) = central.recv().await {
                assert_eq!(&msg[..], b"after EMFILE");
                peer.send(msg).unwrap();
                break;
            }
        }
    })
    .await;
    assert_eq!(client.recv().await.as_deref(), Some(&b"after EMFILE"[..]));
    assert!(server.stats().accept_errors > 0);
}
