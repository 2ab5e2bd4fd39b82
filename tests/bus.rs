//! The NATS bus against a real `nats-server` started by each test on a free port.

mod common;

use std::{collections::HashSet, time::Duration};

use bytes::Bytes;
use common::{nats::NatsServer, within};
use connhandler::{
    bus::{Bus, BusError, BusEvent, BusMessage},
    central,
    talk::RequestError,
    Central, Message, Peer,
};

#[derive(Message, Debug, Clone, PartialEq)]
enum Shared {
    #[wire(id = 1)]
    Say { from: String, text: String },
    #[wire(id = 2)]
    Where(String),
    #[wire(id = 3)]
    At { player: String, server: String },
    #[wire(id = 4)]
    Seq(u32),
}

#[derive(Peer, Default)]
#[peer(recv = Shared, send = Shared)]
struct Logins;

/// Raw bytes on the bus: a publisher of anything.
#[derive(Default)]
struct RawBus;

impl Peer for RawBus {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "raw";
}

async fn bus(server: &NatsServer) -> (Bus<Logins>, Central<BusEvent<Logins>>) {
    let (tx, central) = central::<BusEvent<Logins>>(4096);
    let bus = Bus::<Logins>::builder([server.url()])
        .max_message_size(64 * 1024)
        .connect(&tx)
        .await
        .expect("connect to nats-server");
    (bus, central)
}

/// The next event that is a message (others are skipped, `Connected` first of all).
async fn next_message(central: &mut Central<BusEvent<Logins>>) -> BusMessage<Shared> {
    within("a bus message", async {
        loop {
            match central.recv().await.expect("central open") {
                BusEvent::Message(m) => return m,
                _ => continue,
            }
        }
    })
    .await
}

