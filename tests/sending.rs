//! The send path over loopback: what the program queues reaches the peer in order (written
//! from the central task or by the writer, before a close), or is refused, reported or counted.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{
    events::{expect_connected, expect_disconnected, expect_message},
    raw_server as server, within, Raw, RawClient,
};
use connhandler::{central, codec::FrameError, DisconnectReason, Event, Incoming, SendError};

type Ev = Event<Raw>;

/// Messages queued before `disconnect` are written before the socket closes, including
/// those still queued behind a write that is blocked when `disconnect` is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_flushes_what_was_queued() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_capacity(2000)
        .queue_bytes(16 << 20)
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    // 8 MB: far more than the socket buffers hold, so the writer is blocked mid-write when
    // `disconnect` is called and the rest goes out while closing.
    for i in 0..1000u32 {
        peer.try_send(Bytes::from(i.to_le_bytes().repeat(2000)))
            .unwrap();
    }
    // The writer has started on them (and, with the socket buffers full, is blocked).
    within("the writer starts", async {
        while peer.queued_bytes() >= 8_000_000 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    peer.disconnect_with("done");
    // After disconnect, sends are refused to the caller.
    assert!(matches!(
        peer.try_send(Bytes::from_static(b"late")),
        Err(SendError::Closed(_))
    ));
    for i in 0..1000u32 {
        let msg = client.recv().await.expect("message lost before close");
        assert_eq!(&msg[..4], &i.to_le_bytes());
        assert_eq!(msg.len(), 8000);
    }
    assert!(
        client.recv().await.is_none(),
        "socket closed after the queue"
    );
    drop(client); // as peers do on end of stream; the server waits for it (linger)
    let (_, d) = expect_disconnected(&mut central).await;
    match d.reason {
        DisconnectReason::ClosedLocally { reason } => assert_eq!(reason.as_deref(), Some("done")),
        other => panic!("unexpected reason {other}"),
    }
    assert_eq!(d.unsent, 0);
}

/// A reply to a lone message is written straight from the central task when the writer is
/// idle; one the socket cannot take whole is finished by the writer, ahead of the replies
/// queued after it: the peer gets every byte, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_written_from_the_central_task_keep_their_order() {
    let (tx, mut central) = central::<Ev>(1024);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_bytes(16 << 20)
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    let big = common::pattern(6 << 20, 7);
    for round in 0..3u8 {
        client.send(&[round]).await;
        let (from, msg) = expect_message(&mut central).await;
        assert_eq!(&msg[..], &[round]);
        // More than the socket buffers hold: the first write cannot take it all.
        from.try_send(Bytes::from(big.clone())).unwrap();
        for i in 0..100u32 {
            from.try_send(Bytes::from(i.to_le_bytes().to_vec()))
                .unwrap();
        }
        let got = client.recv().await.expect("big reply");
        assert!(got[..] == big[..], "round {round}: big reply damaged");
        for i in 0..100u32 {
            let got = client.recv().await.expect("small reply");
            assert_eq!(&got[..], &i.to_le_bytes(), "round {round}");
        }
    }
    // Lone requests answered one at a time.
    for i in 0..200u32 {
        client.send(&i.to_le_bytes()).await;
        let (from, msg) = expect_message(&mut central).await;
        from.try_send(msg).unwrap();
        assert_eq!(client.recv().await.as_deref(), Some(&i.to_le_bytes()[..]));
    }
    drop(peer);
}

/// A message that cannot be written (the peer never reads) is counted, not dropped
/// silently.
#[tokio::test]
async fn unwritable_messages_are_counted_in_disconnected() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_capacity(64)
        .close_timeout(Duration::from_millis(200))
        .listen(&tx)
        .await
        .unwrap();
    let _client = RawClient::connect(server.local_addr()).await; // never reads
    let peer = expect_connected(&mut central).await;
    let big = Bytes::from(vec![7u8; 60_000]);
    let mut queued = 0;
    // Fill the socket buffers and then the queue.
    loop {
        match peer.try_send(big.clone()) {
            Ok(()) => queued += 1,
            Err(SendError::Full(_)) => break,
            Err(e) => panic!("{e}"),
        }
        if queued % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(queued > 0);
    peer.disconnect();
    let (_, d) = expect_disconnected(&mut central).await;
    assert!(matches!(d.reason, DisconnectReason::ClosedLocally { .. }));
    assert!(d.unsent > 0, "queued messages not written must be counted");
    assert!(d.unsent <= queued);
}

