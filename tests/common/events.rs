//! Waiting for a central queue's events, each wait bounded ([`within`](super::within)) and
//! failing with what came instead.

use std::fmt::Debug;

use connhandler::{Central, Disconnect, Event, Peer, PeerHandle};

use super::within;

/// The next event.
pub async fn next_event<P: Peer>(central: &mut Central<Event<P>>) -> Event<P>
where
    P::Recv: Debug,
{
    within("the next event", central.recv())
        .await
        .expect("central queue closed")
}

/// The next event, which must be `Connected`.
pub async fn expect_connected<P: Peer>(central: &mut Central<Event<P>>) -> PeerHandle<P>
where
    P::Recv: Debug,
{
    match next_event(central).await {
        Event::Connected(p) => p,
        other => panic!("expected Connected, got {other:?}"),
    }
}

/// The next event, which must be a message.
pub async fn expect_message<P: Peer>(central: &mut Central<Event<P>>) -> (PeerHandle<P>, P::Recv)
where
    P::Recv: Debug,
{
    match next_event(central).await {
        Event::Message(p, m) => (p, m),
        other => panic!("expected Message, got {other:?}"),
    }
}

/// The next event, which must be `Disconnected`.
pub async fn expect_disconnected<P: Peer>(
    central: &mut Central<Event<P>>,
) -> (PeerHandle<P>, Disconnect)
where
    P::Recv: Debug,
{
    match next_event(central).await {
        Event::Disconnected(p, d) => (p, *d),
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// The next event that is not `Connected`.
pub async fn next_after_connected<P: Peer>(central: &mut Central<Event<P>>) -> Event<P>
where
    P::Recv: Debug,
{
    loop {
        match next_event(central).await {
            Event::Connected(_) => continue,
            e => return e,
        }
    }
}
