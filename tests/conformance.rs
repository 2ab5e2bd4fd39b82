//! The cross-language conformance harness: a protocol with every field kind, its generated
//! peers run in their own runtimes (Python here: CPython, standard library only), values
//! made on each side decoded and re-encoded on the other byte for byte, and bad input raising
//! the generated decode error, never another exception or a wrong value.
//!
//! A language plugs in as a [`Runtime`]: a process that answers `rt HEX` (decode, re-encode)
//! and `mk SEED` (a value of its own making, encoded), one line each.

mod common;

use std::{
    io::Write,
    process::{Child, ChildStdin, Command, Stdio},
    time::Duration,
};

use bytes::{Bytes, BytesMut};
use connhandler::{
    schema::{keep_generated, lock, python, FramingSpec, Protocol},
    Decode, Encode, Message, Peer,
};
use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};

/// A field codec of the program's own: a u16, high byte first. Opaque to the protocol
/// document; the generated peer is given it as a hook.
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

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Inner {
    pub a: u16,
    pub b: String,
}

#[derive(Message, Debug, Clone, PartialEq)]
#[wire(endian = "big", len = u8)]
pub enum Nested {
    #[wire(id = 1)]
    One(u8),
    #[wire(id = 2)]
    Two { x: i64, inner: Inner },
}

#[derive(Message, Debug, Clone, PartialEq)]
#[wire(json, id = 0x4a53)]
pub struct Profile {
    pub name: String,
    pub level: u32,
    pub tags: Vec<String>,
}

/// Every field kind the derive supports.
#[derive(Message, Debug, Clone, PartialEq)]
#[wire(id_type = u8)]
pub enum Every {
    #[wire(id = 1)]
    Ints {
        a: u8,
        b: i8,
        c: u16,
        d: i16,
        e: u32,
        f: i32,
        g: u64,
        h: i64,
        i: u128,
        j: i128,
    },
    #[wire(id = 2)]
    Floats {
        a: f32,
        b: f64,
        #[wire(endian = "big")]
        c: f32,
        #[wire(endian = "big")]
        d: u32,
    },
    #[wire(id = 3)]
    Texts {
        s: String,
        #[wire(len = u32)]
        long: String,
        b: Bytes,
        v: Vec<u8>,
        flag: bool,
    },
    #[wire(id = 4)]
    Seqs {
        items: Vec<Inner>,
        #[wire(len = u8)]
        small: Vec<u16>,
        opt: Option<Inner>,
        none: Option<u32>,
        arr: [i16; 3],
        four: [u8; 4],
        pair: (u8, String),
        unit: (),
    },
    #[wire(id = 5)]
    Nest(Nested, Vec<Nested>),
    #[wire(id = 6)]
    Rest(u32, #[wire(rest)] String),
    #[wire(id = 7)]
    RestBytes(#[wire(rest)] Vec<u8>),
    #[wire(id = 8)]
    Empty,
    #[wire(id = 9)]
    Skipped {
        kept: u32,
        #[wire(skip)]
        local: u64,
    },
    #[wire(id = 10)]
    Json(Profile),
    #[wire(id = 11)]
    Hooked {
        #[wire(with = be16)]
        mark: u16,
        after: u8,
    },
    /// A version handshake's hello that says the messages hash.
    #[wire(id = 12, hello)]
    Hello {
        #[wire(version)]
        version: String,
        #[wire(protocol)]
        protocol: u64,
    },
    #[wire(catch_all)]
    Unknown(u8, Bytes),
}

#[derive(Peer, Default)]
#[peer(recv = Every, send = Every, name = "conformance")]
struct Conformance;

fn protocol() -> Protocol {
    Protocol::of::<Conformance>(FramingSpec::tcp_message())
}

/// The generated module, kept in step with the protocol in the source tree.
fn generated_python() -> std::path::PathBuf {
    static KEPT: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    KEPT.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/interop/generated/conformance.py");
        keep_generated(&path, &python::generate(&protocol())).map(|()| path)
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,12}",
        "\\PC{0,8}",
        Just("héllo <wörld> ✓".to_owned())
    ]
}