#[tokio::test]
async fn typed_messages_and_requests_round_trip() {
    let server = NatsServer::start();
    let (a, mut a_central) = bus(&server).await;
    let (b, mut b_central) = bus(&server).await;
    assert!(matches!(
        within("connected", a_central.recv()).await,
        Some(BusEvent::Connected { .. })
    ));
    b.subscribe("chat.>").await.unwrap();
    b.subscribe("where.*").await.unwrap();
    let say = Shared::Say {
        from: "ann".into(),
        text: "hello from server a".into(),
    };
    a.publish("chat.lobby", &say).unwrap();
    let got = next_message(&mut b_central).await;
    assert_eq!(got.subject, "chat.lobby");
    assert_eq!(got.msg, say);
    assert_eq!(got.reply, None);

    // B's central loop answers the requests that come over the bus.
    let answerer = {
        let b = b.clone();
        tokio::spawn(async move {
            loop {
                let m = next_message(&mut b_central).await;
                if let (Shared::Where(who), Some(to)) = (&m.msg, &m.reply) {
                    let at = Shared::At {
                        player: who.clone(),
                        server: "login-b".into(),
                    };
                    b.publish(to, &at).unwrap();
                }
            }
        })
    };
    let answer = within(
        "reply",
        a.request("where.ann", &Shared::Where("ann".into()))
            .timeout(Duration::from_secs(10)),
    )
    .await;
    assert_eq!(
        answer,
        Ok(Shared::At {
            player: "ann".into(),
            server: "login-b".into()
        })
    );
    // Posted into the central queue, the same shape as a connection's requests.
    enum Ev {
        Bus(#[allow(dead_code)] BusEvent<Logins>),
        Found(Result<Shared, RequestError>),
    }
    impl From<BusEvent<Logins>> for Ev {
        fn from(e: BusEvent<Logins>) -> Self {
            Ev::Bus(e)
        }
    }
    let (tx, mut central) = central::<Ev>(64);
    a.request("where.bob", &Shared::Where("bob".into()))
        .post(&tx, Ev::Found);
    loop {
        match within("posted reply", central.recv()).await.unwrap() {
            Ev::Found(found) => {
                assert_eq!(
                    found,
                    Ok(Shared::At {
                        player: "bob".into(),
                        server: "login-b".into()
                    })
                );
                break;
            }
            Ev::Bus(_) => {}
        }
    }
    // Nobody subscribes here: refused at once, not a time-out.
    match within(
        "no responders",
        a.request("nobody.home", &Shared::Where("x".into())),
    )
    .await
    {
        Err(RequestError::Refused(why)) => assert!(why.contains("no responders"), "{why}"),
        other => panic!("expected no responders, got {other:?}"),
    }
    answerer.abort();
    a.shutdown(Duration::from_secs(2)).await;
    b.shutdown(Duration::from_secs(2)).await;
    assert!(matches!(
        a.publish("chat.lobby", &say),
        Err(BusError::Closed)
    ));
}

#[tokio::test]
async fn wildcards_and_queue_groups() {
    let server = NatsServer::start();
    let (publisher, _p) = bus(&server).await;
    let (one, mut one_c) = bus(&server).await;
    let (many, mut many_c) = bus(&server).await;
    one.subscribe("game.*").await.unwrap();
    many.subscribe("game.>").await.unwrap();
    publisher.publish("game.start", &Shared::Seq(1)).unwrap();
    publisher.publish("game.eu.start", &Shared::Seq(2)).unwrap();
    // `*` is one token: only game.start; `>` is the rest: both, in order.
    let m = next_message(&mut one_c).await;
    assert_eq!((m.subject.as_str(), m.msg), ("game.start", Shared::Seq(1)));
    let m = next_message(&mut many_c).await;
    assert_eq!((m.subject.as_str(), m.msg), ("game.start", Shared::Seq(1)));
    let m = next_message(&mut many_c).await;
    assert_eq!(
        (m.subject.as_str(), m.msg),
        ("game.eu.start", Shared::Seq(2))
    );

    // A queue group: each message goes to one member only.
    let (w1, mut w1_c) = bus(&server).await;
    let (w2, mut w2_c) = bus(&server).await;
    w1.queue_subscribe("work", "workers").await.unwrap();
    w2.queue_subscribe("work", "workers").await.unwrap();
    const N: u32 = 200;
    for i in 0..N {
        publisher.publish("work", &Shared::Seq(i)).unwrap();
    }
    let mut seen = HashSet::new();
    let (mut by_w1, mut by_w2) = (0, 0);
    while seen.len() < N as usize {
        let m = tokio::select! {
            m = next_message(&mut w1_c) => { by_w1 += 1; m }
            m = next_message(&mut w2_c) => { by_w2 += 1; m }
        };
        let Shared::Seq(i) = m.msg else {
            panic!("{m:?}")
        };
        assert!(seen.insert(i), "message {i} delivered twice");
    }
    assert_eq!(by_w1 + by_w2, N);
    assert!(
        by_w1 > 0 && by_w2 > 0,
        "both members took some: {by_w1} and {by_w2}"
    );
    // And nothing more comes (an absence: looked for after a while).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w1_c.try_recv().is_err() && w2_c.try_recv().is_err());
    // `*` and `>` missed `work`: after it, a fence on a subject both match is the next
    // message each of them gets (one publisher's messages keep their order).
    publisher.publish("game.end", &Shared::Seq(N + 1)).unwrap();
    for (name, c) in [("game.*", &mut one_c), ("game.>", &mut many_c)] {
        let m = next_message(c).await;
        assert_eq!(
            (m.subject.as_str(), m.msg),
            ("game.end", Shared::Seq(N + 1)),
            "{name} got something else first"
        );
    }
    drop((one, many));
}

#[tokio::test]
async fn a_server_restart_mid_traffic_is_survived() {
    let mut server = NatsServer::start();
    let (publisher, mut p_central) = bus(&server).await;
    let (sub, mut s_central) = bus(&server).await;
    sub.subscribe("ticks").await.unwrap();
    // A steady stream of numbered messages.
    let feeder = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut i = 0u32;
            loop {
                // Full while the server is away is allowed: the program sees it.
                if publisher.publish("ticks", &Shared::Seq(i)).is_ok() {
                    i += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // At most once, in order: never a duplicate, never backwards.
    let mut last = None;
    let mut take = |m: BusMessage<Shared>| {
        let Shared::Seq(i) = m.msg else {
            panic!("{m:?}")
        };
        assert!(last.is_none_or(|l| i > l), "{i} after {last:?}");
        last = Some(i);
        i
    };
    let mut before = 0;
    while before < 20 {
        before = take(next_message(&mut s_central).await);
    }
    server.stop();
    // Both buses tell the program.
    async fn disconnected(c: &mut Central<BusEvent<Logins>>) {
        while !matches!(c.recv().await.unwrap(), BusEvent::Disconnected) {}
    }
    within("subscriber disconnected", disconnected(&mut s_central)).await;
    within("publisher disconnected", disconnected(&mut p_central)).await;
    server.restart();
    // Reconnected, subscriptions renewed: the stream carries on with later numbers (the
    // ones published while the server was down are lost, as NATS says they may be).
    let mut reconnected = false;
    let after = within("traffic after the restart", async {
        loop {
            match s_central.recv().await.unwrap() {
                BusEvent::Connected { .. } => reconnected = true,
                BusEvent::Message(m) => {
                    let i = take(m);
                    if i > before + 20 {
                        return i;
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(
        reconnected,
        "a Connected event came before the traffic resumed"
    );
    assert!(after > before);
    assert!(sub.stats().disconnections >= 1);
    assert!(sub.is_connected());
    feeder.abort();
}

#[tokio::test]
async fn a_bad_payload_is_an_event_naming_its_subject() {
    let server = NatsServer::start();
    let (tx, _raw_central) = central::<BusEvent<RawBus>>(64);
    let raw = Bus::<RawBus>::builder([server.url()])
        .max_message_size(64 * 1024)
        .connect(&tx)
        .await
        .unwrap();
    let (typed, mut central) = bus(&server).await;
    typed.subscribe("chat.>").await.unwrap();
    raw.publish("chat.lobby", &Bytes::from_static(&[0x63, 0x00, 1, 2, 3]))
        .unwrap();
    raw.publish("chat.lobby", &Bytes::from_static(&[0x04, 0x00, 7, 0, 0, 0]))
        .unwrap();
    let bad = within("undecodable", async {
        loop {
            match central.recv().await.unwrap() {
                BusEvent::Undecodable { subject, error } => return (subject, error),
                BusEvent::Message(m) => panic!("the bad payload came first: {m:?}"),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(bad.0, "chat.lobby");
    assert!(
        bad.1.to_string().contains("0x63"),
        "names the unknown id: {}",
        bad.1
    );
    // The subscription carries on.
    assert_eq!(next_message(&mut central).await.msg, Shared::Seq(7));
    assert_eq!(typed.stats().undecodable, 1);
}

#[tokio::test]
async fn a_slow_consumer_loses_messages_within_its_bound_and_is_told() {
    // The server lets through 1 KiB at most; the subscription holds 16 KiB: 16 messages.
    let server = NatsServer::start_with("max_payload: 1024");
    let (ptx, _pc) = central::<BusEvent<Logins>>(64);
    let publisher = Bus::<Logins>::builder([server.url()])
        .connect(&ptx)
        .await
        .unwrap();
    // A bus that takes longer messages than the server lets through connects: its bound
    // holds (the other way round is refused, below).
    let (tx, mut central) = central::<BusEvent<Logins>>(32);
    let _roomy = Bus::<Logins>::builder([server.url()])
        .max_message_size(4096)
        .connect(&tx)
        .await
        .unwrap();
    let slow = Bus::<Logins>::builder([server.url()])
        .max_message_size(1024)
        .subscription_bytes(16 * 1024)
        .connect(&tx)
        .await
        .unwrap();
    slow.subscribe("flood").await.unwrap();
    // The central task does not read while 3000 messages come.
    const N: u32 = 3000;
    let mut sent = 0;
    while sent < N {
        match publisher.publish("flood", &Shared::Seq(sent)) {
            Ok(()) => sent += 1,
            Err(BusError::Full) => tokio::time::sleep(Duration::from_millis(1)).await,
            Err(e) => panic!("{e}"),
        }
    }
    publisher.shutdown(Duration::from_secs(5)).await;
    within("drops counted", async {
        while slow.stats().dropped_slow == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // What waits is bounded: the central queue's 32 messages (+ one batch of 256 at most,
    // taken off the bound by the central task), besides the few events about the bus
    // itself (two Connected, a report a second); the client holds 16.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(central.len() <= 32 + 8, "central holds {}", central.len());
    let (mut messages, mut reported) = (0u64, 0u64);
    let mut last = None;
    within("the reports", async {
        while reported == 0 || !central.is_empty() {
            match central.recv().await.unwrap() {
                BusEvent::Message(m) => {
                    let Shared::Seq(i) = m.msg else { panic!() };
                    assert!(last.is_none_or(|l| i > l), "in order");
                    last = Some(i);
                    messages += 1;
                }
                BusEvent::SlowConsumer { subject, dropped } => {
                    assert_eq!(subject, "flood");
                    reported += dropped;
                }
                _ => {}
            }
        }
    })
    .await;
    let stats = slow.stats();
    assert!(reported > 0 && reported <= stats.dropped_slow);
    assert!(messages < u64::from(N), "some were lost: {messages} of {N}");
    assert!(messages + stats.dropped_slow <= u64::from(N));
}

#[tokio::test]
async fn a_server_allowing_longer_payloads_than_the_bus_takes_is_refused() {
    // NATS's default max_payload: 1 MiB.
    let server = NatsServer::start_with("");
    let (tx, _c) = central::<BusEvent<Logins>>(64);
    match Bus::<Logins>::builder([server.url()])
        .max_message_size(64 * 1024)
        .connect(&tx)
        .await
    {
        Err(BusError::PayloadAbove { server, ours }) => {
            assert_eq!((server, ours), (1 << 20, 64 * 1024))
        }
        other => panic!("expected PayloadAbove, got {other:?}"),
    }
    // Nobody listens: a connect error that says so, within the time-out.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Bus::<Logins>::builder([format!("nats://127.0.0.1:{port}")])
        .connect_timeout(Duration::from_millis(500))
        .connect(&tx)
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Connect(_)), "{err}");
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_bus() {
    let server = NatsServer::start();
    let (publisher, _pc) = bus(&server).await;
    let (sub, mut central) = bus(&server).await;
    sub.subscribe("gone").await.unwrap();
    drop(sub);
    // Its tasks end and its queue's senders go: the central queue ends once drained.
    within("the bus's end", async {
        while central.recv().await.is_some() {}
    })
    .await;
    publisher.publish("gone", &Shared::Seq(1)).unwrap();
}

#[tokio::test]
async fn an_unsubscribed_subject_delivers_nothing_more() {
    let server = NatsServer::start();
    let (publisher, _pc) = bus(&server).await;
    let (sub, mut central) = bus(&server).await;
    let gone = sub.subscribe("old.news").await.unwrap();
    sub.subscribe("fresh.news").await.unwrap();
    publisher.publish("old.news", &Shared::Seq(1)).unwrap();
    assert_eq!(next_message(&mut central).await.msg, Shared::Seq(1));
    gone.unsubscribe();
    publisher.publish("old.news", &Shared::Seq(2)).unwrap();
    publisher.publish("fresh.news", &Shared::Seq(3)).unwrap();
    // Only the subscription still held delivers.
    let m = next_message(&mut central).await;
    assert_eq!((m.subject.as_str(), m.msg), ("fresh.news", Shared::Seq(3)));
}

#[tokio::test]
async fn publishing_with_a_time_out_waits_for_room_and_loses_nothing() {
    let server = NatsServer::start();
    // The subscriber holds every message of the run in its client (4096 counted at 64 KiB
    // each), so that a slow test machine loses none as a slow consumer.
    let (tx, mut central) = connhandler::central::<BusEvent<Logins>>(4096);
    let sub = Bus::<Logins>::builder([server.url()])
        .max_message_size(64 * 1024)
        .subscription_bytes(4096 * 64 * 1024)
        .connect(&tx)
        .await
        .unwrap();
    sub.subscribe("feed").await.unwrap();
    // A publish queue of four messages: a burst of plain `publish` is refused at once.
    let (ptx, _pc) = connhandler::central::<BusEvent<Logins>>(64);
    let publisher = Bus::<Logins>::builder([server.url()])
        .max_message_size(64 * 1024)
        .publish_queue(4, 64 * 1024)
        .connect(&ptx)
        .await
        .unwrap();
    const N: u32 = 3000;
    let feeder = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for i in 0..N {
                publisher
                    .publish_timeout("feed", &Shared::Seq(i), Duration::from_secs(20))
                    .await
                    .unwrap_or_else(|e| panic!("message {i}: {e}"));
            }
        })
    };
    // Every message arrives, in order.
    for i in 0..N {
        assert_eq!(next_message(&mut central).await.msg, Shared::Seq(i));
    }
    within("the feeder", feeder).await.unwrap();
    let stats = publisher.stats();
    assert_eq!((stats.published, stats.refused_full), (u64::from(N), 0));
}

#[tokio::test]
async fn publishing_with_a_time_out_gives_up_while_the_server_is_away_and_ends_with_the_bus() {
    let mut server = NatsServer::start();
    let (publisher, mut p_central) = bus(&server).await;
    server.stop();
    within("disconnected", async {
        while !matches!(p_central.recv().await.unwrap(), BusEvent::Disconnected) {}
    })
    .await;
    // The client's buffer, then the bus's queue, fill; then a publish waits its time and
    // is refused, counted once.
    let refused = within("a refusal", async {
        let mut sent = 0u64;
        loop {
            match publisher
                .publish_timeout("void", &Shared::Seq(0), Duration::from_millis(50))
                .await
            {
                Ok(()) => sent += 1,
                Err(BusError::Full) => return sent,
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(refused > 0, "the first messages were queued");
    assert_eq!(publisher.stats().refused_full, 1);
    // One waiting when the bus ends is told so, and so is one after.
    let waiter = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            publisher
                .publish_timeout("void", &Shared::Seq(1), Duration::from_secs(600))
                .await
        })
    };
    publisher.shutdown(Duration::from_millis(50)).await;
    assert!(matches!(
        within("the waiter", waiter).await.unwrap(),
        Err(BusError::Closed)
    ));
    assert!(matches!(
        publisher
            .publish_timeout("void", &Shared::Seq(2), Duration::from_secs(1))
            .await,
        Err(BusError::Closed)
    ));
}

#[tokio::test]
async fn messages_of_every_size_in_turn_on_several_subjects_arrive_whole() {
    // Small messages are encoded one after another into a shared buffer, large ones on
    // their own, and the subject is kept while it repeats: none of that shows.
    let server = NatsServer::start();
    let (publisher, _pc) = bus(&server).await;
    let (sub, mut central) = bus(&server).await;
    sub.subscribe("size.>").await.unwrap();
    let say = |i: usize| Shared::Say {
        from: i.to_string(),
        text: "x".repeat(i * 997 % 20_000),
    };
    let subject = |i: usize| format!("size.{}", i / 3 % 4);
    const N: usize = 400;
    let feeder = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for i in 0..N {
                publisher
                    .publish_timeout(&subject(i), &say(i), Duration::from_secs(20))
                    .await
                    .unwrap();
            }
        })
    };
    for i in 0..N {
        let m = next_message(&mut central).await;
        assert_eq!((m.subject, m.msg), (subject(i), say(i)), "message {i}");
    }
    within("the feeder", feeder).await.unwrap();
    // A bad subject is still refused, whether or not it follows a good one.
    for bad in ["size..x", "size.a b", ""] {
        assert!(matches!(
            publisher.publish(bad, &say(1)),
            Err(BusError::BadSubject(_))
        ));
    }
}
