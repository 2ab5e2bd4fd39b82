//! The conversation of one connection as a state machine with no I/O: our hello when the
//! connection opens, each received message in and a [`Step`] out, and its own deadlines (the
//! handshake's, the heartbeat's ping and silence): [`Conversation::next_deadline`] says when
//! it next wants the time, [`Conversation::on_time`] what is due then. The reader moves
//! messages through it, tells it when bytes arrive, arms the connection's one timer for its
//! deadline too, and carries out the steps (hand a message on, queue a reply, push
//! `Connected`, send the ping, close with a reason and last words). Times are given to it,
//! never read by it: tests drive it with instants of their own.
//!
//! | deadline | armed | moved | due |
//! | --- | --- | --- | --- |
//! | handshake | with a version handshake, from the start | never; gone once the peer's hello is accepted | `Cut(Handshake)` at opened + the handshake's time limit |
//! | heartbeat: ping | with a heartbeat | by every read that got bytes, and by each ping due | `Ping` at the later of the last read and the last ping + `every` |
//! | heartbeat: silence | with a heartbeat | by every read that got bytes | `Cut(Heartbeat)` at the last read + the allowance; a cut due wins over a ping due |
//!
//! | state | message in | step out | state after |
//! | --- | --- | --- | --- |
//! | awaiting the hello | a rejection | `Stop(VersionMismatch, by the peer)` | ended |
//! | awaiting the hello | a hello of a version we accept, the same messages hash (or none) | `Greeted(version)` | greeted |
//! | awaiting the hello | a hello of a version we accept, another messages hash | `Refuse(ProtocolMismatch)`, our rejection as last words | ended |
//! | awaiting the hello | a hello of a version we refuse | `Refuse(VersionMismatch)`, our rejection as last words | ended |
//! | awaiting the hello | anything else | `Stop(NoHello)` | ended |
//! | greeted | a rejection | `Stop(VersionMismatch, by the peer)` | ended |
//! | greeted | a ping (heartbeat) | `Beat`: our pong, the ping delivered if the heartbeat delivers | greeted |
//! | greeted | a pong (heartbeat) | `Beat`: delivered if the heartbeat delivers | greeted |
//! | greeted | anything else | `Deliver` | greeted |
//!
//! A connection with no version handshake starts greeted; one with neither a handshake nor a
//! heartbeat never calls it (`Talk::watches_messages`).

use std::time::Duration;

use tokio::time::Instant;

use super::{Greeting, Talk, Version};
use crate::{
    peer::Peer,
    reason::{DisconnectReason, Timeout},
};

/// What the conversation's clock found due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// A time-out: the connection is cut.
    Cut(Timeout),
    /// The heartbeat's ping is due.
    Ping,
}

/// What the reader does with a received message.
pub(crate) enum Step<P: Peer> {
    /// Hand it on to the central queue.
    Deliver(P::Recv),
    /// A heartbeat's ping or pong (a control message, counted as one): queue `reply`, and
    /// hand on `deliver` if there is one.
    Beat {
        reply: Option<P::Send>,
        deliver: Option<P::Recv>,
    },
    /// The peer's hello was accepted: it said `Version`; the connection is now connected.
    Greeted(Version),
    /// We refuse the peer: close with `reason`, `last_words` (our rejection) written first.
    Refuse {
        reason: DisconnectReason,
        last_words: Option<P::Send>,
    },
    /// The conversation ended on the peer's side (or it never said hello): close with this.
    Stop(DisconnectReason),
}

/// The conversation's state: whether the peer's hello came, and what version it said; its
/// clock.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    greeted: bool,
    peer_version: Option<Version>,
    /// The handshake's time limit, until the hello is accepted.
    handshake: Option<Duration>,
    /// The heartbeat: a ping after `every` of quiet, a cut after the allowance of silence.
    heartbeat: Option<(Duration, Duration)>,
    /// When the connection opened (the handshake's deadline counts from it).
    opened: Instant,
    /// The last read that got bytes; until one does, when the connection opened.
    heard: Instant,
    /// The last ping due.
    pinged: Option<Instant>,
}

