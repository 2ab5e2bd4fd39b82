//! Every benchmark, each against a baseline measured in the same run, printed as
//! `name: connhandler X, baseline Y, ratio R` (R > 1 means connhandler is ahead, except for
//! memory, where R is connhandler's cost over the baseline's).
//!
//! Run with `cargo bench --bench all` (add `-- quick` for a shorter run). Network benchmarks
//! run their load-generating clients in a separate process (this binary, re-executed), so the
//! server under test has the machine's cores to itself as far as that goes; CPU time per
//! message is the server process's user + system time.

use std::{
    hint::black_box,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bytes::{Buf, Bytes, BytesMut};
use connhandler::{
    central,
    codec::{Framing, TcpMessageCodec},
    talk::RequestError,
    tls::{TlsClient, TlsServer},
    ws::WebSocket,
    Decode, Encode, Event, Incoming, Message, Outgoing, Peer,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

// ---------------------------------------------------------------------------------------
// Measuring and reporting

/// This process's CPU time (user + system), from /proc/self/stat, in clock ticks of 10 ms.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are utime and stime; after the name they are 11, 12.
    let ticks: u64 = fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 4
}

fn report(name: &str, ours: f64, baseline: f64, unit: &str) {
    println!(
        "{name}: connhandler {}, baseline {}, ratio {:.2}",
        human(ours, unit),
        human(baseline, unit),
        ours / baseline
    );
}

fn human(v: f64, unit: &str) -> String {
    if v >= 1e9 {
        format!("{:.2} G{unit}", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M{unit}", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k{unit}", v / 1e3)
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Rounds per measurement: the contenders of one comparison take turns, one round each.
const ROUNDS: u32 = 5;

/// Runs `f` (which does `per_call` operations) for `time`; operations per second.
fn round(f: &mut impl FnMut(), per_call: u64, time: Duration) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < time {
        for _ in 0..64 {
            f();
        }
        calls += 64;
    }
    (calls * per_call) as f64 / start.elapsed().as_secs_f64()
}

/// A closure for [`rates!`] that owns `state` (a contender's own output buffer, say).
fn with<T>(mut state: T, mut f: impl FnMut(&mut T)) -> impl FnMut() {
    move || f(&mut state)
}

/// Measures closures that each do `per_call` operations, `budget` for each in all: they take
/// turns, one round each at a time (a, b, a, b, ...), so a change in the machine's speed
/// during the measurement falls on all of them alike. Operations per second, the best round
/// of each, in the order given:
/// `let [ours, hand] = rates!(budget, 1; ours: || ..., hand: || ...);`
macro_rules! rates {
    ($budget:expr, $per_call:expr; $($name:ident: $f:expr),+ $(,)?) => {{
        let time = $budget / ROUNDS;
        $(let mut $name = ($f, 0f64);)+
        for _ in 0..ROUNDS {
            $($name.1 = $name.1.max(round(&mut $name.0, $per_call, time));)+
        }
        [$($name.1),+]
    }};
}

// ---------------------------------------------------------------------------------------
// 1. Derived codecs against hand-written, bincode and postcard

/// Each shape derives every contender's codec: ours, serde (bincode 1.3, postcard), speedy
/// and bincode 2's own.
#[derive(
    Message,
    Serialize,
    Deserialize,
    speedy::Readable,
    speedy::Writable,
    bincode2::Encode,
    bincode2::Decode,
    Clone,
    Debug,
    PartialEq,
)]
#[bincode(crate = "bincode2")]
enum Small {
    #[wire(id = 1)]
    Pos { id: u32, x: i32, y: i32, z: i32 },
}

#[derive(
    Message,
    Serialize,
    Deserialize,
    speedy::Readable,
    speedy::Writable,
    bincode2::Encode,
    bincode2::Decode,
    Clone,
    Debug,
    PartialEq,
)]
#[bincode(crate = "bincode2")]
enum Chat {
    #[wire(id = 2)]
    Say { from: String, text: String },
}

/// 64 positions in a `Vec`: a run of fixed-size items.
#[derive(
    Message,
    Serialize,
    Deserialize,
    speedy::Readable,
    speedy::Writable,
    bincode2::Encode,
    bincode2::Decode,
    Clone,
    Debug,
    PartialEq,
)]
#[bincode(crate = "bincode2")]
struct Position {
    id: u32,
    x: f32,
    y: f32,
    z: f32,
    flags: u16,
}

#[derive(
    Message,
    Serialize,
    Deserialize,
    speedy::Readable,
    speedy::Writable,
    bincode2::Encode,
    bincode2::Decode,
    Clone,
    Debug,
    PartialEq,
)]
#[bincode(crate = "bincode2")]
enum Batch {
    #[wire(id = 4)]
    Positions(Vec<Position>),
}

fn hand_encode_batch(items: &[Position], dst: &mut BytesMut) {
    dst.reserve(4 + 18 * items.len());
    dst.extend_from_slice(&4u16.to_le_bytes());
    dst.extend_from_slice(&(items.len() as u16).to_le_bytes());
    for p in items {
        let mut b = [0u8; 18];
        b[0..4].copy_from_slice(&p.id.to_le_bytes());
        b[4..8].copy_from_slice(&p.x.to_le_bytes());
        b[8..12].copy_from_slice(&p.y.to_le_bytes());
        b[12..16].copy_from_slice(&p.z.to_le_bytes());
        b[16..18].copy_from_slice(&p.flags.to_le_bytes());
        dst.extend_from_slice(&b);
    }
}

fn hand_decode_batch(src: &[u8]) -> Option<Vec<Position>> {
    let (head, rest) = src.split_first_chunk::<4>()?;
    if u16::from_le_bytes([head[0], head[1]]) != 4 {
        return None;
    }
    let n = usize::from(u16::from_le_bytes([head[2], head[3]]));
    if rest.len() != 18 * n {
        return None;
    }
    let f = |b: &[u8], i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Some(
        rest.chunks_exact(18)
            .map(|b| Position {
                id: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                x: f(b, 4),
                y: f(b, 8),
                z: f(b, 12),
                flags: u16::from_le_bytes([b[16], b[17]]),
            })
            .collect(),
    )
}