#[tokio::test]
async fn empty_message_is_refused_and_the_connection_stays_up() {
    let (server, mut central, _tx) = server().await;
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    match peer.send(Bytes::new()) {
        Err(SendError::Refused(_, FrameError::EmptyMessage)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!peer.is_closed());
    peer.send(Bytes::from_static(b"still here")).unwrap();
    assert_eq!(client.recv().await.as_deref(), Some(&b"still here"[..]));
    // And the broadcast of an empty message is refused too.
    assert!(matches!(
        server.broadcast(&Bytes::new()),
        Err(FrameError::EmptyMessage)
    ));
}

#[tokio::test]
async fn try_send_reports_a_full_queue() {
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_capacity(1)
        .listen(&tx)
        .await
        .unwrap();
    let _client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    let big = Bytes::from(vec![1u8; 1 << 20]);
    let mut full = false;
    for _ in 0..200 {
        if let Err(e) = peer.try_send(big.clone()) {
            assert!(matches!(e, SendError::Full(_)), "{e}");
            full = true;
            break;
        }
    }
    assert!(full, "a peer that never reads fills its queue");
}

#[tokio::test]
async fn a_length_beyond_its_prefix_is_refused_and_the_connection_stays_up() {
    #[derive(connhandler::Message, Debug, Clone, PartialEq)]
    #[wire(len = u8)]
    enum Say {
        #[wire(id = 1)]
        Line { text: String },
    }
    #[derive(connhandler::Peer, Default, Debug)]
    #[peer(recv = Bytes, send = Say, name = "talker")]
    struct Talker;

    let (tx, mut central) = central::<Event<Talker>>(64);
    let server = Incoming::<Talker>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = match within("c", central.recv()).await {
        Some(Event::Connected(p)) => p,
        other => panic!("{other:?}"),
    };
    let long = Say::Line {
        text: "x".repeat(300),
    };
    match peer.send(long.clone()) {
        Err(SendError::Refused(back, FrameError::LengthOverflow(e))) => {
            assert_eq!(back, long, "the message is handed back");
            assert_eq!((e.len, e.max, e.field), (300, 255, Some("text")));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        peer.try_send(long.clone()),
        Err(SendError::Refused(_, FrameError::LengthOverflow(_)))
    ));
    assert!(matches!(
        server.broadcast(&long),
        Err(FrameError::LengthOverflow(_))
    ));
    assert!(!peer.is_closed());
    peer.send(Say::Line { text: "ok".into() }).unwrap();
    assert_eq!(client.recv().await.as_deref(), Some(&b"\x01\x00\x02ok"[..]));
}

/// Last words: `close_with` queues a final message even behind a full queue, writes it
/// before the close, and the peer reads it before the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_sends_the_last_words_before_the_close() {
    use connhandler::QueuePolicy;
    let (tx, mut central) = central::<Ev>(64);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .queue_policy(QueuePolicy::Fail)
        .queue_capacity(2)
        .listen(&tx)
        .await
        .unwrap();
    let mut client = RawClient::connect(server.local_addr()).await;
    let peer = expect_connected(&mut central).await;
    // Fill the queue while the client does not read.
    let chunk = Bytes::from(vec![3u8; 60_000]);
    let mut queued = 0;
    while peer.try_send(chunk.clone()).is_ok() {
        queued += 1;
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        peer.try_send(chunk.clone()),
        Err(SendError::Full(_))
    ));
    peer.close_with(Bytes::from_static(b"server full, try later"), "full")
        .unwrap();
    assert!(peer.is_closed());
    for _ in 0..queued {
        assert_eq!(client.recv().await.as_deref(), Some(&chunk[..]));
    }
    assert_eq!(
        client.recv().await.as_deref(),
        Some(&b"server full, try later"[..])
    );
    assert!(client.recv().await.is_none(), "then the end of the stream");
    drop(client);
    let (_, d) = expect_disconnected(&mut central).await;
    match d.reason {
        DisconnectReason::ClosedLocally { reason } => assert_eq!(reason.as_deref(), Some("full")),
        other => panic!("unexpected reason {other}"),
    }
    assert_eq!(d.unsent, 0);
}