impl Conversation {
    /// A connection's conversation as it opens at `now`: greeted already when there is no
    /// version handshake.
    pub(crate) fn new<P: Peer>(talk: &Talk<P>, now: Instant) -> Conversation {
        Conversation {
            greeted: talk.handshake.is_none(),
            peer_version: None,
            handshake: talk.handshake.as_ref().map(|g| g.config.time_limit()),
            heartbeat: talk
                .heartbeat
                .map(|b| (b.config.interval(), b.config.silence_allowed())),
            opened: now,
            heard: now,
            pinged: None,
        }
    }

    /// Whether the conversation wants to know when bytes arrive (it has a heartbeat).
    #[inline]
    pub(crate) fn listens(&self) -> bool {
        self.heartbeat.is_some()
    }

    /// Bytes arrived at `now`.
    #[inline]
    pub(crate) fn heard(&mut self, now: Instant) {
        self.heard = now;
    }

    /// Every deadline armed now.
    fn deadlines(&self) -> impl Iterator<Item = (Instant, Due)> {
        let handshake = self
            .handshake
            .filter(|_| !self.greeted)
            .map(|t| (self.opened + t, Due::Cut(Timeout::Handshake(t))));
        let silence = self
            .heartbeat
            .map(|(_, allowed)| (self.heard + allowed, Due::Cut(Timeout::Heartbeat(allowed))));
        let ping = self.heartbeat.map(|(every, _)| {
            let quiet_since = self.pinged.map_or(self.heard, |p| p.max(self.heard));
            (quiet_since + every, Due::Ping)
        });
        [handshake, silence, ping].into_iter().flatten()
    }

