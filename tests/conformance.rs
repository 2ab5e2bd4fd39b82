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
    schema::{csharp, dynamic, keep_generated, lock, python, typescript, FramingSpec, Protocol},
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

/// The generated TypeScript, JavaScript and declarations, kept in step with the protocol in
/// the source tree; the JavaScript module's path.
fn generated_typescript() -> std::path::PathBuf {
    static KEPT: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    KEPT.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/generated");
        let module = typescript::generate(&protocol());
        let mut stale = Vec::new();
        for (name, text) in [
            ("conformance.ts", &module.ts),
            ("conformance.js", &module.js),
            ("conformance.d.ts", &module.d_ts),
        ] {
            if let Err(e) = keep_generated(dir.join(name), text) {
                stale.push(e);
            }
        }
        if stale.is_empty() {
            Ok(dir.join("conformance.js"))
        } else {
            Err(stale.join("\n"))
        }
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The generated C#, kept in step with the protocol in the source tree, compiled by Mono's
/// `mcs` with the C# conformance peer into `target/tmp/csharp/peer.exe`; that program.
fn compiled_csharp() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<Result<std::path::PathBuf, String>> =
        std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/interop/generated/Conformance.cs");
            keep_generated(&source, &csharp::generate(&protocol()))?;
            let (mcs, _) = common::tools::mono();
            let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("csharp");
            std::fs::create_dir_all(&out).unwrap();
            // The peer, and the client of the generated-client tests.
            for (exe, program) in [
                ("peer.exe", "ConformancePeer.cs"),
                ("client.exe", "GeneratedClient.cs"),
            ] {
                let built = Command::new(&mcs)
                    .args(["-warnaserror+", "-nologo", "-r:System.Numerics"])
                    .arg(format!("-out:{}", out.join(exe).display()))
                    .arg(&source)
                    .arg(common::python::script(program))
                    .output()
                    .map_err(|e| format!("mcs: {e}"))?;
                if !built.status.success() {
                    return Err(format!(
                        "mcs refused the generated C# with {program}:\n{}{}",
                        String::from_utf8_lossy(&built.stdout),
                        String::from_utf8_lossy(&built.stderr)
                    ));
                }
            }
            Ok(out.join("peer.exe"))
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

/// What a runtime keeps of float specials: negative zero, infinities, subnormals, quiet
/// NaNs with their payloads and signs, everywhere; signalling NaNs as these say (README,
/// "Peers in other languages").
#[derive(Clone, Copy, Debug)]
struct Floats {
    /// What comes back of a signalling NaN of 32 bits.
    f32: Signalling,
    /// The same for 64 bits.
    f64: Signalling,
}

/// What a runtime gives back of a signalling NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Signalling {
    /// Its bits.
    Kept,
    /// Its bits with the quiet bit set (sign and the rest of the payload kept).
    Quieted,
    /// Either (V8 quiets a signalling 64-bit NaN on some paths, not on others: Chromium
    /// 156's does, Node 20's does not).
    Either,
}

/// A generated peer in its own runtime, answering a batch of request lines.
trait Runtime {
    fn name(&self) -> &str;
    /// Whether it runs the generated JavaScript (which has a WebSocket client helper).
    fn javascript(&self) -> bool;
    /// How many values the protocol cannot carry its peer tries (`be N`): C#'s types rule
    /// out most of the others' list at compile time.
    fn bad_values(&self) -> usize {
        BAD_VALUES
    }
    fn floats(&self) -> Floats;
    fn answers(&mut self, requests: &[String]) -> Vec<String>;
}

/// A process answering one line per request line.
struct Process {
    name: &'static str,
    floats: Floats,
    child: Child,
    stdin: ChildStdin,
    lines: common::python::Lines,
}

impl Process {
    fn start(name: &'static str, floats: Floats, mut command: Command) -> Process {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {name} conformance peer: {e}"));
        let stdin = child.stdin.take().unwrap();
        let lines = common::python::Lines::of(child.stdout.take().unwrap(), name);
        Process {
            name,
            floats,
            child,
            stdin,
            lines,
        }
    }

