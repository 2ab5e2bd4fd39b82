//! Connect/disconnect cycles leave no descriptors, tasks or memory behind. It measures the
//! whole process, so it lives in a test binary of its own.

mod common;

use std::time::Duration;

use common::Raw;
use connhandler::{central, Central, Event, Incoming};
use tokio::io::AsyncWriteExt;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One client connects, sends a message, is disconnected by the program, reads to the end
/// of the stream and closes, as peers do.
async fn one_cycle(addr: std::net::SocketAddr, central: &mut Central<Event<Raw>>) {
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(&[3, 0, b'h', b'e', b'y']).await.unwrap();
    common::within("the message", async {
        loop {
            if let Event::Message(p, _) = central.recv().await.unwrap() {
                p.disconnect();
                break;
            }
        }
    })
    .await;
    let mut rest = Vec::new();
    common::within(
        "the end of the stream",
        tokio::io::AsyncReadExt::read_to_end(&mut client, &mut rest),
    )
    .await
    .unwrap();
    drop(client);
    common::within("Disconnected", async {
        loop {
            if let Event::Disconnected(..) = central.recv().await.unwrap() {
                break;
            }
        }
    })
    .await;
}

/// Connect/disconnect cycles leave no descriptors, tasks or memory behind. The suite runs
/// 2,000 cycles; `CONNHANDLER_CYCLES=100000 cargo test --release --test cycles`
/// runs the long version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_disconnect_cycles_leave_nothing_behind() {
    let cycles: usize = std::env::var("CONNHANDLER_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let (tx, mut central) = central::<Event<Raw>>(1024);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let addr = server.local_addr();
    let metrics = tokio::runtime::Handle::current().metrics();
    // Warm up (allocator pools, the runtime's own tasks), then measure.
    for _ in 0..200 {
        common::within("warm-up cycle", one_cycle(addr, &mut central)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (fds0, tasks0, rss0) = (common::open_fds(), metrics.num_alive_tasks(), rss_bytes());
    for _ in 0..cycles {
        common::within("cycle", one_cycle(addr, &mut central)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (fds1, tasks1, rss1) = (common::open_fds(), metrics.num_alive_tasks(), rss_bytes());
    eprintln!(
        "{cycles} cycles: fds {fds0} -> {fds1}, tasks {tasks0} -> {tasks1}, rss {} -> {} KiB",
        rss0 / 1024,
        rss1 / 1024
    );
    assert!(fds1 <= fds0, "descriptors grew from {fds0} to {fds1}");
    assert!(tasks1 <= tasks0, "tasks grew from {tasks0} to {tasks1}");
    assert!(
        rss1 <= rss0 + 16 * 1024 * 1024,
        "memory grew by {} KiB",
        (rss1 - rss0) / 1024
    );
    assert_eq!(server.stats().connected, 0);
}