    /// The earliest instant something may be due (the connection's timer is armed for it).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines().map(|(at, _)| at).min()
    }

    /// The time is `now`: what is due, if anything (a cut wins over a ping). A ping due is
    /// counted as sent: the next one is due `every` later.
    pub(crate) fn on_time(&mut self, now: Instant) -> Option<Due> {
        let due = self
            .deadlines()
            .filter(|(at, _)| *at <= now)
            .min_by_key(|(at, due)| (matches!(due, Due::Ping), *at))
            .map(|(_, due)| due);
        if due == Some(Due::Ping) {
            self.pinged = Some(now);
        }
        due
    }

    /// Whether the peer's hello came (or none was needed): the connection is connected.
    pub(crate) fn greeted(&self) -> bool {
        self.greeted
    }

    /// Our hello, sent first when the connection opens (with a version handshake).
    pub(crate) fn hello<P: Peer>(talk: &Talk<P>) -> Option<P::Send> {
        let greeting = talk.handshake.as_ref()?;
        Some((greeting.hello)(
            &greeting.config.version(),
            greeting.protocol,
        ))
    }

    /// The protocol's ping, when the heartbeat says one is due (the framing's own ping, as
    /// WebSocket's, is the reader's to prefer).
    pub(crate) fn ping<P: Peer>(talk: &Talk<P>) -> Option<P::Send> {
        talk.heartbeat.and_then(|b| (b.ping)())
    }

    /// A received message in, the step out (the table in the module's docs).
    pub(crate) fn receive<P: Peer>(&mut self, talk: &Talk<P>, msg: P::Recv) -> Step<P> {
        if let Some(greeting) = &talk.handshake {
            if (greeting.is_rejection)(&msg) {
                return Step::Stop(DisconnectReason::VersionMismatch {
                    ours: greeting.config.version().to_string(),
                    theirs: self.peer_version.map(|v| v.to_string()),
                    by_peer: true,
                    our_protocol: Greeting::<P>::show(Some(greeting.protocol)),
                    their_protocol: Greeting::<P>::show((greeting.protocol_of)(&msg)),
                });
            }
            if !self.greeted {
                return self.hello_in(greeting, &msg);
            }
        }
        if let Some(beating) = &talk.heartbeat {
            if let Some(beat) = (beating.beat)(&msg) {
                let reply = match beat {
                    super::Beat::Ping => (beating.pong)(),
                    super::Beat::Pong => None,
                };
                let deliver = beating.config.delivers().then_some(msg);
                return Step::Beat { reply, deliver };
            }
        }
        Step::Deliver(msg)
    }

    /// The first message of a connection with a version handshake.
    fn hello_in<P: Peer>(&mut self, greeting: &Greeting<P>, msg: &P::Recv) -> Step<P> {
        let ours = greeting.config.version();
        let our_protocol = Greeting::<P>::show(Some(greeting.protocol));
        let Some(said) = (greeting.version_of)(msg) else {
            return Step::Stop(DisconnectReason::NoHello);
        };
        let their_protocol = (greeting.protocol_of)(msg);
        // Both said a hash (the protocol's hello has a `#[wire(protocol)]` field), and they
        // differ: other messages under the same version.
        let other_messages =
            greeting.protocol != 0 && their_protocol.is_some_and(|h| h != greeting.protocol);
        match said {
            Ok(theirs) if greeting.config.accepts(&theirs) && other_messages => {
                let version = theirs.to_string();
                let theirs_hash = Greeting::<P>::show(their_protocol).unwrap_or_default();
                tracing::debug!(%version, ours = ?our_protocol, theirs = %theirs_hash, "messages hash not ours");
                let said = format!("{version} with messages {theirs_hash}");
                Step::Refuse {
                    last_words: (greeting.reject)(&ours, &said, greeting.protocol),
                    reason: DisconnectReason::ProtocolMismatch {
                        version,
                        ours: our_protocol.unwrap_or_default(),
                        theirs: theirs_hash,
                    },
                }
            }
            Ok(theirs) if greeting.config.accepts(&theirs) => {
                self.greeted = true;
                self.peer_version = Some(theirs);
                Step::Greeted(theirs)
            }
            said => {
                let theirs = match said {
                    Ok(v) => v.to_string(),
                    Err(e) => e.text().to_owned(),
                };
                tracing::debug!(%ours, %theirs, "version not accepted");
                Step::Refuse {
                    last_words: (greeting.reject)(&ours, &theirs, greeting.protocol),
                    reason: DisconnectReason::VersionMismatch {
                        ours: ours.to_string(),
                        theirs: Some(theirs),
                        by_peer: false,
                        our_protocol,
                        their_protocol: Greeting::<P>::show(their_protocol),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The conversation in memory: messages in, steps out, instants given; no sockets, no
    //! clock read.

    use bytes::Bytes;

    use super::*;
    use crate::talk::{Beat, Beating, Handshake, Heartbeat, VersionError};

    /// A protocol of text lines: `hello VERSION HASH`, `no`, `ping`, `pong`, anything else.
    struct Lines;

    impl Peer for Lines {
        type Recv = Bytes;
        type Send = Bytes;
        const NAME: &'static str = "lines";
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap_or("")
    }

    fn hello(v: &Version, hash: u64) -> Bytes {
        Bytes::from(format!("hello {v} {hash:x}"))
    }

    fn version_of(b: &Bytes) -> Option<Result<Version, VersionError>> {
        let rest = text(b).strip_prefix("hello ")?;
        let v = rest.split(' ').next().unwrap_or("");
        Some(v.parse::<Version>())
    }

    fn protocol_of(b: &Bytes) -> Option<u64> {
        let hash = text(b).strip_prefix("hello ")?.split(' ').nth(1)?;
        u64::from_str_radix(hash, 16).ok()
    }

    fn reject(ours: &Version, theirs: &str, _: u64) -> Option<Bytes> {
        Some(Bytes::from(format!("no: ours {ours}, not {theirs}")))
    }

    fn is_rejection(b: &Bytes) -> bool {
        text(b).starts_with("no")
    }

    fn beat(b: &Bytes) -> Option<Beat> {
        match text(b) {
            "ping" => Some(Beat::Ping),
            "pong" => Some(Beat::Pong),
            _ => None,
        }
    }

    fn talk(handshake: bool, heartbeat: Option<Heartbeat>) -> Talk<Lines> {
        Talk {
            handshake: handshake.then(|| Greeting {
                config: Handshake::new(Version::new(1, 2, 0)),
                protocol: 0xabc,
                hello,
                version_of,
                protocol_of,
                reject,
                is_rejection,
            }),
            heartbeat: heartbeat.map(|config| Beating {
                config,
                ping: || Some(Bytes::from_static(b"ping")),
                pong: || Some(Bytes::from_static(b"pong")),
                beat,
            }),
            ..Talk::default()
        }
    }

    fn msg(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    #[test]
    fn a_hello_of_an_accepted_version_greets_then_messages_go_on() {
        let talk = talk(true, None);
        let mut c = Conversation::new(&talk, Instant::now());
        assert!(!c.greeted());
        assert_eq!(
            Conversation::hello(&talk).as_deref(),
            Some(&b"hello 1.2.0 abc"[..])
        );
        match c.receive(&talk, msg("hello 1.3.1 abc")) {
            Step::Greeted(v) => assert_eq!(v, Version::new(1, 3, 1)),
            _ => panic!("not greeted"),
        }
        assert!(c.greeted());
        assert!(matches!(c.receive(&talk, msg("data")), Step::Deliver(m) if m == "data"));
    }

    #[test]
    fn anything_but_a_hello_first_is_no_hello() {
        let talk = talk(true, None);
        let mut c = Conversation::new(&talk, Instant::now());
        assert!(matches!(
            c.receive(&talk, msg("data")),
            Step::Stop(DisconnectReason::NoHello)
        ));
        assert!(!c.greeted());
    }

    #[test]
    fn a_refused_version_is_answered_with_our_rejection() {
        let talk = talk(true, None);
        let mut c = Conversation::new(&talk, Instant::now());
        match c.receive(&talk, msg("hello 2.0.0 abc")) {
            Step::Refuse {
                reason:
                    DisconnectReason::VersionMismatch {
                        ours,
                        theirs,
                        by_peer,
                        ..
                    },
                last_words,
            } => {
                assert_eq!(
                    (ours.as_str(), theirs.as_deref(), by_peer),
                    ("1.2.0", Some("2.0.0"), false)
                );
                assert_eq!(
                    last_words.as_deref(),
                    Some(&b"no: ours 1.2.0, not 2.0.0"[..])
                );
            }
            _ => panic!("not refused"),
        }
        assert!(!c.greeted());
    }

    #[test]
    fn the_same_version_with_other_messages_is_refused() {
        let talk = talk(true, None);
        let mut c = Conversation::new(&talk, Instant::now());
        match c.receive(&talk, msg("hello 1.2.0 def")) {
            Step::Refuse {
                reason:
                    DisconnectReason::ProtocolMismatch {
                        version,
                        ours,
                        theirs,
                    },
                last_words,
            } => {
                assert_eq!(
                    (version.as_str(), ours.as_str(), theirs.as_str()),
                    ("1.2.0", "0000000000000abc", "0000000000000def")
                );
                assert!(last_words.is_some());
            }
            _ => panic!("not refused"),
        }
    }

    #[test]
    fn the_peers_rejection_ends_it_naming_what_it_said() {
        let talk = talk(true, None);
        let mut c = Conversation::new(&talk, Instant::now());
        assert!(matches!(
            c.receive(&talk, msg("hello 1.2.5 abc")),
            Step::Greeted(_)
        ));
        match c.receive(&talk, msg("no")) {
            Step::Stop(DisconnectReason::VersionMismatch {
                theirs, by_peer, ..
            }) => {
                assert_eq!((theirs.as_deref(), by_peer), (Some("1.2.5"), true));
            }
            _ => panic!("not stopped"),
        }
    }

    #[test]
    fn pings_are_answered_and_kept_from_the_program_unless_it_asks() {
        let talk = talk(
            false,
            Some(Heartbeat::every(std::time::Duration::from_secs(5))),
        );
        let mut c = Conversation::new(&talk, Instant::now());
        assert!(c.greeted(), "no handshake: greeted from the start");
        assert_eq!(Conversation::ping(&talk).as_deref(), Some(&b"ping"[..]));
        match c.receive(&talk, msg("ping")) {
            Step::Beat { reply, deliver } => {
                assert_eq!(reply.as_deref(), Some(&b"pong"[..]));
                assert!(deliver.is_none());
            }
            _ => panic!("not a beat"),
        }
        assert!(matches!(
            c.receive(&talk, msg("pong")),
            Step::Beat {
                reply: None,
                deliver: None
            }
        ));
        let delivering = talk_delivering();
        assert!(matches!(
            c.receive(&delivering, msg("pong")),
            Step::Beat {
                reply: None,
                deliver: Some(_)
            }
        ));
        assert!(matches!(c.receive(&talk, msg("data")), Step::Deliver(_)));
    }

    fn talk_delivering() -> Talk<Lines> {
        talk(
            false,
            Some(Heartbeat::every(std::time::Duration::from_secs(5)).deliver(true)),
        )
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_heartbeat_pings_when_quiet_and_cuts_after_the_allowance() {
        let talk = talk(false, Some(Heartbeat::every(secs(2)).allowance(secs(5))));
        let start = Instant::now();
        let mut c = Conversation::new(&talk, start);
        assert!(c.listens());
        assert_eq!(c.next_deadline(), Some(start + secs(2)));
        assert_eq!(c.on_time(start + secs(1)), None, "not quiet long enough");
        assert_eq!(c.on_time(start + secs(2)), Some(Due::Ping));
        assert_eq!(
            c.next_deadline(),
            Some(start + secs(4)),
            "quiet since the ping"
        );
        assert_eq!(c.on_time(start + secs(4)), Some(Due::Ping));
        // The pong comes: both deadlines move.
        c.heard(start + secs(4));
        assert_eq!(c.next_deadline(), Some(start + secs(6)));
        assert_eq!(
            c.on_time(start + secs(9)),
            Some(Due::Cut(Timeout::Heartbeat(secs(5)))),
            "silent for the allowance: the cut wins over the ping due"
        );
    }

    #[test]
    fn the_handshake_deadline_goes_with_the_hello() {
        let talk = talk(true, None);
        let start = Instant::now();
        let mut c = Conversation::new(&talk, start);
        let limit = talk
            .handshake
            .as_ref()
            .map(|g| g.config.time_limit())
            .unwrap();
        assert_eq!(c.next_deadline(), Some(start + limit));
        assert_eq!(c.on_time(start + limit - secs(1)), None);
        assert!(matches!(
            c.receive(&talk, msg("hello 1.2.5 abc")),
            Step::Greeted(_)
        ));
        assert_eq!(c.next_deadline(), None);
        assert_eq!(c.on_time(start + limit + secs(1)), None);
        // Without the hello, the time-out.
        let mut late = Conversation::new(&talk, start);
        assert_eq!(
            late.on_time(start + limit),
            Some(Due::Cut(Timeout::Handshake(limit)))
        );
    }

    #[test]
    fn without_a_handshake_or_heartbeat_nothing_is_ever_due() {
        let talk = talk(false, None);
        let start = Instant::now();
        let mut c = Conversation::new(&talk, start);
        assert!(!c.listens());
        assert_eq!(c.next_deadline(), None);
        assert_eq!(c.on_time(start + secs(3600)), None);
    }
}