fn inner() -> impl Strategy<Value = Inner> {
    (any::<u16>(), text()).prop_map(|(a, b)| Inner { a, b })
}

fn nested() -> impl Strategy<Value = Nested> {
    prop_oneof![
        any::<u8>().prop_map(Nested::One),
        (any::<i64>(), inner()).prop_map(|(x, inner)| Nested::Two { x, inner }),
    ]
}

fn finite32() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("finite", |f| f.is_finite())
}

fn finite64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

fn every() -> impl Strategy<Value = Every> {
    prop_oneof![
        (
            (
                any::<u8>(),
                any::<i8>(),
                any::<u16>(),
                any::<i16>(),
                any::<u32>()
            ),
            (
                any::<i32>(),
                any::<u64>(),
                any::<i64>(),
                any::<u128>(),
                any::<i128>()
            ),
        )
            .prop_map(|((a, b, c, d, e), (f, g, h, i, j))| Every::Ints {
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                i,
                j
            }),
        (finite32(), finite64(), finite32(), any::<u32>()).prop_map(|(a, b, c, d)| Every::Floats {
            a,
            b,
            c,
            d
        }),
        (
            text(),
            text(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<bool>()
        )
            .prop_map(|(s, long, b, v, flag)| Every::Texts {
                s,
                long,
                b: Bytes::from(b),
                v,
                flag
            }),
        (
            proptest::collection::vec(inner(), 0..4),
            proptest::collection::vec(any::<u16>(), 0..6),
            proptest::option::of(inner()),
            any::<[i16; 3]>(),
            any::<[u8; 4]>(),
            (any::<u8>(), text()),
        )
            .prop_map(|(items, small, opt, arr, four, pair)| Every::Seqs {
                items,
                small,
                opt,
                none: None,
                arr,
                four,
                pair,
                unit: (),
            }),
        (nested(), proptest::collection::vec(nested(), 0..3)).prop_map(|(a, b)| Every::Nest(a, b)),
        (any::<u32>(), text()).prop_map(|(n, s)| Every::Rest(n, s)),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Every::RestBytes),
        Just(Every::Empty),
        any::<u32>().prop_map(|kept| Every::Skipped { kept, local: 0 }),
        (
            "[a-z ]{0,10}",
            any::<u32>(),
            proptest::collection::vec("[a-z]{0,5}", 0..3)
        )
            .prop_map(|(name, level, tags)| Every::Json(Profile { name, level, tags })),
        (any::<u16>(), any::<u8>()).prop_map(|(mark, after)| Every::Hooked { mark, after }),
        (text(), any::<u64>()).prop_map(|(version, protocol)| Every::Hello { version, protocol }),
        (13u8..=255, proptest::collection::vec(any::<u8>(), 0..10))
            .prop_map(|(id, body)| Every::Unknown(id, Bytes::from(body))),
    ]
}