#[derive(Message, Clone, Debug, PartialEq)]
enum Blob {
    #[wire(id = 3)]
    Data(#[wire(len = u32)] Bytes),
}

/// The same layouts, written by hand as well as we know how: fixed-size parts assembled in
/// an array and appended at once, input read from slices, one length check where the layout
/// allows it.
fn hand_encode_small(id: u32, x: i32, y: i32, z: i32, dst: &mut BytesMut) {
    let mut b = [0u8; 18];
    b[0..2].copy_from_slice(&1u16.to_le_bytes());
    b[2..6].copy_from_slice(&id.to_le_bytes());
    b[6..10].copy_from_slice(&x.to_le_bytes());
    b[10..14].copy_from_slice(&y.to_le_bytes());
    b[14..18].copy_from_slice(&z.to_le_bytes());
    dst.extend_from_slice(&b);
}

fn hand_decode_small(src: &[u8]) -> Option<(u32, i32, i32, i32)> {
    let b: &[u8; 18] = src.try_into().ok()?;
    if u16::from_le_bytes([b[0], b[1]]) != 1 {
        return None;
    }
    let at = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
    Some((
        u32::from_le_bytes(at(2)),
        i32::from_le_bytes(at(6)),
        i32::from_le_bytes(at(10)),
        i32::from_le_bytes(at(14)),
    ))
}

fn hand_encode_chat(from: &str, text: &str, dst: &mut BytesMut) {
    dst.reserve(6 + from.len() + text.len());
    dst.extend_from_slice(&2u16.to_le_bytes());
    dst.extend_from_slice(&(from.len() as u16).to_le_bytes());
    dst.extend_from_slice(from.as_bytes());
    dst.extend_from_slice(&(text.len() as u16).to_le_bytes());
    dst.extend_from_slice(text.as_bytes());
}

/// The chat message written pre-sized: the buffer grown by the message's length once
/// (zero-filled: without `unsafe`, spare capacity cannot be written otherwise), then the
/// parts copied into the slice, with no capacity check per part.
fn hand_encode_chat_presized(from: &str, text: &str, dst: &mut BytesMut) {
    let start = dst.len();
    dst.resize(start + 6 + from.len() + text.len(), 0);
    let out = &mut dst[start..];
    let (id, out) = out.split_at_mut(2);
    id.copy_from_slice(&2u16.to_le_bytes());
    let (len, out) = out.split_at_mut(2);
    len.copy_from_slice(&(from.len() as u16).to_le_bytes());
    let (a, out) = out.split_at_mut(from.len());
    a.copy_from_slice(from.as_bytes());
    let (len, out) = out.split_at_mut(2);
    len.copy_from_slice(&(text.len() as u16).to_le_bytes());
    out.copy_from_slice(text.as_bytes());
}

fn hand_decode_chat(src: &[u8]) -> Option<(String, String)> {
    fn string(src: &mut &[u8]) -> Option<String> {
        let (len, rest) = src.split_first_chunk::<2>()?;
        let n = usize::from(u16::from_le_bytes(*len));
        if rest.len() < n {
            return None;
        }
        let (text, rest) = rest.split_at(n);
        *src = rest;
        std::str::from_utf8(text).ok().map(str::to_owned)
    }
    let mut s: &[u8] = src;
    let (id, rest) = s.split_first_chunk::<2>()?;
    if u16::from_le_bytes(*id) != 2 {
        return None;
    }
    s = rest;
    let from = string(&mut s)?;
    let text = string(&mut s)?;
    s.is_empty().then_some((from, text))
}

/// A frame already received, for the decode benchmarks: a `Bytes` whose clone and drop
/// cost nothing, so that what is measured is the decoding alone. A frame cut from a read
/// buffer is reference-counted: one atomic increment and decrement per frame (measured below
/// as "frame in hand"), paid by the framing whichever decoder reads the frame afterwards.
fn in_hand(bytes: &[u8]) -> Bytes {
    Bytes::from_static(Box::leak(bytes.to_vec().into_boxed_slice()))
}

/// bincode 2's two configurations: fixed-size integers (the layout closest to ours) and
/// its standard varints.
fn fixint() -> impl bincode2::config::Config {
    bincode2::config::standard().with_fixed_int_encoding()
}

/// Encoding `value` (`label` in the report) with the derive, by hand (`hand`), with bincode
/// 1.3, postcard, speedy and bincode 2 (fixint and varint), taking turns. Each writes into a
/// buffer of its own: `BytesMut` for the derive and by hand, `Vec<u8>` for bincode 1.3, a
/// slice for the others.
fn bench_encode<T>(budget: Duration, label: &str, value: &T, hand: impl Fn(&T, &mut BytesMut))
where
    T: Encode + Serialize + speedy::Writable<speedy::LittleEndian> + bincode2::Encode,
{
    let buf = || BytesMut::with_capacity(1 << 17);
    let [ours, hand, bin, post, speedy, bin2f, bin2v] = rates!(budget, 1;
        ours: with(buf(), |buf| {
            buf.clear();
            Encode::encode(black_box(value), buf);
            black_box(&*buf);
        }),
        hand: with(buf(), |buf| {
            buf.clear();
            hand(black_box(value), buf);
            black_box(&*buf);
        }),
        bin: with(Vec::<u8>::with_capacity(1 << 17), |vec| {
            vec.clear();
            bincode::serialize_into(&mut *vec, black_box(value)).unwrap();
            black_box(&*vec);
        }),
        post: with(vec![0u8; 1 << 17], |slice| {
            black_box(postcard::to_slice(black_box(value), slice).unwrap());
        }),
        speedy: with(vec![0u8; 1 << 17], |slice| {
            speedy::Writable::<speedy::LittleEndian>::write_to_buffer(black_box(value), slice).unwrap();
            black_box(&*slice);
        }),
        bin2f: with(vec![0u8; 1 << 17], |slice| {
            black_box(bincode2::encode_into_slice(black_box(value), slice, fixint()).unwrap());
        }),
        bin2v: with(vec![0u8; 1 << 17], |slice| {
            black_box(
                bincode2::encode_into_slice(black_box(value), slice, bincode2::config::standard())
                    .unwrap(),
            );
        }),
    );
    report(
        &format!("encode {label} vs hand-written"),
        ours,
        hand,
        "msg/s",
    );
    report(
        &format!("encode {label} vs bincode 1.3"),
        ours,
        bin,
        "msg/s",
    );
    report(&format!("encode {label} vs postcard"), ours, post, "msg/s");
    report(&format!("encode {label} vs speedy"), ours, speedy, "msg/s");
    report(
        &format!("encode {label} vs bincode 2 fixint"),
        ours,
        bin2f,
        "msg/s",
    );
    report(
        &format!("encode {label} vs bincode 2 varint"),
        ours,
        bin2v,
        "msg/s",
    );
}

/// Decoding `value` (`label` in the report) with the derive, by hand (`hand`), and with the
/// others, taking turns, each from a frame in hand: ours the way a connection decodes it
/// (from a slice with `decode_slice` for a type that reads in place, from `Bytes`
/// otherwise), the others from a slice. Then from a read buffer holding many frames: lent
/// in place as the reader lends them, and cut out as `Bytes` (`Bytes::slice`: one atomic
/// increment and decrement per frame, what a type with a `Bytes` field takes), against
/// speedy reading the same buffer's slices.
fn bench_decode<T, H>(
    budget: Duration,
    label: &str,
    value: &T,
    hand_decode: impl Fn(&[u8]) -> Option<H>,
) where
    T: Encode
        + Decode
        + Serialize
        + serde::de::DeserializeOwned
        + for<'a> speedy::Readable<'a, speedy::LittleEndian>
        + speedy::Writable<speedy::LittleEndian>
        + bincode2::Encode
        + bincode2::Decode<()>,
{
    let mut b = BytesMut::new();
    Encode::encode(value, &mut b);
    let frame = &in_hand(&b);
    let bin_bytes = &bincode::serialize(value).unwrap();
    let post_bytes = &postcard::to_allocvec(value).unwrap();
    let speedy_bytes = &speedy::Writable::<speedy::LittleEndian>::write_to_vec(value).unwrap();
    let bin2f_bytes = &bincode2::encode_to_vec(value, fixint()).unwrap();
    let bin2v_bytes = &bincode2::encode_to_vec(value, bincode2::config::standard()).unwrap();
    println!(
        "  encoded sizes of {label}: connhandler {} B, bincode 1.3 {}, postcard {}, speedy {}, bincode 2 fixint {}, varint {}",
        frame.len(),
        bin_bytes.len(),
        post_bytes.len(),
        speedy_bytes.len(),
        bin2f_bytes.len(),
        bin2v_bytes.len()
    );
    let [ours, hand, bin, post, speedy, bin2f, bin2v] = rates!(budget, 1;
        ours: || {
            if T::IN_PLACE {
                black_box(<T as Decode>::decode_slice(black_box(&frame[..])).unwrap());
            } else {
                black_box(<T as Decode>::decode(black_box(frame.clone())).unwrap());
            }
        },
        hand: || {
            black_box(hand_decode(black_box(&frame[..])).unwrap());
        },
        bin: || {
            black_box(bincode::deserialize::<T>(black_box(bin_bytes)).unwrap());
        },
        post: || {
            black_box(postcard::from_bytes::<T>(black_box(post_bytes)).unwrap());
        },
        speedy: || {
            black_box(
                <T as speedy::Readable<speedy::LittleEndian>>::read_from_buffer(black_box(speedy_bytes))
                    .unwrap(),
            );
        },
        bin2f: || {
            black_box(bincode2::decode_from_slice::<T, _>(black_box(bin2f_bytes), fixint()).unwrap());
        },
        bin2v: || {
            black_box(
                bincode2::decode_from_slice::<T, _>(black_box(bin2v_bytes), bincode2::config::standard())
                    .unwrap(),
            );
        },
    );
    report(
        &format!("decode {label} vs hand-written (frame in hand)"),
        ours,
        hand,
        "msg/s",
    );
    report(
        &format!("decode {label} vs bincode 1.3"),
        ours,
        bin,
        "msg/s",
    );
    report(&format!("decode {label} vs postcard"), ours, post, "msg/s");
    report(&format!("decode {label} vs speedy"), ours, speedy, "msg/s");
    report(
        &format!("decode {label} vs bincode 2 fixint"),
        ours,
        bin2f,
        "msg/s",
    );
    report(
        &format!("decode {label} vs bincode 2 varint"),
        ours,
        bin2v,
        "msg/s",
    );

    // A read buffer holding many frames, shared as the framing shares it.
    const FRAMES: usize = 256;
    let n = frame.len();
    let shared = Bytes::from(frame.repeat(FRAMES));
    let speedy_shared = speedy_bytes.repeat(FRAMES);
    let sn = speedy_bytes.len();
    let [lent, hand_lent, cut, speedy_cut] = rates!(budget, FRAMES as u64;
        lent: || {
            for i in 0..FRAMES {
                black_box(<T as Decode>::decode_slice(black_box(&shared[i * n..(i + 1) * n])).unwrap());
            }
        },
        hand_lent: || {
            for i in 0..FRAMES {
                black_box(hand_decode(black_box(&shared[i * n..(i + 1) * n])).unwrap());
            }
        },
        cut: || {
            for i in 0..FRAMES {
                black_box(<T as Decode>::decode(black_box(shared.slice(i * n..(i + 1) * n))).unwrap());
            }
        },
        speedy_cut: || {
            for i in 0..FRAMES {
                black_box(
                    <T as speedy::Readable<speedy::LittleEndian>>::read_from_buffer(
                        black_box(&speedy_shared[i * sn..(i + 1) * sn]),
                    )
                    .unwrap(),
                );
            }
        },
    );
    report(
        &format!("decode {label}, frames lent from a read buffer, vs hand-written from them"),
        lent,
        hand_lent,
        "msg/s",
    );
    report(
        &format!("decode {label}, frames lent from a read buffer, vs speedy from its slices"),
        lent,
        speedy_cut,
        "msg/s",
    );
    report(
        &format!("decode {label}, frames cut from a shared read buffer, vs speedy from its slices"),
        cut,
        speedy_cut,
        "msg/s",
    );
}

fn bench_codecs(budget: Duration) {
    let small = Small::Pos {
        id: 7,
        x: -3,
        y: 1_000_000,
        z: 42,
    };
    let chat = Chat::Say {
        from: "player42".into(),
        text: "gg, see you next round!!!".into(),
    };
    let (small, chat) = (&small, &chat);
    bench_encode(budget, "small (18 B)", small, |m, buf| {
        let Small::Pos { id, x, y, z } = m;
        hand_encode_small(*id, *x, *y, *z, buf);
    });
    // small: decode
    bench_decode(budget, "small (18 B)", small, hand_decode_small);
    let shared = Bytes::copy_from_slice(&[0u8; 18]);
    let [refcount] = rates!(budget, 1;
        refcount: || {
            black_box(black_box(shared.clone()));
        },
    );
    println!(
        "  (not counted above: taking and releasing a reference-counted frame, {:.1} ns)",
        1e9 / refcount
    );

    // chat: encode and decode
    bench_encode(budget, "chat (~40 B)", chat, |m, buf| {
        let Chat::Say { from, text } = m;
        hand_encode_chat(from, text, buf);
    });
    bench_decode(budget, "chat (~40 B)", chat, hand_decode_chat);
    // Pre-sizing, by hand: is one zero-filling resize and writes into the slice faster than
    // appending each part?
    let Chat::Say { from, text } = chat;
    let buf = || BytesMut::with_capacity(1 << 17);
    let [presized, appended] = rates!(budget, 1;
        presized: with(buf(), |buf| {
            buf.clear();
            hand_encode_chat_presized(black_box(from), black_box(text), buf);
            black_box(&*buf);
        }),
        appended: with(buf(), |buf| {
            buf.clear();
            hand_encode_chat(black_box(from), black_box(text), buf);
            black_box(&*buf);
        }),
    );
    report(
        "encode chat (~40 B) by hand: pre-sized (resize, then writes into the slice) vs appended",
        presized,
        appended,
        "msg/s",
    );

    // 64 positions: a run of fixed-size items.
    let batch = &Batch::Positions(
        (0..64u32)
            .map(|i| Position {
                id: i,
                x: i as f32 * 0.5,
                y: -(i as f32),
                z: 1.25,
                flags: (i % 7) as u16,
            })
            .collect(),
    );
    bench_encode(budget, "64 positions (1156 B)", batch, |m, buf| {
        let Batch::Positions(items) = m;
        hand_encode_batch(items, buf);
    });
    bench_decode(budget, "64 positions (1156 B)", batch, hand_decode_batch);

    // 64 KiB byte field against memcpy of the same bytes.
    let data = &Bytes::from(vec![7u8; 64 * 1024]);
    let blob = &Blob::Data(data.clone());
    let [ours, memcpy] = rates!(budget, 64 * 1024;
        ours: with(BytesMut::with_capacity(1 << 17), |buf| {
            buf.clear();
            black_box(blob).encode(buf);
            black_box(&*buf);
        }),
        memcpy: with(BytesMut::with_capacity(1 << 17), |buf| {
            buf.clear();
            buf.extend_from_slice(black_box(data));
            black_box(&*buf);
        }),
    );
    report("encode 64 KiB byte field vs memcpy", ours, memcpy, "B/s");
    let mut b = BytesMut::new();
    blob.encode(&mut b);
    let frame = &b.freeze();
    let [ours, copy] = rates!(budget, 64 * 1024;
        ours: || {
            black_box(Blob::decode(black_box(frame.clone())).unwrap());
        },
        copy: || {
            black_box(Bytes::copy_from_slice(black_box(&frame[6..])));
        },
    );
    report(
        "decode 64 KiB byte field (zero-copy) vs memcpy",
        ours,
        copy,
        "B/s",
    );
}

// ---------------------------------------------------------------------------------------
// 2. The TcpMessage codec alone against LengthDelimitedCodec, input in random slices

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn bench_framing(budget: Duration) {
    for size in [16usize, 1024, 64 * 1024, 1 << 20] {
        let count = ((4 << 20) / size).clamp(4, 4096);
        let payload = Bytes::from(vec![0x5au8; size]);
        let mut ours_wire = BytesMut::new();
        let mut base_wire = BytesMut::new();
        let mut ours = TcpMessageCodec::new();
        let mut base = LengthDelimitedCodec::builder()
            .max_frame_length(8 << 20)
            .new_codec();
        for _ in 0..count {
            ours.encode_message(&payload, &mut ours_wire).unwrap();
            base.encode(payload.clone(), &mut base_wire).unwrap();
        }
        // The same random slice sizes for both.
        let mut rng = Rng(size as u64 + 1);
        let slices: Vec<usize> = (0..4096)
            .map(|_| 1 + (rng.next() % 16384) as usize)
            .collect();
        let feed = |wire: &[u8], mut decode: Box<dyn FnMut(&mut BytesMut) -> usize>| {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let (mut at, mut i, mut frames) = (0, 0, 0);
            while at < wire.len() {
                let n = slices[i % slices.len()].min(wire.len() - at);
                buf.extend_from_slice(&wire[at..at + n]);
                at += n;
                i += 1;
                frames += decode(&mut buf);
            }
            assert_eq!(frames, count);
        };
        let total = (count * size) as u64;
        let [ours_rate, base_rate] = rates!(budget, total;
            ours: || {
                let mut c = TcpMessageCodec::new();
                feed(
                    &ours_wire,
                    Box::new(move |buf| {
                        let mut n = 0;
                        while let Some(f) = c.decode_frame(buf).unwrap() {
                            black_box(f);
                            n += 1;
                        }
                        n
                    }),
                );
            },
            base: || {
                let mut c = LengthDelimitedCodec::builder()
                    .max_frame_length(8 << 20)
                    .new_codec();
                feed(
                    &base_wire,
                    Box::new(move |buf| {
                        let mut n = 0;
                        while let Some(f) = c.decode(buf).unwrap() {
                            black_box(f.freeze());
                            n += 1;
                        }
                        n
                    }),
                );
            },
        );
        report(
            &format!(
                "TcpMessage decode, {} B messages, random slices, vs LengthDelimitedCodec",
                size
            ),
            ours_rate,
            base_rate,
            "B/s",
        );
        let [ours_rate, base_rate] = rates!(budget, total;
            // Each into an output buffer of its own, kept from call to call: what is
            // measured is the encoding, not the allocator handing out fresh pages.
            ours: with(BytesMut::with_capacity(ours_wire.len()), |out| {
                out.clear();
                let mut c = TcpMessageCodec::new();
                for _ in 0..count {
                    c.encode_message(&payload, out).unwrap();
                }
                black_box(&*out);
            }),
            base: with(BytesMut::with_capacity(base_wire.len()), |out| {
                out.clear();
                let mut c = LengthDelimitedCodec::new();
                for _ in 0..count {
                    c.encode(payload.clone(), out).unwrap();
                }
                black_box(&*out);
            }),
        );
        report(
            &format!(
                "TcpMessage encode, {} B messages, vs LengthDelimitedCodec",
                size
            ),
            ours_rate,
            base_rate,
            "B/s",
        );
    }
}

// ---------------------------------------------------------------------------------------
// Network benchmarks: clients in a child process (this binary with `--child ...`)

#[derive(Default)]
struct Raw;

impl Peer for Raw {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "raw";
}

/// A game's tick, 32 bytes with its id, as the streaming and echo clients send it (32 bytes
/// of 1): numbers only, so it decodes in place, from the read buffer.
#[derive(Message, Debug)]
#[wire(id = 0x0101)]
struct Tick32 {
    seq: u64,
    x: u64,
    y: u64,
    z: u32,
    flags: u16,
}

#[derive(Default)]
struct Ticks;

impl Peer for Ticks {
    type Recv = Tick32;
    type Send = Tick32;
    const NAME: &'static str = "ticks";
}

/// The same tick read the way a type with a `Bytes` field is: each frame cut out of the read
/// buffer as `Bytes` (`Decode::IN_PLACE` left false), for the in-place path's gain.
#[derive(Debug)]
struct CutTick32(Tick32);

impl Decode for CutTick32 {
    fn decode(frame: Bytes) -> Result<Self, connhandler::DecodeError> {
        Tick32::decode(frame).map(CutTick32)
    }
}

#[derive(Default)]
struct CutTicks;

impl Peer for CutTicks {
    type Recv = CutTick32;
    type Send = Tick32;
    const NAME: &'static str = "cut-ticks";
}

/// A client process, killed on drop.
struct ChildProc {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl ChildProc {
    fn start(args: &[String]) -> ChildProc {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--child")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        ChildProc { child, out }
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        l.trim().to_owned()
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    TcpMessageCodec::new()
        .encode_message(payload, &mut wire)
        .unwrap();
    wire.to_vec()
}

/// Counts whole TcpMessage frames (one chunk each: all messages here are < 64 KiB, or
/// chunked with explicit final chunks) in `buf`, consuming them.
fn count_frames(buf: &mut BytesMut) -> u64 {
    let mut n = 0;
    loop {
        if buf.len() < 2 {
            return n;
        }
        let h = usize::from(u16::from_le_bytes([buf[0], buf[1]]));
        let len = if h == 0 { 0xFFFF } else { h };
        if buf.len() < 2 + len {
            return n;
        }
        buf.advance(2 + len);
        if h != 0 {
            n += 1;
        }
    }
}

async fn stream_connhandler(count: u64, size: usize) -> (Duration, Duration) {
    stream_into::<Raw>(count, size).await
}

/// `count` messages of `size` bytes from a client process into the central queue of a
/// handler whose peers receive `P::Recv`.
async fn stream_into<P: Peer + Default>(count: u64, size: usize) -> (Duration, Duration) {
    let (tx, mut central) = central::<Event<P>>(4096);
    let server = Incoming::<P>::builder("127.0.0.1:0")
        .listen(&tx)
        .await
        .unwrap();
    let mut client = ChildProc::start(&[
        "stream".into(),
        server.local_addr().to_string(),
        count.to_string(),
        size.to_string(),
    ]);
    let (mut start, cpu0) = (Instant::now(), cpu_time());
    let mut n = 0;
    while let Some(ev) = central.recv().await {
        match ev {
            Event::Connected(_) => start = Instant::now(),
            Event::Message(_, m) => {
                black_box(m);
                n += 1;
                if n == count {
                    break;
                }
            }
            _ => {}
        }
    }
    let took = (start.elapsed(), cpu_time() - cpu0);
    server.shutdown().await;
    let _ = client.line();
    took
}

async fn stream_baseline(count: u64, size: usize) -> (Duration, Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = ChildProc::start(&[
        "stream".into(),
        listener.local_addr().unwrap().to_string(),
        count.to_string(),
        size.to_string(),
    ]);
    let (mut s, _) = listener.accept().await.unwrap();
    let (start, cpu0) = (Instant::now(), cpu_time());
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut n = 0;
    while n < count {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        if s.read_buf(&mut buf).await.unwrap() == 0 {
            break;
        }
        n += count_frames(&mut buf);
    }
    let took = (start.elapsed(), cpu_time() - cpu0);
    drop(s);
    let _ = client.line();
    took
}

/// The best of `runs` runs of each side (the shortest time, with its CPU time), the sides
/// taking turns: loopback throughput on a shared 2-core machine drifts from run to run, and
/// both sides get the same chances.
async fn best_of_each<FA, FB>(
    runs: usize,
    mut ours: impl FnMut() -> FA,
    mut base: impl FnMut() -> FB,
) -> [(Duration, Duration); 2]
where
    FA: std::future::Future<Output = (Duration, Duration)>,
    FB: std::future::Future<Output = (Duration, Duration)>,
{
    let mut best = [(Duration::MAX, Duration::ZERO); 2];
    let keep = |best: &mut (Duration, Duration), took: (Duration, Duration)| {
        if took.0 < best.0 {
            *best = took;
        }
    };
    for _ in 0..runs {
        keep(&mut best[0], ours().await);
        keep(&mut best[1], base().await);
    }
    best
}

async fn bench_streaming(quick: bool) {
    let small = if quick { 1_000_000 } else { 5_000_000 };
    let runs = if quick { 3 } else { 5 };
    let [(ours, ours_cpu), (base, base_cpu)] = best_of_each(
        runs,
        || stream_connhandler(small, 32),
        || stream_baseline(small, 32),
    )
    .await;
    report(
        "one connection, 32 B messages into the central queue, vs raw tokio",
        small as f64 / ours.as_secs_f64(),
        small as f64 / base.as_secs_f64(),
        "msg/s",
    );
    println!(
        "  cpu per message: connhandler {:.0} ns, baseline {:.0} ns",
        ours_cpu.as_nanos() as f64 / small as f64,
        base_cpu.as_nanos() as f64 / small as f64
    );
    // A derived 32-byte message: decoded in place, against the same bytes cut out per frame.
    let [(lent, lent_cpu), (cut, cut_cpu)] = best_of_each(
        runs,
        || stream_into::<Ticks>(small, 32),
        || stream_into::<CutTicks>(small, 32),
    )
    .await;
    report(
        "one connection, 32 B derived messages decoded in place, vs cut out as Bytes",
        small as f64 / lent.as_secs_f64(),
        small as f64 / cut.as_secs_f64(),
        "msg/s",
    );
    println!(
        "  cpu per message: in place {:.0} ns, cut out {:.0} ns",
        lent_cpu.as_nanos() as f64 / small as f64,
        cut_cpu.as_nanos() as f64 / small as f64
    );
    for size in [64 * 1024 - 1, 1 << 20] {
        let total: u64 = if quick { 256 << 20 } else { 1 << 30 };
        let count = total / size as u64;
        let [(ours, _), (base, _)] = best_of_each(
            runs,
            || stream_connhandler(count, size),
            || stream_baseline(count, size),
        )
        .await;
        report(
            &format!("one connection, {} B messages, vs raw tokio copy", size),
            (count * size as u64) as f64 / ours.as_secs_f64(),
            (count * size as u64) as f64 / base.as_secs_f64(),
            "B/s",
        );
    }
}

/// Echo through the central queue: reader -> central task -> peer.send -> writer.
async fn echo_connhandler(conns: usize, inflight: usize, secs: u64) -> (f64, Duration) {
    echo_as::<Raw>(conns, inflight, secs, |m| m).await
}

/// The echo with peers of kind `P`, each message sent back as `back` makes it.
async fn echo_as<P: Peer + Default>(
    conns: usize,
    inflight: usize,
    secs: u64,
    back: fn(P::Recv) -> P::Send,
) -> (f64, Duration) {
    let (tx, mut central) = central::<Event<P>>(8192);
    let mut server = Incoming::<P>::builder("127.0.0.1:0").queue_capacity(inflight.max(16) * 2);
    // `ECHO_UNPROTECTED=1`: the limits a loopback tool turns off (the defaults are measured
    // otherwise).
    if std::env::var_os("ECHO_UNPROTECTED").is_some() {
        server = server.unprotected();
    }
    let server = server.listen(&tx).await.unwrap();
    let mut client = echo_load(server.local_addr(), conns, inflight, secs);
    let central_task = tokio::spawn(async move {
        while let Some(ev) = central.recv().await {
            if let Event::Message(p, m) = ev {
                let _ = p.try_send(back(m));
            }
        }
    });
    let cpu0 = cpu_time();
    let done: f64 = client.line().parse().unwrap();
    let cpu = cpu_time() - cpu0;
    server.shutdown().await;
    drop(server);
    drop(tx);
    let _ = central_task.await;
    (done / secs as f64, cpu)
}

/// The echo's load generator, a child process: `conns` connections to `addr`, each keeping
/// `inflight` 32-byte messages in flight for `secs`; its line says how many came back.
fn echo_load(addr: SocketAddr, conns: usize, inflight: usize, secs: u64) -> ChildProc {
    ChildProc::start(&[
        "echo".into(),
        addr.to_string(),
        conns.to_string(),
        inflight.to_string(),
        secs.to_string(),
    ])
}

/// A direct tokio echo server with the same framing and no central queue.
async fn echo_baseline(conns: usize, inflight: usize, secs: u64) -> (f64, Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = echo_load(listener.local_addr().unwrap(), conns, inflight, secs);
    let acceptor = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            s.set_nodelay(true).unwrap();
            tokio::spawn(echo_frames(s));
        }
    });
    let cpu0 = cpu_time();
    let done: f64 = client.line().parse().unwrap();
    let cpu = cpu_time() - cpu0;
    acceptor.abort();
    (done / secs as f64, cpu)
}