    /// CPython on the generated Python module.
    fn python() -> Process {
        let mut command = Command::new(common::python::python3());
        command
            .arg(common::python::script("conformance_peer.py"))
            .arg(generated_python());
        Process::start(
            "Python",
            Floats {
                f32: Signalling::Quieted,
                f64: Signalling::Kept,
            },
            command,
        )
    }

    /// Node on the generated JavaScript module (`module`: the generated `.js`, or tsc's
    /// output of the generated `.ts`).
    fn node(name: &'static str, module: std::path::PathBuf) -> Process {
        let mut command = Command::new(common::tools::node());
        command
            .arg(common::python::script("conformance_node.mjs"))
            .arg(module);
        Process::start(name, JAVASCRIPT_FLOATS, command)
    }
}

impl Process {
    /// Mono on the generated C# with the C# peer.
    fn csharp() -> Process {
        let exe = compiled_csharp();
        let (_, mono) = common::tools::mono();
        let mut command = Command::new(mono);
        command.arg(exe);
        Process::start(
            "C# (Mono)",
            Floats {
                f32: Signalling::Kept,
                f64: Signalling::Kept,
            },
            command,
        )
    }
}

/// What V8 keeps of floats (Node and Chromium).
const JAVASCRIPT_FLOATS: Floats = Floats {
    f32: Signalling::Quieted,
    f64: Signalling::Either,
};

impl Runtime for Process {
    fn name(&self) -> &str {
        self.name
    }

    fn bad_values(&self) -> usize {
        if self.name.starts_with("C#") {
            CSHARP_BAD_VALUES
        } else {
            BAD_VALUES
        }
    }

    fn javascript(&self) -> bool {
        self.name.starts_with("Node")
    }

    fn floats(&self) -> Floats {
        self.floats
    }

