//! The hot path allocates nothing per message: once a connection is warm, a request read by
//! the reader, handed to the central task, answered with `try_send` and written back takes
//! no allocation, so a busy server does not lean on the allocator (whose locks its threads
//! would contend for). Counted with a counting wrapper of the system allocator, on a
//! current-thread runtime so that nothing else runs meanwhile.
//!
//! The counts are process-wide, so this binary has no test harness (`harness = false` in
//! Cargo.toml): its `main` runs the checks one after another on its one thread, and no
//! harness thread (output capture, the other tests) allocates while one counts.

mod common;

use std::alloc::System;

use common::Raw;
use connhandler::{central, Event, Incoming, Message, Peer};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Round trips of `in_flight` 32-byte messages written at once, each round sent after the
/// replies to the last one came back.
async fn round_trips(client: &mut TcpStream, in_flight: usize, rounds: usize) {
    let mut frame = [7u8; 34];
    frame[..2].copy_from_slice(&32u16.to_le_bytes());
    let frames = frame.repeat(in_flight);
    let mut replies = vec![0u8; frames.len()];
    for _ in 0..rounds {
        client.write_all(&frames).await.unwrap();
        client.read_exact(&mut replies).await.unwrap();
        assert_eq!(replies, frames);
    }
}

/// A game's tick as a derived message: numbers and arrays, 32 bytes with its id, so that
/// the frames of `round_trips` (32 bytes of 7) are ticks. It decodes in place, from the
/// read buffer.
#[derive(Message, Debug)]
#[wire(id = 0x0707)]
struct Tick {
    seq: u64,
    pos: [i32; 4],
    flags: [u8; 6],
}

#[derive(Default)]
struct Ticker;

impl Peer for Ticker {
    type Recv = Tick;
    type Send = Tick;
    const NAME: &'static str = "ticker";
}

/// Allocations and reallocations while `rounds` rounds of `in_flight` messages go through
/// the central queue and back, after a warm-up; `P` receives the messages and sends each
/// back.
fn allocations_per_round<P>(in_flight: usize, rounds: usize) -> usize
where
    P: Peer<Send = <P as Peer>::Recv> + Default,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut central) = central::<Event<P>>(64);
        let server = Incoming::<P>::builder("127.0.0.1:0")
            .listen(&tx)
            .await
            .unwrap();
        let echo = tokio::spawn(async move {
            while let Some(ev) = central.recv().await {
                if let Event::Message(peer, msg) = ev {
                    peer.try_send(msg).unwrap();
                }
            }
        });
        let mut client = TcpStream::connect(server.local_addr()).await.unwrap();
        client.set_nodelay(true).unwrap();
        // Warm: buffers and queues reach their working sizes.
        round_trips(&mut client, in_flight, 200).await;

        let region = Region::new(GLOBAL);
        round_trips(&mut client, in_flight, rounds).await;
        let stats = region.change();

        drop(client);
        server.shutdown().await;
        drop(tx);
        echo.await.unwrap();
        stats.allocations + stats.reallocations
    })
}

fn a_warm_connection_answers_without_allocating() {
    const ROUNDS: usize = 2000;
    // A request and its reply: not one allocation per message, nor one per ten; a few at
    // most, for the runtime's own bookkeeping.
    let one = allocations_per_round::<Raw>(1, ROUNDS);
    assert!(
        one < ROUNDS / 100,
        "{ROUNDS} round trips allocated {one} times"
    );
    // Sixteen at a time: the messages of one read are handed on together, in a batch whose
    // vector the central task hands back for the next one, and their replies are written
    // together.
    let sixteen = allocations_per_round::<Raw>(16, ROUNDS);
    assert!(
        sixteen < ROUNDS / 100,
        "{ROUNDS} rounds of 16 messages allocated {sixteen} times"
    );
}

fn derived_messages_are_decoded_in_place_and_sent_without_allocating() {
    const ROUNDS: usize = 2000;
    // Numbers and arrays: decoded from the read buffer (no frame cut out, no `Vec` behind
    // an array) and encoded into the writer's buffer.
    const { assert!(<Tick as connhandler::Decode>::IN_PLACE) };
    for in_flight in [1, 16] {
        let n = allocations_per_round::<Ticker>(in_flight, ROUNDS);
        assert!(
            n < ROUNDS / 100,
            "{ROUNDS} rounds of {in_flight} ticks allocated {n} times"
        );
    }
}

/// A field codec of the program's own, which reads from `Bytes`: a u16 as two bytes, high
/// first.
mod be16 {
    use bytes::{Buf, Bytes, BytesMut};
    use connhandler::{wire::Ctx, DecodeError};

    pub fn encoded_len(_: &u16, _: Ctx) -> usize {
        2
    }
    pub fn encode(v: &u16, _: Ctx, dst: &mut BytesMut) {
        dst.extend_from_slice(&v.to_be_bytes());
    }
    pub fn decode(src: &mut Bytes, _: Ctx) -> Result<u16, DecodeError> {
        if src.len() < 2 {
            return Err(DecodeError::incomplete(2 - src.len()));
        }
        Ok(src.get_u16())
    }
}

#[derive(Message, Debug, PartialEq)]
struct Marked {
    #[wire(with = be16)]
    mark: u16,
}

#[derive(Message, Debug, PartialEq)]
#[wire(id = 9)]
struct Marks {
    #[wire(len = u32)]
    marks: Vec<Marked>,
}

fn a_frame_read_from_bytes_only_is_copied_once_not_once_per_field() {
    // Each item's field is read by a codec that wants `Bytes`: decoding from a slice copies
    // the frame once, not the rest of it for each item (quadratic in the frame's length).
    const ITEMS: usize = 5000;
    let msg = Marks {
        marks: (0..ITEMS as u16).map(|mark| Marked { mark }).collect(),
    };
    let mut frame = bytes::BytesMut::new();
    connhandler::Encode::encode(&msg, &mut frame);
    const { assert!(!<Marks as connhandler::Decode>::IN_PLACE) };
    let region = Region::new(GLOBAL);
    let back = <Marks as connhandler::Decode>::decode_slice(&frame).unwrap();
    let stats = region.change();
    assert_eq!(back, msg);
    assert!(
        stats.allocations + stats.reallocations < 10,
        "{ITEMS} items allocated {} times",
        stats.allocations + stats.reallocations
    );
}

/// The checks, one after another on this thread (no harness: see the top).
fn main() {
    let checks: [(&str, fn()); 3] = [
        (
            "a_warm_connection_answers_without_allocating",
            a_warm_connection_answers_without_allocating,
        ),
        (
            "derived_messages_are_decoded_in_place_and_sent_without_allocating",
            derived_messages_are_decoded_in_place_and_sent_without_allocating,
        ),
        (
            "a_frame_read_from_bytes_only_is_copied_once_not_once_per_field",
            a_frame_read_from_bytes_only_is_copied_once_not_once_per_field,
        ),
    ];
    // `cargo test -- NAME` runs the checks whose names contain NAME.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, check) in checks {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
            check();
            println!("test {name} ... ok");
        }
    }
}