/// The central-queue design written by hand, as a competent user would in an afternoon with
/// tokio-util and tokio's mpsc: per connection a reader task on `FramedRead` (u16 LE length:
/// the same bytes as TcpMessage for messages under 64 KiB) sending `(connection id, Bytes)`
/// into one bounded mpsc (1024); one central task looking the connection up in a `HashMap`
/// and sending the reply into that connection's own bounded mpsc (256), drained by a writer
/// task on `FramedWrite` with `recv_many` and a flush when the channel is empty; opens and
/// closes through the same central channel.
async fn echo_hand_central(conns: usize, inflight: usize, secs: u64) -> (f64, Duration) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = echo_load(listener.local_addr().unwrap(), conns, inflight, secs);
    let server = tokio::spawn(hand_central_server(listener));
    let cpu0 = cpu_time();
    let done: f64 = client.line().parse().unwrap();
    let cpu = cpu_time() - cpu0;
    server.abort();
    (done / secs as f64, cpu)
}

/// The hand-written central design's server (see [`echo_hand_central`]), until aborted.
async fn hand_central_server(listener: tokio::net::TcpListener) {
    use futures_util::{SinkExt, StreamExt};
    use tokio::sync::mpsc;
    use tokio_util::codec::{FramedRead, FramedWrite};

    enum Central {
        Open(u64, mpsc::Sender<Bytes>),
        Message(u64, Bytes),
        Closed(u64),
    }
    fn codec() -> LengthDelimitedCodec {
        LengthDelimitedCodec::builder()
            .length_field_length(2)
            .little_endian()
            .new_codec()
    }

    let (tx, mut rx) = mpsc::channel::<Central>(1024);
    let central = tokio::spawn(async move {
        let mut peers: std::collections::HashMap<u64, mpsc::Sender<Bytes>> = Default::default();
        while let Some(ev) = rx.recv().await {
            match ev {
                Central::Open(id, out) => {
                    peers.insert(id, out);
                }
                Central::Message(id, msg) => {
                    if let Some(out) = peers.get(&id) {
                        // A full queue: a slow peer, dropped from the reply (never waited on).
                        let _ = out.try_send(msg);
                    }
                }
                Central::Closed(id) => {
                    peers.remove(&id);
                }
            }
        }
    });
    let _central = AbortOnDrop(central);
    let mut next_id = 0u64;
    loop {
        let Ok((s, _)) = listener.accept().await else {
            return;
        };
        s.set_nodelay(true).unwrap();
        next_id += 1;
        let id = next_id;
        let (read, write) = s.into_split();
        let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(256);
        let tx = tx.clone();
        if tx.send(Central::Open(id, out_tx)).await.is_err() {
            return;
        }
        tokio::spawn(async move {
            let mut frames = FramedRead::new(read, codec());
            while let Some(Ok(frame)) = frames.next().await {
                if tx.send(Central::Message(id, frame.freeze())).await.is_err() {
                    return;
                }
            }
            let _ = tx.send(Central::Closed(id)).await;
        });
        tokio::spawn(async move {
            let mut sink = FramedWrite::new(write, codec());
            let mut batch = Vec::with_capacity(64);
            while out_rx.recv_many(&mut batch, 64).await > 0 {
                for msg in batch.drain(..) {
                    if sink.feed(msg).await.is_err() {
                        return;
                    }
                }
                if out_rx.is_empty() && SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Aborts a task when dropped (the hand-written server's central task, with its server).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The baseline echo of one connection: TcpMessage frames read and written back in
/// order, each read's answers in one write, with no queue between.
async fn echo_frames(mut s: tokio::net::TcpStream) {
    let mut codec = TcpMessageCodec::new();
    let mut buf = BytesMut::with_capacity(8192);
    let mut out = BytesMut::with_capacity(8192);
    loop {
        match s.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some(frame) = codec.decode_frame(&mut buf).unwrap() {
            codec.encode_message(&frame, &mut out).unwrap();
        }
        if s.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}

/// Each case runs connhandler and the baseline back to back, `rounds` times (3 in the full
/// run): the machine's speed drifts, so pairs run together are compared, and the median
/// pair's ratio is reported, with every round's ratio beside it.
/// One echo round's (rate, server CPU) for connhandler, the direct echo and the hand-written
/// central design.
type EchoRound = ((f64, Duration), (f64, Duration), (f64, Duration));

async fn bench_echo(quick: bool) {
    let (secs, rounds) = if quick { (1, 1) } else { (2, 3) };
    // For profiling one server at one load: `ECHO_ONLY=connhandler|direct|hand`,
    // `ECHO_LOAD=100x1`, `ECHO_SECS=10` (then run `perf` on this process, whose child is the
    // load generator).
    if let Ok(only) = std::env::var("ECHO_ONLY") {
        let load = std::env::var("ECHO_LOAD").unwrap_or_else(|_| "100x1".into());
        let (c, i) = load.split_once('x').expect("ECHO_LOAD is CONNSxINFLIGHT");
        let (conns, inflight): (usize, usize) = (c.parse().unwrap(), i.parse().unwrap());
        let secs: u64 = std::env::var("ECHO_SECS").map_or(10, |s| s.parse().unwrap());
        println!(
            "echo server pid {} ({only}, {conns} x {inflight}, {secs} s)",
            std::process::id()
        );
        let (rate, cpu) = match only.as_str() {
            "connhandler" => echo_connhandler(conns, inflight, secs).await,
            "direct" => echo_baseline(conns, inflight, secs).await,
            "hand" => echo_hand_central(conns, inflight, secs).await,
            other => panic!("ECHO_ONLY={other}: connhandler, direct or hand"),
        };
        println!(
            "{only}: {rate:.0} msg/s, server cpu {:.0} ns per message",
            cpu.as_nanos() as f64 / (rate * secs as f64)
        );
        return;
    }
    for conns in [1usize, 100, 1000] {
        for inflight in [1usize, 16] {
            // Each round: connhandler, the direct echo, the hand-written central design.
            let mut rounds_run = Vec::new();
            for _ in 0..rounds {
                let ours = echo_connhandler(conns, inflight, secs).await;
                let direct = echo_baseline(conns, inflight, secs).await;
                let hand = echo_hand_central(conns, inflight, secs).await;
                rounds_run.push((ours, direct, hand));
            }
            let per_msg =
                |(rate, cpu): (f64, Duration)| cpu.as_nanos() as f64 / (rate * secs as f64);
            for (vs, pick) in [
                ("direct tokio echo", 0usize),
                ("the central design written by hand (tokio-util, mpsc)", 1),
            ] {
                let base_of = |r: &EchoRound| {
                    if pick == 0 {
                        r.1
                    } else {
                        r.2
                    }
                };
                let ratio = |r: &EchoRound| r.0 .0 / base_of(r).0;
                let mut sorted: Vec<_> = rounds_run.clone();
                sorted.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
                let ratios: Vec<String> =
                    sorted.iter().map(|r| format!("{:.2}", ratio(r))).collect();
                let median = sorted[sorted.len() / 2];
                let (ours, base) = (median.0, base_of(&median));
                report(
                    &format!("echo, {conns} connections, {inflight} in flight each, vs {vs}"),
                    ours.0,
                    base.0,
                    "msg/s",
                );
                println!(
                    "  server cpu per message: connhandler {:.0} ns, baseline {:.0} ns; ratio in each round: {}",
                    per_msg(ours),
                    per_msg(base),
                    ratios.join(", ")
                );
            }
        }
    }
    // Derived 32-byte messages, decoded and encoded back: in place against cut out per frame.
    let (conns, inflight) = (100, 16);
    let mut pairs = Vec::new();
    for _ in 0..rounds {
        let lent = echo_as::<Ticks>(conns, inflight, secs, |m| m).await.0;
        let cut = echo_as::<CutTicks>(conns, inflight, secs, |m| m.0).await.0;
        pairs.push((lent, cut));
    }
    pairs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let (lent, cut) = pairs[pairs.len() / 2];
    report(
        &format!(
            "echo, {conns} connections, {inflight} in flight each, 32 B derived messages decoded in place, vs cut out as Bytes"
        ),
        lent,
        cut,
        "msg/s",
    );
}

/// Idle connections: the server runs in a child process of its own, so its memory is only
/// its own; another child holds the client sockets.
///
/// With `spoke`, each client sends one message first and the server's central task drops it:
/// connections that were used and went quiet, rather than ones that never said anything.
fn idle_memory(kind: &str, n: usize, spoke: bool) -> f64 {
    let mut server = ChildProc::start(&[
        "idle-server".into(),
        kind.into(),
        n.to_string(),
        spoke.to_string(),
    ]);
    let addr = server.line();
    let mut holder = match kind.strip_prefix("transport-") {
        Some(t) => {
            let ca = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pki-bench/ca.pem");
            ChildProc::start(&[
                "transport-hold".into(),
                t.into(),
                addr,
                ca.display().to_string(),
                n.to_string(),
            ])
        }
        None => ChildProc::start(&["hold".into(), addr, n.to_string(), spoke.to_string()]),
    };
    assert_eq!(holder.line(), "held");
    let per_conn: f64 = server.line().parse().unwrap();
    drop(holder);
    per_conn
}

fn bench_idle_memory(quick: bool) {
    let sizes: &[usize] = if quick { &[1000] } else { &[1000, 10_000] };
    for (n, spoke) in sizes.iter().map(|&n| (n, false)).chain([(1000, true)]) {
        let ours = idle_memory("connhandler", n, spoke);
        let base = idle_memory("baseline", n, spoke);
        let which = if spoke {
            ", each after one message"
        } else {
            ""
        };
        println!(
            "idle connections, {n}{which}: connhandler {:.0} B per connection, baseline {:.0} B, ratio {:.2}; above the baseline: {:.0} B",
            ours,
            base,
            ours / base.max(1.0),
            ours - base
        );
    }
}

async fn bench_broadcast() {
    const PEERS: usize = 1000;
    const ROUNDS: usize = 50;
    let msg = Bytes::from(vec![9u8; 100]);
    let mut results = Vec::new();
    for once in [true, false] {
        let (tx, mut central) = central::<Event<Raw>>(4096);
        let server = Incoming::<Raw>::builder("127.0.0.1:0")
            .queue_capacity(ROUNDS * 2)
            .listen(&tx)
            .await
            .unwrap();
        let mut sink = ChildProc::start(&[
            "sink".into(),
            server.local_addr().to_string(),
            PEERS.to_string(),
            ROUNDS.to_string(),
        ]);
        let mut connected = 0;
        while connected < PEERS {
            if let Some(Event::Connected(_)) = central.recv().await {
                connected += 1;
            }
        }
        assert_eq!(sink.line(), "ready");
        let peers = server.peers();
        let start = Instant::now();
        let mut enqueue = Duration::ZERO;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            if once {
                assert_eq!(server.broadcast(&msg).unwrap().sent, PEERS);
            } else {
                for p in &peers {
                    p.try_send(msg.clone()).unwrap();
                }
            }
            enqueue += t.elapsed();
            tokio::task::yield_now().await;
        }
        assert_eq!(sink.line(), "done");
        results.push((enqueue, start.elapsed()));
        server.shutdown().await;
    }
    let per_peer = |d: Duration| d.as_nanos() as f64 / (PEERS * ROUNDS) as f64;
    println!(
        "broadcast 100 B to {PEERS} peers: connhandler {:.0} ns per peer to queue ({:.0} ns per peer delivered), baseline (one send per peer) {:.0} ns ({:.0} ns), ratio {:.2}",
        per_peer(results[0].0),
        per_peer(results[0].1),
        per_peer(results[1].0),
        per_peer(results[1].1),
        per_peer(results[1].0) / per_peer(results[0].0),
    );
}

// ---------------------------------------------------------------------------------------
// Transports: TLS and WebSocket against plain TCP, connhandler on both ends

#[path = "../tests/common/certs.rs"]
mod certs;

/// A handler of one transport: `tcp`, `tls`, `ws` or `wss`.
fn transport_server(kind: &str, pki: &certs::Pki) -> connhandler::IncomingBuilder<Raw> {
    let mut b = Incoming::<Raw>::builder("127.0.0.1:0")
        .unprotected()
        .queue_capacity(64);
    if kind == "tls" || kind == "wss" {
        let (cert, key) = pki.server();
        b = b.tls(TlsServer::from_pem_files(cert, key).unwrap());
    }
    if kind.starts_with("ws") {
        b = b.websocket(WebSocket::new());
    }
    b
}

fn transport_client(kind: &str, addr: SocketAddr, ca: &str) -> connhandler::OutgoingBuilder<Raw> {
    let mut b = Outgoing::<Raw>::builder(addr).retry(connhandler::Retry::never());
    if kind == "tls" || kind == "wss" {
        b = b.tls(TlsClient::with_ca_file(ca).unwrap());
    }
    if kind.starts_with("ws") {
        b = b.websocket(WebSocket::new());
    }
    b
}

/// Echo over a transport: the server here, the clients (connhandler's outgoing handlers
/// over the same transport) in a child; messages per second.
async fn echo_over(kind: &str, pki: &certs::Pki, conns: usize, inflight: usize, secs: u64) -> f64 {
    let (tx, mut central) = central::<Event<Raw>>(8192);
    let server = transport_server(kind, pki).listen(&tx).await.unwrap();
    let mut client = ChildProc::start(&[
        "transport-echo".into(),
        kind.into(),
        server.local_addr().to_string(),
        pki.ca().display().to_string(),
        conns.to_string(),
        inflight.to_string(),
        secs.to_string(),
    ]);
    let task = tokio::spawn(async move {
        while let Some(ev) = central.recv().await {
            if let Event::Message(p, m) = ev {
                let _ = p.try_send(m);
            }
        }
    });
    let done: f64 = client.line().parse().unwrap();
    server.shutdown().await;
    drop(server);
    drop(tx);
    let _ = task.await;
    done / secs as f64
}

/// New connections per second a handler completes (its door included), from 16 clients
/// connecting, closing and connecting again in a child.
async fn connect_rate(kind: &str, pki: &certs::Pki, secs: u64) -> f64 {
    let (tx, mut central) = central::<Event<Raw>>(8192);
    let server = transport_server(kind, pki).listen(&tx).await.unwrap();
    let task = tokio::spawn(async move { while central.recv().await.is_some() {} });
    let mut client = ChildProc::start(&[
        "connect-loop".into(),
        kind.into(),
        server.local_addr().to_string(),
        pki.ca().display().to_string(),
        secs.to_string(),
    ]);
    let done: f64 = client.line().parse().unwrap();
    server.shutdown().await;
    drop(server);
    drop(tx);
    let _ = task.await;
    done / secs as f64
}

/// A WebSocket client's frames, masked (with a zero key, which leaves the payload as it
/// is): `payload` as one frame, or as one-byte fragments.
fn ws_frames(payload: &[u8], fragmented: bool, dst: &mut Vec<u8>) {
    let pieces: Vec<&[u8]> = if fragmented {
        payload.chunks(1).collect()
    } else {
        vec![payload]
    };
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = if i == 0 { 0x2 } else { 0x0 };
        let fin = if i == pieces.len() - 1 { 0x80 } else { 0 };
        dst.push(opcode | fin);
        match piece.len() {
            n if n < 126 => dst.push(0x80 | n as u8),
            n if n <= 0xffff => {
                dst.push(0x80 | 126);
                dst.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                dst.push(0x80 | 127);
                dst.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        dst.extend_from_slice(&[0, 0, 0, 0]);
        dst.extend_from_slice(piece);
    }
}

/// Server CPU time per MiB of payload received over WebSocket: `count` messages of `size`
/// bytes sent by a child, as one frame each or as one-byte fragments.
async fn ws_fragments_cpu(count: u64, size: usize, fragmented: bool) -> f64 {
    let (tx, mut central) = central::<Event<Raw>>(8192);
    let server = Incoming::<Raw>::builder("127.0.0.1:0")
        .unprotected()
        .websocket(WebSocket::new().max_fragments(size))
        .listen(&tx)
        .await
        .unwrap();
    let mut client = ChildProc::start(&[
        "ws-frames".into(),
        server.local_addr().to_string(),
        count.to_string(),
        size.to_string(),
        fragmented.to_string(),
    ]);
    let mut got = 0;
    let mut cpu = Duration::ZERO;
    while got < count {
        match central.recv().await {
            Some(Event::Connected(_)) => cpu = cpu_time(),
            Some(Event::Message(_, m)) => {
                assert_eq!(m.len(), size);
                got += 1;
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    let cpu = cpu_time() - cpu;
    drop(client.child.stdin.take());
    server.shutdown().await;
    cpu.as_secs_f64() * 1e3 / ((count * size as u64) as f64 / f64::from(1 << 20))
}

/// One-byte WebSocket fragments against whole messages: server CPU per MiB, put together
/// in linear time (the ratio stays put as messages grow).
async fn bench_fragments(quick: bool) {
    // Enough bytes for the CPU clock's 10 ms ticks: 32 MiB of payload in fragments (7 bytes
    // on the wire each), 1 GiB in whole messages (a quarter in a quick run).
    let (fragments, whole): (u64, u64) = if quick {
        (8 << 20, 256 << 20)
    } else {
        (32 << 20, 1 << 30)
    };
    for size in [1024usize, 65535] {
        let fragmented = ws_fragments_cpu(fragments / size as u64, size, true).await;
        let whole = ws_fragments_cpu(whole / size as u64, size, false).await;
        println!(
            "websocket, {size} B messages as one-byte fragments: server cpu {fragmented:.2} ms per MiB, as one frame {whole:.3} ms per MiB; ratio {:.0}",
            fragmented / whole.max(1e-3)
        );
    }
}

async fn bench_transports(quick: bool) {
    let pki = certs::pki("bench");
    let (secs, rounds) = if quick { (1, 1) } else { (2, 3) };
    for (conns, inflight) in [(1usize, 1usize), (100, 16)] {
        for kind in ["tls", "ws", "wss"] {
            let mut pairs = Vec::new();
            for _ in 0..rounds {
                let ours = echo_over(kind, &pki, conns, inflight, secs).await;
                let base = echo_over("tcp", &pki, conns, inflight, secs).await;
                pairs.push((ours, base));
            }
            pairs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
            let (ours, base) = pairs[pairs.len() / 2];
            report(
                &format!("echo over {kind}, {conns} connections, {inflight} in flight each, vs plain TCP"),
                ours,
                base,
                "msg/s",
            );
        }
    }
    for kind in ["tls", "ws"] {
        let ours = connect_rate(kind, &pki, secs).await;
        let base = connect_rate("tcp", &pki, secs).await;
        report(
            &format!(
                "new connections served per second over {kind} (handshake included), vs plain TCP"
            ),
            ours,
            base,
            "conn/s",
        );
    }
    let n = if quick { 300 } else { 1000 };
    let base = idle_memory("baseline", n, false);
    for kind in ["tcp", "tls", "ws"] {
        let ours = idle_memory(&format!("transport-{kind}"), n, false);
        println!(
            "idle connections over {kind}, {n}: connhandler {ours:.0} B per connection, bare accept loop {base:.0} B; above it: {:.0} B",
            ours - base
        );
    }
}

// ---------------------------------------------------------------------------------------
// Requests: PeerHandle::request against a hand-written send + match-the-reply

#[derive(Message, Clone, Debug)]
enum Ask {
    #[wire(id = 7, reply = Answer::Value)]
    Get(u32),
}

#[derive(Message, Clone, Debug)]
enum Answer {
    #[wire(id = 7)]
    Value(u32),
}

#[derive(Default)]
struct Asker;

impl Peer for Asker {
    type Recv = Answer;
    type Send = Ask;
    const NAME: &'static str = "asker";
}

enum AskEv {
    Link(Event<Asker>),
    Answered(usize, Result<Answer, RequestError>),
}

impl From<Event<Asker>> for AskEv {
    fn from(e: Event<Asker>) -> Self {
        AskEv::Link(e)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum AskWay {
    /// The central loop sends, keeps what each connection was asked, and matches each answer.
    ByHand,
    /// The central loop calls `request(..).post(..)` and gets the answer as its own event.
    Posted,
    /// A task per request in flight awaits `request(..)`.
    Awaited,
}

/// Round trips per second against an echo server in a child process (which answers in
/// order, as by-order pairing expects), counted for `secs` after a warm-up.
async fn ask(way: AskWay, conns: usize, inflight: usize, secs: u64) -> f64 {
    let mut server = ChildProc::start(&["echo-server".into()]);
    let addr: SocketAddr = server.line().parse().unwrap();
    let (tx, mut central) = central::<AskEv>(8192);
    let mut links = Vec::new();
    for _ in 0..conns {
        links.push(Outgoing::<Asker>::builder(addr).connect(&tx).await.unwrap());
    }
    let start = Instant::now() + Duration::from_millis(200);
    let until = tokio::time::Instant::from_std(start + Duration::from_secs(secs));
    let mut counted = 0u64;
    let mut count = |v: u32, want: u32| {
        assert_eq!(v, want, "an answer paired with the wrong request");
        if Instant::now() >= start {
            counted += 1;
        }
    };
    match way {
        AskWay::ByHand => {
            // What a program writes without `request`: per connection, what it asked, oldest
            // first, in a map by peer.
            let mut asked: std::collections::HashMap<
                connhandler::PeerId,
                std::collections::VecDeque<u32>,
            > = Default::default();
            for (_, peer) in &links {
                let q = asked.entry(peer.id()).or_default();
                for i in 0..inflight as u32 {
                    peer.send(Ask::Get(i)).unwrap();
                    q.push_back(i);
                }
            }
            while let Ok(Some(ev)) = tokio::time::timeout_at(until, central.recv()).await {
                if let AskEv::Link(Event::Message(peer, Answer::Value(v))) = ev {
                    let q = asked.get_mut(&peer.id()).unwrap();
                    let want = q.pop_front().unwrap();
                    count(v, want);
                    peer.send(Ask::Get(want + 1)).unwrap();
                    q.push_back(want + 1);
                }
            }
        }
        AskWay::Posted => {
            for (i, (_, peer)) in links.iter().enumerate() {
                for n in 0..inflight as u32 {
                    peer.request(Ask::Get(n))
                        .post(&tx, move |r| AskEv::Answered(i, r));
                }
            }
            while let Ok(Some(ev)) = tokio::time::timeout_at(until, central.recv()).await {
                if let AskEv::Answered(i, Ok(Answer::Value(v))) = ev {
                    count(v, v);
                    links[i]
                        .1
                        .request(Ask::Get(v + 1))
                        .post(&tx, move |r| AskEv::Answered(i, r));
                }
            }
        }
        AskWay::Awaited => {
            let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let mut tasks = Vec::new();
            for (_, peer) in &links {
                for n in 0..inflight as u32 {
                    let (peer, total) = (peer.clone(), total.clone());
                    tasks.push(tokio::spawn(async move {
                        let mut next = n;
                        while tokio::time::Instant::now() < until {
                            let Ok(Answer::Value(v)) = peer.request(Ask::Get(next)).await else {
                                return;
                            };
                            assert_eq!(v, next, "an answer paired with the wrong request");
                            if Instant::now() >= start {
                                total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            next += 1;
                        }
                    }));
                }
            }
            for t in tasks {
                t.await.unwrap();
            }
            counted = total.load(std::sync::atomic::Ordering::Relaxed);
        }
    }
    for (out, _) in links {
        out.shutdown().await;
    }
    drop(server);
    counted as f64 / secs as f64
}

/// Each case runs the hand-written loop and `request` back to back, `rounds` times, and
/// reports the median pair's ratio (as the echo benchmark does).
async fn bench_requests(quick: bool) {
    let (secs, rounds) = if quick { (1, 1) } else { (2, 3) };
    for (conns, inflight) in [(1usize, 1usize), (100, 1), (100, 16)] {
        for (way, what) in [
            (AskWay::Posted, "request(..).post(..) in the central loop"),
            (
                AskWay::Awaited,
                "request(..).await in a task per request in flight",
            ),
        ] {
            let mut pairs = Vec::new();
            for _ in 0..rounds {
                let ours = ask(way, conns, inflight, secs).await;
                let base = ask(AskWay::ByHand, conns, inflight, secs).await;
                pairs.push((ours, base));
            }
            pairs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
            let ratios: Vec<String> = pairs.iter().map(|p| format!("{:.2}", p.0 / p.1)).collect();
            let (ours, base) = pairs[pairs.len() / 2];
            report(
                &format!(
                    "requests, {conns} connections, {inflight} in flight each: {what}, vs send + match the reply by hand"
                ),
                ours,
                base,
                "round trips/s",
            );
            println!("  ratio in each round: {}", ratios.join(", "));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The bus: a message between two processes through nats-server, against a direct
// connhandler TCP link between the same two processes

#[path = "../tests/common/nats.rs"]
mod nats;
#[path = "../tests/common/python.rs"]
#[allow(dead_code)]
mod python;
#[path = "../tests/common/tools.rs"]
#[allow(dead_code)]
mod tools;

#[derive(Default)]
struct BusRaw;

impl Peer for BusRaw {
    type Recv = Bytes;
    type Send = Bytes;
    const NAME: &'static str = "bus";
}

/// Requests over TCP need a request type; 32 bytes either way, as on the bus.
#[derive(Message, Clone, Debug)]
enum Ping32 {
    #[wire(id = 7, reply = Pong32::Pong)]
    Ping([u8; 30]),
}

#[derive(Message, Clone, Debug)]
enum Pong32 {
    #[wire(id = 7)]
    Pong([u8; 30]),
}

#[derive(Default)]
struct Pinger;

impl Peer for Pinger {
    type Recv = Pong32;
    type Send = Ping32;
    const NAME: &'static str = "pinger";
}

/// The three ways a bus benchmark sends: connhandler's bus, the async-nats client it wraps
/// used directly (both ends), and a direct connhandler TCP link.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Bus,
    RawNats,
    Tcp,
}

impl Way {
    fn arg(self) -> &'static str {
        match self {
            Way::Bus => "bus",
            Way::RawNats => "raw",
            Way::Tcp => "tcp",
        }
    }
}

/// One way: `count` 32-byte messages from this process to the child, counted there;
/// messages per second from the first send to the child's last receipt.
async fn one_way(way: Way, url: &str, count: u64) -> f64 {
    let mut child = ChildProc::start(&[
        "bus-sink".into(),
        way.arg().into(),
        url.into(),
        count.to_string(),
    ]);
    let at = child.line();
    let payload = Bytes::from(vec![9u8; 32]);
    if way == Way::RawNats {
        // As a user of async-nats would write it: publish awaits room in the client's
        // command channel.
        let client = async_nats::connect(url).await.unwrap();
        for _ in 0..count {
            client
                .publish("bench.oneway", payload.clone())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
        let rate = sink_rate(&mut child, count);
        drop(client);
        rate
    } else if way == Way::Bus {
        let (tx, _central) = central::<connhandler::bus::BusEvent<BusRaw>>(64);
        let bus = connhandler::bus::Bus::<BusRaw>::builder([url])
            .max_message_size(64 * 1024)
            .connect(&tx)
            .await
            .unwrap();
        // As a task publishing a feed would: it waits for room in the bus's queue.
        for _ in 0..count {
            bus.publish_timeout("bench.oneway", &payload, Duration::from_secs(10))
                .await
                .unwrap();
        }
        let rate = sink_rate(&mut child, count);
        bus.shutdown(Duration::from_secs(1)).await;
        rate
    } else {
        let (tx, _central) = central::<Event<Raw>>(64);
        let (out, link) = Outgoing::<Raw>::builder(at.parse::<SocketAddr>().unwrap())
            .queue_capacity(4096)
            .connect(&tx)
            .await
            .unwrap();
        for _ in 0..count {
            link.send_timeout(payload.clone(), Duration::from_secs(10))
                .await
                .unwrap();
        }
        let rate = sink_rate(&mut child, count);
        out.shutdown().await;
        rate
    }
}

/// The sink's rate (messages from its first to its last), saying when some were lost.
fn sink_rate(child: &mut ChildProc, count: u64) -> f64 {
    let done = child.line();
    let mut parts = done.split_whitespace().skip(1);
    let got: u64 = parts.next().unwrap().parse().unwrap();
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    if got < count {
        println!(
            "  ({} of {count} messages arrived: the rest were dropped on the way)",
            got
        );
    }
    got as f64 / secs.max(1e-9)
}

/// Request/reply: `inflight` requests at a time, each awaited in a task, for `secs`;
/// round trips per second.
async fn ask_over(way: Way, url: &str, inflight: usize, secs: u64) -> f64 {
    let mut child = ChildProc::start(&["bus-answer".into(), way.arg().into(), url.into()]);
    let at = child.line();
    let until =
        tokio::time::Instant::now() + Duration::from_secs(secs) + Duration::from_millis(200);
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    if way == Way::RawNats {
        let client = async_nats::connect(url).await.unwrap();
        for _ in 0..inflight {
            let (client, total) = (client.clone(), total.clone());
            tasks.push(tokio::spawn(async move {
                let payload = Bytes::from(vec![9u8; 32]);
                while tokio::time::Instant::now() < until {
                    let answer = client.request("bench.ask", payload.clone()).await.unwrap();
                    assert_eq!(answer.payload.len(), 32);
                    if tokio::time::Instant::now() >= start {
                        total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    } else if way == Way::Bus {
        let (tx, _central) = central::<connhandler::bus::BusEvent<BusRaw>>(64);
        let bus = connhandler::bus::Bus::<BusRaw>::builder([url])
            .max_message_size(64 * 1024)
            .connect(&tx)
            .await
            .unwrap();
        for _ in 0..inflight {
            let (bus, total) = (bus.clone(), total.clone());
            tasks.push(tokio::spawn(async move {
                let payload = Bytes::from(vec![9u8; 32]);
                while tokio::time::Instant::now() < until {
                    let answer = bus.request("bench.ask", &payload).await.unwrap();
                    assert_eq!(answer.len(), 32);
                    if tokio::time::Instant::now() >= start {
                        total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        bus.shutdown(Duration::from_secs(1)).await;
    } else {
        let (tx, _central) = central::<Event<Pinger>>(64);
        let (out, link) = Outgoing::<Pinger>::builder(at.parse::<SocketAddr>().unwrap())
            .max_pending(inflight.max(1))
            .connect(&tx)
            .await
            .unwrap();
        for _ in 0..inflight {
            let (link, total) = (link.clone(), total.clone());
            tasks.push(tokio::spawn(async move {
                while tokio::time::Instant::now() < until {
                    let Pong32::Pong(b) = link.request(Ping32::Ping([9; 30])).await.unwrap();
                    assert_eq!(b[0], 9);
                    if tokio::time::Instant::now() >= start {
                        total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        out.shutdown().await;
    }
    drop(child);
    total.load(std::sync::atomic::Ordering::Relaxed) as f64 / secs as f64
}

async fn bench_bus(quick: bool) {
    let server = match std::panic::catch_unwind(nats::NatsServer::start) {
        Ok(s) => s,
        Err(_) => {
            println!("bus: skipped, nats-server not found (apt-get install nats-server)");
            return;
        }
    };
    let url = server.url();
    let (count, secs, rounds) = if quick {
        (200_000, 1, 1)
    } else {
        (1_000_000, 2, 3)
    };
    // Against the client it wraps (the target, 0.9x), then against a direct link
    // (what the broker's hop costs). The three take turns in every round.
    let (mut raw, mut tcp) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // `BUS_ONLY=bus` (or `raw`): one way alone, for a profiler.
        if let Ok(w) = std::env::var("BUS_ONLY") {
            let way = if w == "bus" { Way::Bus } else { Way::RawNats };
            let r = one_way(way, &url, count).await;
            println!("{w}: {r:.0}");
            continue;
        }
        let bus = one_way(Way::Bus, &url, count).await;
        raw.push((bus, one_way(Way::RawNats, &url, count).await));
        tcp.push((bus, one_way(Way::Tcp, &url, count).await));
    }
    if std::env::var_os("BUS_ONLY").is_some() {
        return;
    }
    report_pairs(
        "bus, one way, 32 B messages between two processes, connhandler's bus vs raw async-nats at both ends",
        raw,
        "msg/s",
    );
    report_pairs(
        "bus, one way, 32 B messages between two processes, through nats-server vs a direct connhandler TCP link",
        tcp,
        "msg/s",
    );
    for inflight in [1usize, 16] {
        let (mut raw, mut tcp) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let bus = ask_over(Way::Bus, &url, inflight, secs).await;
            raw.push((bus, ask_over(Way::RawNats, &url, inflight, secs).await));
            tcp.push((bus, ask_over(Way::Tcp, &url, inflight, secs).await));
        }
        report_pairs(
            &format!("bus, request/reply, {inflight} in flight, connhandler's bus vs raw async-nats at both ends"),
            raw,
            "round trips/s",
        );
        report_pairs(
            &format!("bus, request/reply, {inflight} in flight, through nats-server vs a connhandler TCP request"),
            tcp,
            "round trips/s",
        );
    }
}

/// The median pair's ratio, with each round's beside it.
fn report_pairs(name: &str, mut pairs: Vec<(f64, f64)>, unit: &str) {
    pairs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let ratios: Vec<String> = pairs.iter().map(|p| format!("{:.2}", p.0 / p.1)).collect();
    let (ours, base) = pairs[pairs.len() / 2];
    report(name, ours, base, unit);
    println!("  ratio in each round: {}", ratios.join(", "));
}

// ---------------------------------------------------------------------------------------
// The child processes

async fn child(args: Vec<String>) {
    match args[0].as_str() {
        "stream" => {
            let (addr, count, size): (SocketAddr, u64, usize) = (
                args[1].parse().unwrap(),
                args[2].parse().unwrap(),
                args[3].parse().unwrap(),
            );
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let one = frame_of(&vec![1u8; size]);
            let per_batch = (256 * 1024 / one.len()).max(1);
            let batch: Vec<u8> = one.repeat(per_batch);
            let mut left = count;
            while left > 0 {
                let n = left.min(per_batch as u64) as usize;
                s.write_all(&batch[..n * one.len()]).await.unwrap();
                left -= n as u64;
            }
            // Wait for the server to close.
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
            println!("done");
        }
        "echo" => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let (conns, inflight, secs): (usize, usize, u64) = (
                args[2].parse().unwrap(),
                args[3].parse().unwrap(),
                args[4].parse().unwrap(),
            );
            let until = Instant::now() + Duration::from_secs(secs) + Duration::from_millis(200);
            let msg = frame_of(&[1u8; 32]);
            let mut tasks = Vec::new();
            let mut streams = Vec::new();
            for _ in 0..conns {
                let s = tokio::net::TcpStream::connect(addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                streams.push(s);
            }
            // Warm-up excluded: counting starts once every connection is up.
            let start_count = Instant::now() + Duration::from_millis(200);
            for mut s in streams {
                let msg = msg.clone();
                tasks.push(tokio::spawn(async move {
                    let initial = msg.repeat(inflight);
                    s.write_all(&initial).await.unwrap();
                    let mut buf = BytesMut::with_capacity(8192);
                    let mut counted = 0u64;
                    while Instant::now() < until {
                        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            break;
                        }
                        let n = count_frames(&mut buf);
                        if Instant::now() >= start_count {
                            counted += n;
                        }
                        if n > 0 {
                            s.write_all(&msg.repeat(n as usize)).await.unwrap();
                        }
                    }
                    counted
                }));
            }
            let mut total = 0u64;
            for t in tasks {
                total += t.await.unwrap();
            }
            // Counted over `secs` seconds (from start_count to until).
            println!("{total}");
        }
        "hold" => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let n: usize = args[2].parse().unwrap();
            let spoke = args[3] == "true";
            let msg = frame_of(&[5u8; 32]);
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                if spoke {
                    s.write_all(&msg).await.unwrap();
                }
                held.push(s);
            }
            println!("held");
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            drop(held);
        }
        "idle-server" => {
            let n: usize = args[2].parse().unwrap();
            let spoke = args[3] == "true";
            let before;
            if let Some(kind) = args[1].strip_prefix("transport-") {
                let pki = certs::Pki {
                    dir: std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pki-bench"),
                };
                let (tx, mut central) = central::<Event<Raw>>(n * 2 + 16);
                // The defaults, protection on, but for the per-address cap and connect rate
                // (one address makes every connection here).
                let mut b = Incoming::<Raw>::builder("127.0.0.1:0")
                    .max_connections_per_ip(None)
                    .connect_rate_per_ip(None);
                if kind == "tls" {
                    let (cert, key) = pki.server();
                    b = b.tls(TlsServer::from_pem_files(cert, key).unwrap());
                }
                if kind == "ws" {
                    b = b.websocket(WebSocket::new());
                }
                let server = b.listen(&tx).await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                before = rss_kib();
                println!("{}", server.local_addr());
                std::io::stdout().flush().unwrap();
                let mut peers = Vec::with_capacity(n);
                while peers.len() < n {
                    if let Some(Event::Connected(p)) = central.recv().await {
                        peers.push(p);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let per = (rss_kib() - before) as f64 * 1024.0 / n as f64;
                println!("{per}");
                std::future::pending::<()>().await;
            } else if args[1] == "connhandler" {
                let (tx, mut central) = central::<Event<Raw>>(1024);
                // The defaults, protection on (time-outs, read budget), except the two that
                // a load test from one address lifts: the per-address cap and connect rate.
                let server = Incoming::<Raw>::builder("127.0.0.1:0")
                    .max_connections_per_ip(None)
                    .connect_rate_per_ip(None)
                    .listen(&tx)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                before = rss_kib();
                println!("{}", server.local_addr());
                let mut peers = Vec::with_capacity(n);
                let mut messages = 0;
                while peers.len() < n || (spoke && messages < n) {
                    match central.recv().await {
                        Some(Event::Connected(p)) => peers.push(p),
                        Some(Event::Message(..)) => messages += 1,
                        _ => {}
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let per = (rss_kib() - before) as f64 * 1024.0 / n as f64;
                println!("{per}");
                std::future::pending::<()>().await;
            } else {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                before = rss_kib();
                println!("{}", listener.local_addr().unwrap());
                let mut held = Vec::with_capacity(n);
                while held.len() < n {
                    held.push(listener.accept().await.unwrap().0);
                }
                if spoke {
                    let mut msg = [0u8; 34];
                    for s in &mut held {
                        s.read_exact(&mut msg).await.unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                let per = (rss_kib() - before) as f64 * 1024.0 / n as f64;
                println!("{per}");
                std::future::pending::<()>().await;
            }
        }
        "sink" => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let (n, rounds): (usize, u64) = (args[2].parse().unwrap(), args[3].parse().unwrap());
            let mut streams = Vec::with_capacity(n);
            for _ in 0..n {
                streams.push(tokio::net::TcpStream::connect(addr).await.unwrap());
            }
            println!("ready");
            std::io::stdout().flush().unwrap();
            let mut tasks = Vec::new();
            for mut s in streams {
                tasks.push(tokio::spawn(async move {
                    let mut buf = BytesMut::with_capacity(8192);
                    let mut got = 0;
                    while got < rounds {
                        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            break;
                        }
                        got += count_frames(&mut buf);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            println!("done");
        }
        "ws-frames" => {
            let addr: SocketAddr = args[1].parse().unwrap();
            let (count, size): (u64, usize) = (args[2].parse().unwrap(), args[3].parse().unwrap());
            let fragmented = args[4] == "true";
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .await
            .unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(s.read_u8().await.unwrap());
            }
            let mut wire = Vec::new();
            ws_frames(&vec![5u8; size], fragmented, &mut wire);
            for _ in 0..count {
                s.write_all(&wire).await.unwrap();
            }
            // Until the parent is done (it closes our stdin).
            let mut sink = [0u8; 64];
            let _ = tokio::io::stdin().read(&mut sink).await;
        }
        "transport-echo" => {
            let (kind, addr, ca) = (args[1].as_str(), args[2].parse().unwrap(), args[3].as_str());
            let (conns, inflight, secs): (usize, usize, u64) = (
                args[4].parse().unwrap(),
                args[5].parse().unwrap(),
                args[6].parse().unwrap(),
            );
            let (tx, mut central) = central::<Event<Raw>>(8192);
            let mut links = Vec::new();
            for _ in 0..conns {
                links.push(transport_client(kind, addr, ca).connect(&tx).await.unwrap());
            }
            let msg = Bytes::from(vec![3u8; 32]);
            for (_, peer) in &links {
                for _ in 0..inflight {
                    peer.send(msg.clone()).unwrap();
                }
            }
            let start = Instant::now() + Duration::from_millis(200);
            let until = start + Duration::from_secs(secs);
            let mut counted = 0u64;
            while Instant::now() < until {
                if let Ok(Some(Event::Message(p, m))) =
                    tokio::time::timeout(Duration::from_millis(100), central.recv()).await
                {
                    if Instant::now() >= start {
                        counted += 1;
                    }
                    let _ = p.send(m);
                }
            }
            println!("{counted}");
        }
        "connect-loop" => {
            let (kind, addr, ca) = (args[1].clone(), args[2].parse().unwrap(), args[3].clone());
            let secs: u64 = args[4].parse().unwrap();
            let until = Instant::now() + Duration::from_secs(secs);
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let (kind, ca) = (kind.clone(), ca.clone());
                tasks.push(tokio::spawn(async move {
                    let (tx, _central) = central::<Event<Raw>>(64);
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let (out, _peer) = transport_client(&kind, addr, &ca)
                            .connect(&tx)
                            .await
                            .unwrap();
                        out.shutdown().await;
                        n += 1;
                    }
                    n
                }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            println!("{total}");
        }
        "transport-hold" => {
            let (kind, addr, ca) = (args[1].as_str(), args[2].parse().unwrap(), args[3].as_str());
            let n: usize = args[4].parse().unwrap();
            let (tx, _central) = central::<Event<Raw>>(n * 2 + 16);
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                held.push(transport_client(kind, addr, ca).connect(&tx).await.unwrap());
            }
            println!("held");
            std::io::stdout().flush().unwrap();
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            drop(held);
        }
        "hand-server" => {
            // The hand-written central design as a process of its own, for an outside load
            // generator (`--child echo ADDR C I SECS`).
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            std::io::stdout().flush().unwrap();
            hand_central_server(listener).await;
        }
        "echo-server" => {
            // A plain tokio echo server of TcpMessage frames: it answers in order.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            std::io::stdout().flush().unwrap();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                tokio::spawn(echo_frames(s));
            }
        }
        "bus-sink" => {
            // Counts until `count` came or nothing came for a second (a server that drops
            // for a slow consumer); prints what came, and the time from first to last.
            let (kind, url, count): (&str, &str, u64) =
                (args[1].as_str(), args[2].as_str(), args[3].parse().unwrap());
            let (mut got, mut first, mut last) = (0u64, None, Instant::now());
            let mut note = |got: &mut u64| {
                *got += 1;
                last = Instant::now();
                first.get_or_insert(last);
            };
            if kind == "raw" {
                use futures_util::StreamExt;
                // As much room as the bus's sink has (256 MiB of 32-byte messages is more
                // than a run sends).
                let client = async_nats::ConnectOptions::new()
                    .subscription_capacity(1 << 21)
                    .connect(url)
                    .await
                    .unwrap();
                let mut sub = client.subscribe("bench.oneway").await.unwrap();
                println!("ready");
                std::io::stdout().flush().unwrap();
                while got < count {
                    match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
                        Ok(Some(_)) => note(&mut got),
                        _ => break,
                    }
                }
            } else if kind == "bus" {
                let (tx, mut central) = central::<connhandler::bus::BusEvent<BusRaw>>(8192);
                // As many messages held in the client as the raw sink holds (2 Mi, counted
                // as 64 KiB each: the bound the server sets).
                let bus = connhandler::bus::Bus::<BusRaw>::builder([url])
                    .max_message_size(64 * 1024)
                    .subscription_bytes((64 * 1024) << 21)
                    .connect(&tx)
                    .await
                    .unwrap();
                bus.subscribe("bench.oneway").await.unwrap();
                println!("ready");
                std::io::stdout().flush().unwrap();
                while got < count {
                    match tokio::time::timeout(Duration::from_secs(1), central.recv()).await {
                        Ok(Some(connhandler::bus::BusEvent::Message(_))) => note(&mut got),
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            } else {
                let (tx, mut central) = central::<Event<Raw>>(8192);
                let server = Incoming::<Raw>::builder("127.0.0.1:0")
                    .unprotected()
                    .listen(&tx)
                    .await
                    .unwrap();
                println!("{}", server.local_addr());
                std::io::stdout().flush().unwrap();
                while got < count {
                    match tokio::time::timeout(Duration::from_secs(1), central.recv()).await {
                        Ok(Some(Event::Message(..))) => note(&mut got),
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
            let took = first.map_or(Duration::ZERO, |f| last - f);
            println!("done {got} {}", took.as_secs_f64());
        }
        "bus-answer" => {
            let (kind, url) = (args[1].as_str(), args[2].as_str());
            if kind == "raw" {
                use futures_util::StreamExt;
                let client = async_nats::connect(url).await.unwrap();
                let mut sub = client.subscribe("bench.ask").await.unwrap();
                println!("ready");
                std::io::stdout().flush().unwrap();
                while let Some(m) = sub.next().await {
                    if let Some(to) = m.reply {
                        let _ = client.publish(to, m.payload).await;
                    }
                }
            } else if kind == "bus" {
                let (tx, mut central) = central::<connhandler::bus::BusEvent<BusRaw>>(8192);
                let bus = connhandler::bus::Bus::<BusRaw>::builder([url])
                    .max_message_size(64 * 1024)
                    .connect(&tx)
                    .await
                    .unwrap();
                bus.subscribe("bench.ask").await.unwrap();
                println!("ready");
                std::io::stdout().flush().unwrap();
                while let Some(ev) = central.recv().await {
                    if let connhandler::bus::BusEvent::Message(m) = ev {
                        if let Some(to) = &m.reply {
                            let _ = bus.publish(to, &m.msg);
                        }
                    }
                }
            } else {
                let (tx, mut central) = central::<Event<Raw>>(8192);
                let server = Incoming::<Raw>::builder("127.0.0.1:0")
                    .unprotected()
                    .listen(&tx)
                    .await
                    .unwrap();
                println!("{}", server.local_addr());
                std::io::stdout().flush().unwrap();
                while let Some(ev) = central.recv().await {
                    if let Event::Message(p, m) = ev {
                        let _ = p.send(m);
                    }
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
    std::io::stdout().flush().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if args.first().map(String::as_str) == Some("--child") {
        rt.block_on(child(args[1..].to_vec()));
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    let only: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && *a != "quick")
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    let budget = Duration::from_millis(if quick { 300 } else { 1500 });
    println!(
        "connhandler benchmarks ({} run, {} cores)",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if run("codecs") {
        bench_codecs(budget);
    }
    if run("framing") {
        bench_framing(budget);
    }
    if run("streaming") {
        rt.block_on(bench_streaming(quick));
    }
    if run("echo") {
        rt.block_on(bench_echo(quick));
    }
    if run("memory") {
        bench_idle_memory(quick);
    }
    if run("broadcast") {
        rt.block_on(bench_broadcast());
    }
    if run("transports") {
        rt.block_on(bench_transports(quick));
    }
    if run("fragments") {
        rt.block_on(bench_fragments(quick));
    }
    if run("requests") {
        rt.block_on(bench_requests(quick));
    }
    if run("bus") {
        rt.block_on(bench_bus(quick));
    }
    if run("python") {
        bench_python(budget);
    }
    if run("typescript") {
        bench_typescript(budget);
    }
}

// ---------------------------------------------------------------------------------------
// The generated TypeScript codec (its JavaScript in Node) against hand-written `DataView`

/// Runs `benches/typescript_codec.mjs` (Node) on the JavaScript module generated for
/// [`PyShapes`]; each line it prints is one comparison: generated vs hand-written.
fn bench_typescript(budget: Duration) {
    use connhandler::schema::{typescript, FramingSpec, Protocol};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-typescript");
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("shapes.mjs");
    let protocol = Protocol::of::<PyBench>(FramingSpec::tcp_message());
    std::fs::write(&module, typescript::generate(&protocol).js).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/typescript_codec.mjs");
    let out = match std::process::Command::new("node")
        .arg(script)
        .arg(&module)
        .arg(budget.as_secs_f64().to_string())
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!(
            "benches/typescript_codec.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("node (for the generated TypeScript codec's bench): {e}"),
    };
    println!(
        "generated TypeScript (its JavaScript in Node) vs hand-written DataView code, in msg/s:"
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split('\t');
        let (Some(name), Some(ours), Some(hand)) = (parts.next(), parts.next(), parts.next())
        else {
            println!("  {line}");
            continue;
        };
        report(
            &format!("typescript {name}, generated vs hand-written"),
            ours.parse().unwrap(),
            hand.parse().unwrap(),
            "msg/s",
        );
    }
}

// ---------------------------------------------------------------------------------------
// The generated Python codec against hand-written `struct` code

/// The codec bench's small, chat and batch shapes in one protocol (the same bytes: u16
/// ids 1, 2 and 4), for the generated Python module.
#[derive(Message, Debug)]
enum PyShapes {
    #[wire(id = 1)]
    Pos { id: u32, x: i32, y: i32, z: i32 },
    #[wire(id = 2)]
    Say { from: String, text: String },
    #[wire(id = 4)]
    Positions(Vec<Position>),
}

#[derive(connhandler::Peer, Default)]
#[peer(recv = PyShapes, send = PyShapes, name = "shapes")]
struct PyBench;

/// Runs `benches/python_codec.py` (CPython, timeit) on the module generated for
/// [`PyShapes`]; each line it prints is one comparison: generated vs hand-written.
fn bench_python(budget: Duration) {
    use connhandler::schema::{python, FramingSpec, Protocol};
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-python");
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("shapes.py");
    let protocol = Protocol::of::<PyBench>(FramingSpec::tcp_message());
    std::fs::write(&module, python::generate(&protocol)).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python_codec.py");
    let out = match std::process::Command::new("python3")
        .arg(script)
        .arg(&module)
        .arg(budget.as_secs_f64().to_string())
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!(
            "benches/python_codec.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3 (for the generated Python codec's bench): {e}"),
    };
    println!("generated Python (CPython) vs hand-written struct code, in msg/s:");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `NAME<TAB>GENERATED<TAB>HAND`
        let mut parts = line.split('\t');
        let (Some(name), Some(ours), Some(hand)) = (parts.next(), parts.next(), parts.next())
        else {
            println!("  {line}");
            continue;
        };
        report(
            &format!("python {name}, generated vs hand-written"),
            ours.parse().unwrap(),
            hand.parse().unwrap(),
            "msg/s",
        );
    }
}