    fn answers(&mut self, requests: &[String]) -> Vec<String> {
        requests
            .iter()
            .map(|request| {
                writeln!(self.stdin, "{request}").unwrap();
                self.stdin.flush().unwrap();
                self.lines
                    .next_within(Duration::from_secs(30))
                    .unwrap_or_else(|| panic!("the {} peer ended", self.name))
            })
            .collect()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless Chromium on the generated JavaScript module, loaded by a page with no build
/// step (`<script type="module">`), answering a batch per page load.
struct Chromium;

impl Runtime for Chromium {
    fn name(&self) -> &str {
        "Chromium"
    }

    fn javascript(&self) -> bool {
        true
    }

    fn floats(&self) -> Floats {
        JAVASCRIPT_FLOATS
    }

    fn answers(&mut self, requests: &[String]) -> Vec<String> {
        let module = std::fs::read(generated_typescript()).unwrap();
        let peer = std::fs::read(common::python::script("conformance_peer.mjs")).unwrap();
        let page = r#"<!doctype html><meta charset="utf-8"><title>conformance</title>
<script type="module">
const report = (path, body) => fetch(path, { method: "POST", body });
window.addEventListener("error", (e) => report("/failed", String(e.message)));
try {
  const proto = await import("/conformance.js");
  const { peer } = await import("/conformance_peer.mjs");
  const answer = peer(proto);
  const requests = (await (await fetch("/requests")).text()).split("\n");
  await report("/answers", requests.map(answer).join("\n"));
} catch (e) {
  await report("/failed", String(e && e.stack || e));
}
</script>"#;
        let files = std::collections::HashMap::from([
            (
                "/".to_owned(),
                ("text/html; charset=utf-8", page.as_bytes().to_vec()),
            ),
            ("/conformance.js".to_owned(), ("text/javascript", module)),
            (
                "/conformance_peer.mjs".to_owned(),
                ("text/javascript", peer),
            ),
            (
                "/requests".to_owned(),
                (
                    "text/plain; charset=utf-8",
                    requests.join("\n").into_bytes(),
                ),
            ),
        ]);
        let (port, posted) = common::web::serve(files);
        let mut browser = common::web::Browser::open(&format!("http://127.0.0.1:{port}/"));
        let (path, body) = browser.posted(&posted, "the answers", Duration::from_secs(120));
        let body = String::from_utf8(body).unwrap();
        assert_eq!(path, "/answers", "the page failed: {body}");
        let answers: Vec<String> = body.split('\n').map(str::to_owned).collect();
        assert_eq!(answers.len(), requests.len(), "{body}");
        answers
    }
}

/// What an answer must be.
enum Expect {
    /// `ok` with these bytes.
    Same(Vec<u8>),
    /// `ok` with bytes that Rust decodes and encodes again to the same.
    Readable,
    /// `err`: the generated decode error.
    DecodeError,
    /// `err`: the generated encode error.
    EncodeError,
    /// `ok` with the float specials' bytes as this runtime keeps them.
    Floats(Every),
    /// This answer.
    Exactly(String),
}

/// Every case of the harness: values made in Rust, seeds for values made in the runtime,
/// bad input and float specials, with what each must answer.
fn cases(javascript: bool, bad_values: usize) -> Vec<(String, String, Expect)> {
    let mut cases = Vec::new();
    if javascript {
        // The framings over Uint8Array, byte for byte as connhandler's codecs frame the
        // same message: several chunks and exact multiples of the chunk size, both
        // chunk-end styles; Panda3D's two headers.
        for size in [1usize, 65535 - 12, 2 * 65535 - 12, 2 * 65535 - 11, 70_000] {
            let value = Every::Texts {
                s: String::new(),
                long: "x".repeat(size),
                b: Bytes::new(),
                v: Vec::new(),
                flag: true,
            };
            let framed = |codec: &mut dyn FnMut(&mut BytesMut) -> bool| {
                let mut dst = BytesMut::new();
                if codec(&mut dst) {
                    hex(&dst)
                } else {
                    "-".to_owned()
                }
            };
            use tokio_util::codec::Encoder;
            let tcp = |explicit: bool| {
                let v = value.clone();
                framed(&mut |dst| {
                    connhandler::codec::TcpMessageCodec::builder()
                        .explicit_final_chunk(explicit)
                        .new_codec()
                        .unwrap()
                        .encode(v.clone(), dst)
                        .is_ok()
                })
            };
            let panda = |header: usize| {
                let v = value.clone();
                framed(&mut |dst| {
                    connhandler::codec::Panda3dCodec::builder()
                        .header_size(header)
                        .max_frame_length(1 << 20)
                        .new_codec()
                        .unwrap()
                        .encode(v.clone(), dst)
                        .is_ok()
                })
            };
            cases.push((
                format!("a message of {size} bytes of text, framed"),
                format!("fr {size}"),
                Expect::Exactly(format!(
                    "ok {} {} {} {}",
                    tcp(true),
                    tcp(false),
                    panda(2),
                    panda(4)
                )),
            ));
        }
        // The WebSocket client helper: it asks for binary messages as ArrayBuffers, sends
        // what it is given encoded, hands a decoded message on; a message that does not
        // decode (and a text message) goes to onError and closes the socket with 1007.
        let ints = encode(&Every::Ints {
            a: 1,
            b: 2,
            c: 3,
            d: 4,
            e: 5,
            f: 6,
            g: 7,
            h: 8,
            i: 9,
            j: 10,
        });
        for (what, wire, then) in [
            ("a message", ints.clone(), "message Ints"),
            (
                "a truncated message",
                ints[..5].to_vec(),
                "error,close 1007",
            ),
            ("an unknown id", vec![200, 1, 2], "message Unknown"),
        ] {
            cases.push((
                format!("the client helper given {what}"),
                format!("cl {}", hex(&wire)),
                Expect::Exactly(format!("ok arraybuffer 08 {then},error,close 1007")),
            ));
        }
    }
    // Values made in Rust come back byte for byte.
    let mut runner = TestRunner::deterministic();
    for _ in 0..400 {
        let value = every().new_tree(&mut runner).unwrap().current();
        let wire = encode(&value);
        cases.push((
            format!("{value:?}"),
            format!("rt {}", hex(&wire)),
            Expect::Same(wire),
        ));
    }
    // Big values: buffers grow while they are written and read.
    for value in big_values() {
        let wire = encode(&value);
        cases.push((
            format!("a big value of {} bytes", wire.len()),
            format!("rt {}", hex(&wire)),
            Expect::Same(wire),
        ));
    }
    // Values made there decode in Rust.
    for seed in 0..400 {
        cases.push((
            format!("seed {seed}"),
            format!("mk {seed}"),
            Expect::Readable,
        ));
    }
    // Bad input: a decode error on both sides, the generated one there.
    for (what, wire) in bad_input() {
        assert!(
            Every::decode(Bytes::from(wire.clone())).is_err(),
            "Rust read {what} ({})",
            hex(&wire)
        );
        cases.push((what, format!("rt {}", hex(&wire)), Expect::DecodeError));
    }
    // Values the protocol cannot carry (made there: the peer's list).
    for k in 0..bad_values {
        cases.push((
            format!("bad value {k}"),
            format!("be {k}"),
            Expect::EncodeError,
        ));
    }
    // Float specials.
    for value in float_specials() {
        cases.push((
            format!("{value:?}"),
            format!("fl {}", hex(&encode(&value))),
            Expect::Floats(value),
        ));
    }
    cases
}

/// How many values the protocol cannot carry each peer tries to encode (`be N`): numbers out
/// of range or of the wrong kind, strings with lone surrogates, counts over their prefix,
/// arrays of the wrong length, JSON fields out of their type.
const BAD_VALUES: usize = 18;

/// The C# peer's list: lone surrogates, nulls, counts over their prefix, arrays of the
/// wrong length, 128-bit integers out of range.
const CSHARP_BAD_VALUES: usize = 11;

/// Values far over the generated writers' first buffers, of every growing kind.
fn big_values() -> Vec<Every> {
    let inner = |i: usize| Inner {
        a: i as u16,
        b: "ü".repeat(i % 50),
    };
    vec![
        Every::Texts {
            s: "héllo ✓ ".repeat(700),
            long: "x".repeat(70_000),
            b: Bytes::from(vec![7; 5000]),
            v: vec![9; 3000],
            flag: true,
        },
        Every::Seqs {
            items: (0..500).map(inner).collect(),
            small: (0..255).collect(),
            opt: Some(inner(40)),
            none: None,
            arr: [1, -2, 3],
            four: [1, 2, 3, 4],
            pair: (1, "ω".repeat(3000)),
            unit: (),
        },
        Every::Nest(
            Nested::One(1),
            (0..300)
                .map(|i| Nested::Two {
                    x: -i,
                    inner: inner(i as usize),
                })
                .collect(),
        ),
        Every::Rest(7, "✓".repeat(20_000)),
        Every::RestBytes(vec![1; 100_000]),
    ]
}

/// Truncated frames (every strict prefix of valid messages of every variant without a
/// rest field, whose prefixes are valid messages), bad UTF-8, a bad bool, over-long lengths,
/// an option tag that is neither 0 nor 1, trailing bytes, JSON bodies that are not the
/// message's.
fn bad_input() -> Vec<(String, Vec<u8>)> {
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
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
    cases.push((
        "bad UTF-8".into(),
        vec![3, 2, 0, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ));
    cases.push((
        "a UTF-16 surrogate as UTF-8".into(),
        vec![3, 3, 0, 0xed, 0xa0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0],
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
    cases.push(("a JSON struct's wrong id".into(), {
        let mut v = vec![10, 0x54, 0x4a];
        v.extend_from_slice(br#"{"name":"a","level":1,"tags":[]}"#);
        v
    }));
    cases
}

/// Negative zero, infinities, subnormals and NaNs (quiet and signalling, with payloads and
/// signs) in every float field of both byte orders.
fn float_specials() -> Vec<Every> {
    let f32s = [
        0x8000_0000u32,
        0x7f80_0000,
        0xff80_0000,
        0x0000_0001,
        0x807f_ffff,
        0x7fc0_0000,
        0xffc0_0000,
        0x7fc1_2345,
        0x7f80_0001,
        0xff81_2345,
        0x7fbf_ffff,
    ];
    let f64s = [
        0x8000_0000_0000_0000u64,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x0000_0000_0000_0001,
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff8_0000_1234_5678,
        0x7ff0_0000_0000_0001,
        0xfff1_2345_6789_abcd,
        0x7ff7_ffff_ffff_ffff,
    ];
    (0..f32s.len().max(f64s.len()))
        .map(|i| Every::Floats {
            a: f32::from_bits(f32s[i % f32s.len()]),
            b: f64::from_bits(f64s[i % f64s.len()]),
            c: f32::from_bits(f32s[(i + 3) % f32s.len()]),
            d: i as u32,
        })
        .collect()
}

/// What a runtime that keeps `floats` may give back for `value`'s bytes.
fn floats_kept(value: &Every, floats: Floats) -> Vec<Vec<u8>> {
    let Every::Floats { a, b, c, d } = value else {
        unreachable!()
    };
    /// The bits a signalling NaN may come back as (`quiet`: its quiet bit).
    fn kept(bits: u64, nan: bool, quiet: u64, rule: Signalling) -> Vec<u64> {
        if !nan || bits & quiet != 0 {
            return vec![bits];
        }
        match rule {
            Signalling::Kept => vec![bits],
            Signalling::Quieted => vec![bits | quiet],
            Signalling::Either => vec![bits, bits | quiet],
        }
    }
    let f32s = |f: f32| {
        kept(u64::from(f.to_bits()), f.is_nan(), 0x0040_0000, floats.f32)
            .into_iter()
            .map(|b| f32::from_bits(b as u32))
            .collect::<Vec<_>>()
    };
    let f64s = |f: f64| {
        kept(f.to_bits(), f.is_nan(), 0x0008_0000_0000_0000, floats.f64)
            .into_iter()
            .map(f64::from_bits)
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for a in f32s(*a) {
        for b in f64s(*b) {
            for c in f32s(*c) {
                out.push(encode(&Every::Floats { a, b, c, d: *d }));
            }
        }
    }
    out
}

/// Runs every case through `runtime` and checks each answer.
fn conforms(runtime: &mut dyn Runtime) {
    let cases = cases(runtime.javascript(), runtime.bad_values());
    let requests: Vec<String> = cases.iter().map(|(_, r, _)| r.clone()).collect();
    let answers = runtime.answers(&requests);
    let name = runtime.name().to_owned();
    let floats = runtime.floats();
    let mut wrong = Vec::new();
    for ((what, request, expect), answer) in cases.iter().zip(&answers) {
        let ok = match expect {
            Expect::Same(wire) => *answer == format!("ok {}", hex(wire)),
            Expect::DecodeError | Expect::EncodeError => answer.starts_with("err "),
            Expect::Exactly(expected) => answer == expected,
            Expect::Floats(value) => floats_kept(value, floats)
                .iter()
                .any(|kept| *answer == format!("ok {}", hex(kept))),
            Expect::Readable => match answer.strip_prefix("ok ") {
                Some(h) => {
                    let wire = unhex(h);
                    match Every::decode(Bytes::from(wire.clone())) {
                        Ok(value) => encode(&value) == wire,
                        Err(_) => false,
                    }
                }
                None => false,
            },
        };
        if !ok {
            let cut = |s: &str| -> String {
                if s.len() > 300 {
                    format!("{}... ({} bytes)", &s[..300], s.len())
                } else {
                    s.to_owned()
                }
            };
            wrong.push(format!(
                "{}\n  sent:   {}\n  answer: {}",
                cut(what),
                cut(request),
                cut(answer)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases went wrong in {name}:\n{}",
        wrong.len(),
        cases.len(),
        wrong
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn python_conforms() {
    conforms(&mut Process::python());
}

#[test]
fn node_conforms_with_the_generated_javascript() {
    conforms(&mut Process::node("Node", generated_typescript()));
}

#[test]
fn node_conforms_with_tscs_output_of_the_generated_typescript() {
    conforms(&mut Process::node(
        "Node (tsc's output)",
        compiled_typescript(),
    ));
}

#[test]
fn mono_conforms_with_the_generated_csharp() {
    conforms(&mut Process::csharp());
}

#[test]
fn chromium_conforms_with_the_generated_javascript_unbuilt() {
    conforms(&mut Chromium);
}

/// The generated `.ts` compiled by `tsc --strict` (which must accept it with no error) into
/// `target/tmp/ts-conformance`; the JavaScript it wrote.
fn compiled_typescript() -> std::path::PathBuf {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let generated = generated_typescript();
            let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts-conformance");
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("package.json"), "{ \"type\": \"module\" }\n").unwrap();
            tsc(&[
                "--outDir".as_ref(),
                out.as_os_str(),
                generated.with_extension("ts").as_os_str(),
            ]);
            out.join("conformance.js")
        })
        .clone()
}

/// Runs `tsc --strict` (ES2022 modules) with `args`; fails with what it printed.
fn tsc(args: &[&std::ffi::OsStr]) {
    let out = Command::new(common::tools::node())
        .arg(common::tools::tsc())
        .args([
            "--strict",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            "--pretty",
            "false",
        ])
        .args(args)
        .output()
        .expect("run tsc");
    assert!(
        out.status.success(),
        "tsc --strict refused it:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `.js` with its `.d.ts` declares what the `.ts` does: each module's exports are
/// assignable to the other's, under `tsc --strict`; the declarations compile alone.
#[test]
fn the_javascripts_declarations_are_the_typescripts() {
    let js = generated_typescript();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts-declarations");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::copy(js.with_extension("ts"), dir.join("conformance.ts")).unwrap();
    std::fs::copy(&js, dir.join("js/conformance.js")).unwrap();
    std::fs::copy(js.with_extension("d.ts"), dir.join("js/conformance.d.ts")).unwrap();
    std::fs::write(
        dir.join("same.ts"),
        "import * as FromTs from \"./conformance\";\n\
         import * as FromJs from \"./js/conformance.js\";\n\
         export const a: typeof FromJs = FromTs;\n\
         export const b: typeof FromTs = FromJs;\n\
         // What a user writes: narrowing by kind, bigints, the client's types.\n\
         export function use(m: FromJs.Every): bigint | string {\n\
         \x20 if (m.kind === \"Ints\") return m.g + m.i;\n\
         \x20 if (m.kind === \"Texts\") return m.s;\n\
         \x20 return FromJs.MESSAGES_HASH;\n\
         }\n",
    )
    .unwrap();
    // The golden lobby module too (a hello with its hash, requests, rooms).
    let lobby = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/lobby.ts");
    tsc(&[
        "--noEmit".as_ref(),
        dir.join("same.ts").as_os_str(),
        dir.join("js/conformance.d.ts").as_os_str(),
        lobby.as_os_str(),
    ]);
}

/// The document alone reads and writes every value (what `tcpmsg --schema` does): Rust's
/// bytes to JSON and back to the same bytes; the opaque hook is named, not guessed; bad
/// input is an error, never a panic or a value.
#[test]
fn the_dynamic_codec_reads_and_writes_every_value() {
    let p = protocol();
    let mut runner = TestRunner::deterministic();
    let mut values: Vec<Every> = (0..400)
        .map(|_| every().new_tree(&mut runner).unwrap().current())
        .collect();
    values.extend(big_values());
    for value in values {
        let wire = encode(&value);
        match (dynamic::decode(&p, &p.recv, &wire), &value) {
            (Err(e), Every::Hooked { .. }) => assert!(e.contains("be16"), "{e}"),
            (Err(e), _) => panic!("{value:?}: {e}"),
            (Ok(json), _) => {
                let again = dynamic::encode(&p, &p.recv, &json)
                    .unwrap_or_else(|e| panic!("{value:?} as {json}: {e}"));
                assert_eq!(hex(&again), hex(&wire), "{value:?} as {json}");
            }
        }
    }
    for (what, wire) in bad_input() {
        assert!(
            dynamic::decode(&p, &p.recv, &wire).is_err(),
            "{what}: read {}",
            hex(&wire)
        );
    }
    // Names and values it cannot take.
    for (json, error) in [
        (
            serde_json::json!({"msg": "Nope"}),
            "`Nope` is not a message of Every",
        ),
        (serde_json::json!({"fields": {}}), "`msg` is missing"),
        (
            serde_json::json!({"msg": "Ints", "fields": {"a": 256}}),
            "Every.Ints.a: 256 is not a u8",
        ),
        (
            serde_json::json!({"msg": "Texts", "fields": {"s": "x"}}),
            "Every.Texts.long: missing",
        ),
    ] {
        let e = dynamic::encode(&p, &p.recv, &json).unwrap_err();
        assert!(e.contains(error), "{json}: {e}");
    }
}

/// The golden lobby file (a hello with its hash, requests, rooms) compiles too, with
/// warnings as errors.
#[test]
fn the_golden_csharp_compiles() {
    let (mcs, _) = common::tools::mono();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("csharp-golden");
    std::fs::create_dir_all(&out).unwrap();
    let built = Command::new(mcs)
        .args([
            "-warnaserror+",
            "-nologo",
            "-target:library",
            "-r:System.Numerics",
        ])
        .arg(format!("-out:{}", out.join("Lobby.dll").display()))
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/Lobby.cs"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "mcs refused tests/golden/Lobby.cs:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
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

/// Clients written on the generated modules alone (Python's asyncio `Connection`; the
/// JavaScript module's framing and stream reader over `node:net`; the C# file's `Client` over
/// `TcpClient`, in Mono) talk to a connhandler
/// server over TcpMessage: a version handshake whose hellos say the messages hash (the
/// module's constant, the same as the Rust side's), then messages of several chunks, and
/// exact multiples of the chunk size both as connhandler writes them and as the reference
/// writer does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_clients_talk_to_a_connhandler_server() {
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
    for (client, explicit) in [
        (Client::Python, true),
        (Client::Python, false),
        (Client::Node, true),
        (Client::Node, false),
        (Client::CSharp, true),
        (Client::CSharp, false),
    ] {
        let (stdout, reason) = generated_client_against(
            client,
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
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            expected,
            "{client:?}, explicit final chunk {explicit}"
        );
        assert!(reason.is_none(), "{client:?}: {reason:?}");
    }
}

/// A generated client (Python, Node, C#) whose hello says another messages hash under the same
/// version is refused at the door, and the reason names both hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_clients_of_other_messages_are_refused_at_the_door() {
    let ours = protocol().messages_hash();
    let other = "0123456789abcdef";
    for client in [Client::Python, Client::Node, Client::CSharp] {
        let (stdout, reason) = generated_client_against(
            client,
            connhandler::codec::TcpMessageCodec::builder()
                .new_codec()
                .unwrap(),
            other,
            &[],
        )
        .await;
        assert_eq!(
            stdout.lines().collect::<Vec<_>>(),
            [format!("hello {ours}").as_str(), "closed"],
            "{client:?}"
        );
        match reason {
            Some(connhandler::DisconnectReason::ProtocolMismatch {
                version,
                ours: o,
                theirs,
            }) => assert_eq!(
                (version.as_str(), o.as_str(), theirs.as_str()),
                ("1.0.0", ours.as_str(), other)
            ),
            other => panic!("{client:?}: {other:?}"),
        }
    }
}

/// Which generated client runs.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// `generated_client.py`: the Python module's asyncio `Connection`.
    Python,
    /// `generated_client.mjs`: the JavaScript module's framing over `node:net`.
    Node,
    /// `GeneratedClient.cs`: the C# file's `Client` over `TcpClient`, in Mono.
    CSharp,
}

/// Runs the generated client against an echo server with a version handshake; its output,
/// and the reason its connection ended on the server (`None`: it ended by the client's
/// close).
async fn generated_client_against(
    client: Client,
    codec: connhandler::codec::TcpMessageCodec,
    hash: &str,
    sizes: &[usize],
) -> (String, Option<connhandler::DisconnectReason>) {
    use connhandler::{
        central,
        talk::{Handshake, Version},
        DisconnectReason, Event, Incoming,
    };
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
    let (program, mut args) = match client {
        Client::Python => (
            common::python::python3(),
            vec![
                common::python::script("generated_client.py"),
                generated_python(),
            ],
        ),
        Client::Node => (
            common::tools::node(),
            vec![
                common::python::script("generated_client.mjs"),
                generated_typescript(),
            ],
        ),
        Client::CSharp => (
            common::tools::mono().1,
            vec![compiled_csharp().with_file_name("client.exe")],
        ),
    };
    let mut args: Vec<String> = args.drain(..).map(|p| p.display().to_string()).collect();
    args.extend([
        "127.0.0.1".to_owned(),
        server.local_addr().port().to_string(),
        hash.to_owned(),
    ]);
    args.extend(sizes.iter().map(|s| s.to_string()));
    let out = common::within(
        "the generated client",
        tokio::process::Command::new(program)
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

/// A pause (`flush`) ends a message left open on a full chunk marked 0 only when its bytes
/// can be a message (a kind ending with a rest field, in the reference writer's exact
/// multiple); a self-delimiting message still arriving slowly is never cut by one. In the
/// generated Python and JavaScript stream readers.
#[test]
fn a_pause_ends_only_a_message_that_can_end() {
    let python = r#"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("conformance", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
slow = m.tcp_message_frame(m.Every.Texts("", "x" * 70000, b"", b"", True).encode())
r = m._new_reader()
first = r.feed(slow[:2 + 65535])
paused = m._flush(r)
rest = r.feed(slow[2 + 65535:])
# Every.Rest: id 1 + u32 4 + text to the end, 65535 bytes in all, framed as the reference does.
exact = m.Every.Rest(7, "y" * (65535 - 5)).encode()
r2 = m._new_reader()
fed = r2.feed(m.tcp_message_frame(exact, explicit_final_chunk=False))
ended = m._flush(r2)
print(len(first), len(paused), len(rest), len(rest[0]) if rest else 0, len(fed), len(ended), len(ended[0]) if ended else 0)
"#;
    let node = r#"
import { pathToFileURL } from "node:url";
const m = await import(pathToFileURL(process.argv[1]).href);
const slow = m.tcpMessageFrame(new m.Every.Texts("", "x".repeat(70000), new Uint8Array(0), new Uint8Array(0), true).encode());
const r = m.streamReader();
const first = r.feed(slow.subarray(0, 2 + 65535));
const paused = r.flush();
const rest = r.feed(slow.subarray(2 + 65535));
const exact = new m.Every.Rest(7, "y".repeat(65535 - 5)).encode();
const r2 = m.streamReader();
const fed = r2.feed(m.tcpMessageFrame(exact, m.MAX_MESSAGE_SIZE, false));
const ended = r2.flush();
console.log([first.length, paused.length, rest.length, rest.length ? rest[0].length : 0, fed.length, ended.length, ended.length ? ended[0].length : 0].join(" "));
"#;
    // 70000 bytes of text + the header's 12: one message, after the pause, not before.
    let expected = "0 0 1 70012 0 1 65535";
    let py = Command::new(common::python::python3())
        .args(["-c", python])
        .arg(generated_python())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        expected,
        "Python: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let js = Command::new(common::tools::node())
        .args(["--input-type=module", "-e", node])
        .arg(generated_typescript())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&js.stdout).trim(),
        expected,
        "Node: {}",
        String::from_utf8_lossy(&js.stderr)
    );
}