fn encode(v: &Every) -> Vec<u8> {
    let mut b = BytesMut::new();
    v.encode(&mut b);
    b.to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A generated peer running in its own runtime, answering one line per request.
struct Runtime {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: common::python::Lines,
}

impl Runtime {
    fn python() -> Runtime {
        let module = generated_python();
        let mut child = Command::new(common::python::python3())
            .arg(common::python::script("conformance_peer.py"))
            .arg(&module)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python conformance peer");
        let stdin = child.stdin.take().unwrap();
        let lines = common::python::Lines::of(child.stdout.take().unwrap(), "the Python peer");
        Runtime {
            name: "Python",
            child,
            stdin,
            lines,
        }
    }

    fn ask(&mut self, request: &str) -> String {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        self.lines
            .next_within(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("the {} peer ended", self.name))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn values_made_in_rust_come_back_from_python_byte_for_byte() {
    let peer = std::cell::RefCell::new(Runtime::python());
    let mut runner = TestRunner::new(ProptestConfig::with_cases(400));
    runner
        .run(&every(), |value| {
            let wire = encode(&value);
            let mut peer = peer.borrow_mut();
            let answer = peer.ask(&format!("rt {}", hex(&wire)));
            prop_assert_eq!(
                answer,
                format!("ok {}", hex(&wire)),
                "{:?} through {}",
                value,
                peer.name
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn values_made_in_python_come_back_from_rust_byte_for_byte() {
    let mut peer = Runtime::python();
    for seed in 0..400 {
        let answer = peer.ask(&format!("mk {seed}"));
        let wire = unhex(
            answer
                .strip_prefix("ok ")
                .unwrap_or_else(|| panic!("seed {seed}: {answer}")),
        );
        let value = Every::decode(Bytes::from(wire.clone()))
            .unwrap_or_else(|e| panic!("seed {seed}: Rust cannot read {}: {e}", hex(&wire)));
        assert_eq!(encode(&value), wire, "seed {seed}: {value:?}");
    }
}

/// The conformance protocol is locked as a user's would be: a change that breaks peers
/// built from the committed document fails here, naming the field and the direction.
#[test]
fn the_protocol_is_locked() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/generated/conformance.lock.json");
    let changes = lock::check(&protocol(), &path).unwrap_or_else(|e| panic!("{e}"));
    for change in changes {
        println!("{change}");
    }
}

/// Bad input: a decode error on both sides, the generated one in Python, never another
/// exception or a value.
#[test]
fn bad_input_raises_the_generated_decode_error() {
    let mut peer = Runtime::python();
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Every strict prefix of valid messages of every variant (truncated frames), where the
    // variant has no rest field (whose prefixes are valid messages).
    let mut runner = TestRunner::deterministic();
    for _ in 0..60 {
        let value = every().new_tree(&mut runner).unwrap().current();
        if matches!(
            value,
            Every::Rest(..) | Every::RestBytes(..) | Every::Unknown(..) | Every::Json(..)
        ) {
            continue;
        }
        let wire = encode(&value);
        for cut in 0..wire.len() {
            cases.push((format!("{value:?} cut at {cut}"), wire[..cut].to_vec()));
        }
    }
    // Bad UTF-8, a bad bool, an over-long length, an option tag that is neither 0 nor 1,
    // trailing bytes, a JSON body that is not the message's.
    cases.push((
        "bad UTF-8".into(),
        vec![3, 2, 0, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    cases.push(("bad bool".into(), vec![3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]));
    cases.push(("over-long length".into(), vec![3, 0xff, 0xff, b'a', b'b']));
    cases.push(("over-long count".into(), vec![4, 0xff, 0xff]));
    cases.push(("bad option tag".into(), vec![4, 0, 0, 0, 2]));
    cases.push(("trailing bytes".into(), vec![8, 0]));
    cases.push(("JSON of another shape".into(), {
        let mut v = vec![10, 0x53, 0x4a];
        v.extend_from_slice(br#"{"name":1}"#);
        v
    }));
    cases.push(("not JSON".into(), vec![10, 0x53, 0x4a, b'{']));
    cases.push(("JSON of the wrong types".into(), {
        let mut v = vec![10, 0x53, 0x4a];
        v.extend_from_slice(br#"{"name":1,"level":-1,"tags":"x"}"#);
        v
    }));
    for (what, wire) in cases {
        assert!(
            Every::decode(Bytes::from(wire.clone())).is_err(),
            "Rust read {what} ({})",
            hex(&wire)
        );
        let answer = peer.ask(&format!("rt {}", hex(&wire)));
        assert!(
            answer.starts_with("err "),
            "{what}: {} from the {} peer: {answer}",
            hex(&wire),
            peer.name
        );
    }
}

/// A client written on the generated module alone (its asyncio `Connection`) talks to a
/// connhandler server over TcpMessage: a version handshake whose hellos say the messages
/// hash (the module's constant, the same as the Rust side's), then messages of several
/// chunks, and exact multiples of the chunk size both as connhandler writes them and as the
/// reference writer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_asyncio_client_talks_to_a_connhandler_server() {
    // Texts' header: id 1 + s's prefix 2 + long 4 + b 2 + v 2 + flag 1 = 12 bytes.
    let sizes = [
        1usize,
        1000,
        65535 - 12,
        2 * 65535 - 12,
        2 * 65535 - 11,
        200_000,
    ];
    let ours = protocol().messages_hash();
    // A server that ends exact multiples as connhandler does, and one that writes them as
    // the reference writer does (a full final chunk marked 0).
    for explicit in [true, false] {
        let (stdout, reason) = generated_client_against(
            connhandler::codec::TcpMessageCodec::builder()
                .explicit_final_chunk(explicit)
                .new_codec()
                .unwrap(),
            "ours",
            &sizes,
        )
        .await;
        let mut expected = vec![format!("hello {ours}")];
        expected.extend(sizes.iter().map(|s| format!("ok {s}")));
        assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
        assert!(reason.is_none(), "{reason:?}");
    }
}

/// A generated client whose hello says another messages hash under the same version is
/// refused at the door, and the reason names both hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_of_other_messages_is_refused_at_the_door() {
    let ours = protocol().messages_hash();
    let other = "0123456789abcdef";
    let (stdout, reason) = generated_client_against(
        connhandler::codec::TcpMessageCodec::builder()
            .new_codec()
            .unwrap(),
        other,
        &[],
    )
    .await;
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [format!("hello {ours}").as_str(), "closed"]
    );
    match reason {
        Some(connhandler::DisconnectReason::ProtocolMismatch {
            version,
            ours: o,
            theirs,
        }) => assert_eq!(
            (version.as_str(), o, theirs.as_str()),
            ("1.0.0", ours, other)
        ),
        other => panic!("{other:?}"),
    }
}

/// Runs the generated client against an echo server with a version handshake; its output,
/// and the reason its connection ended on the server (`None`: it ended by the client's
/// close).
async fn generated_client_against(
    codec: connhandler::codec::TcpMessageCodec,
    hash: &str,
    sizes: &[usize],
) -> (String, Option<connhandler::DisconnectReason>) {
    use connhandler::{
        central,
        talk::{Handshake, Version},
        DisconnectReason, Event, Incoming,
    };
    let module = generated_python();
    let (tx, mut events) = central::<Event<Conformance>>(64);
    let server = Incoming::<Conformance>::builder("127.0.0.1:0")
        .framing(codec)
        .handshake(Handshake::new(Version::new(1, 0, 0)))
        .listen(&tx)
        .await
        .unwrap();
    let ended = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                Event::Message(peer, msg) => {
                    let _ = peer.send(msg);
                }
                Event::Disconnected(_, d) => {
                    return match d.reason {
                        DisconnectReason::ClosedByPeer => None,
                        other => Some(other),
                    }
                }
                _ => {}
            }
        }
        panic!("the central queue ended before the client's Disconnected");
    });
    let mut args = vec![
        common::python::script("generated_client.py")
            .display()
            .to_string(),
        module.display().to_string(),
        "127.0.0.1".to_owned(),
        server.local_addr().port().to_string(),
        hash.to_owned(),
    ];
    args.extend(sizes.iter().map(|s| s.to_string()));
    let out = common::within(
        "the generated client",
        tokio::process::Command::new(common::python::python3())
            .args(&args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reason = common::within("the client's Disconnected", ended)
        .await
        .unwrap();
    server.shutdown().await;
    (stdout, reason)
}
