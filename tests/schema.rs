//! Protocol documents: what the derive says of a protocol, written and read back, and the
//! canonical hash: unchanged by the Rust source's order of variants, changed by what a peer
//! generated from it would read differently.

mod common;

use connhandler::{
    describe::{FieldKind, FieldRole, Shape, Ty},
    schema::{FramingSpec, Protocol},
    Message, Peer,
};

mod v1 {
    use super::*;

    #[derive(Message, Debug)]
    pub struct Room {
        pub name: String,
        #[wire(len = u8)]
        pub players: Vec<u32>,
    }

    #[derive(Message, Debug)]
    pub enum Up {
        #[wire(id = 1, hello)]
        Hello {
            #[wire(version)]
            version: String,
        },
        #[wire(id = 2, reply = Down::Found)]
        Find {
            #[wire(correlation)]
            req: u32,
            name: String,
        },
        #[wire(id = 3)]
        Chat { from: String, text: String },
    }

    #[derive(Message, Debug)]
    #[wire(endian = "big")]
    pub enum Down {
        #[wire(id = 0x81)]
        Found {
            #[wire(correlation)]
            req: u32,
            room: Option<Room>,
        },
        #[wire(id = 0x82)]
        Blob(#[wire(rest)] Vec<u8>),
        #[wire(catch_all)]
        Other(u16, bytes::Bytes),
    }

    #[derive(Peer, Default)]
    #[peer(recv = Up, send = Down, name = "lobby")]
    pub struct Lobby;
}

/// The same protocol, its variants in another order in the source.
mod reordered {
    use super::*;

    #[derive(Message, Debug)]
    pub struct Room {
        pub name: String,
        #[wire(len = u8)]
        pub players: Vec<u32>,
    }

    #[derive(Message, Debug)]
    pub enum Up {
        #[wire(id = 3)]
        Chat { from: String, text: String },
        #[wire(id = 2, reply = Down::Found)]
        Find {
            #[wire(correlation)]
            req: u32,
            name: String,
        },
        #[wire(id = 1, hello)]
        Hello {
            #[wire(version)]
            version: String,
        },
    }

    #[derive(Message, Debug)]
    #[wire(endian = "big")]
    pub enum Down {
        #[wire(catch_all)]
        Other(u16, bytes::Bytes),
        #[wire(id = 0x82)]
        Blob(#[wire(rest)] Vec<u8>),
        #[wire(id = 0x81)]
        Found {
            #[wire(correlation)]
            req: u32,
            room: Option<Room>,
        },
    }

    #[derive(Peer, Default)]
    #[peer(recv = Up, send = Down, name = "lobby")]
    pub struct Lobby;
}

/// The same protocol but two fields of one type swapped (same bytes, other meaning).
mod swapped {
    use super::*;

    #[derive(Message, Debug)]
    pub struct Room {
        pub name: String,
        #[wire(len = u8)]
        pub players: Vec<u32>,
    }

    #[derive(Message, Debug)]
    pub enum Up {
        #[wire(id = 1, hello)]
        Hello {
            #[wire(version)]
            version: String,
        },
        #[wire(id = 2, reply = Down::Found)]
        Find {
            #[wire(correlation)]
            req: u32,
            name: String,
        },
        #[wire(id = 3)]
        Chat { text: String, from: String },
    }

    #[derive(Message, Debug)]
    #[wire(endian = "big")]
    pub enum Down {
        #[wire(id = 0x81)]
        Found {
            #[wire(correlation)]
            req: u32,
            room: Option<Room>,
        },
        #[wire(id = 0x82)]
        Blob(#[wire(rest)] Vec<u8>),
        #[wire(catch_all)]
        Other(u16, bytes::Bytes),
    }

    #[derive(Peer, Default)]
    #[peer(recv = Up, send = Down, name = "lobby")]
    pub struct Lobby;
}

fn doc<P: Peer>() -> Protocol
where
    P::Recv: connhandler::wire::Wire,
    P::Send: connhandler::wire::Wire,
{
    Protocol::of::<P>(FramingSpec::tcp_message())
}

#[test]
fn a_protocol_says_its_messages_fields_settings_and_roles() {
    let p = doc::<v1::Lobby>();
    assert_eq!(p.name, "lobby");
    assert_eq!(p.recv, Ty::Named("Up".into()));
    assert_eq!(p.send, Ty::Named("Down".into()));
    let names: Vec<&str> = p.types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Down", "Room", "Up"]);
    let Shape::Enum { variants } = &p.get("Up").unwrap().shape else {
        panic!("Up is an enum")
    };
    assert_eq!(variants[0].role.as_deref(), Some("hello"));
    assert_eq!(variants[0].fields[0].role, Some(FieldRole::Version));
    assert_eq!(variants[1].replies, ["Down::Found"]);
    assert_eq!(variants[1].fields[0].role, Some(FieldRole::Correlation));
    let down = p.get("Down").unwrap();
    assert_eq!(down.order.name(), "big");
    let Shape::Enum { variants } = &down.shape else {
        panic!("Down is an enum")
    };
    // By id, the catch-all last; a rest field says so.
    assert_eq!(
        variants.iter().map(|v| v.id).collect::<Vec<_>>(),
        [Some(0x81), Some(0x82), None]
    );
    assert_eq!(variants[1].fields[0].kind, FieldKind::Rest);
    assert_eq!(
        variants[0].fields[1].ty,
        Ty::Option(Box::new(Ty::Named("Room".into())))
    );
    let Shape::Struct { fields, .. } = &p.get("Room").unwrap().shape else {
        panic!("Room is a struct")
    };
    assert_eq!(fields[1].len, 1, "the field's own prefix width");
    assert_eq!(fields[1].rust, "Vec<u32>");
}

#[test]
fn the_document_reads_back_and_its_hash_is_canonical() {
    let p = doc::<v1::Lobby>();
    let text = p.to_json();
    assert_eq!(text, p.to_json(), "the same protocol, the same bytes");
    assert_eq!(Protocol::from_json(&text).unwrap(), p);
    // The variants' order in the source changes nothing.
    let again = doc::<reordered::Lobby>();
    assert_eq!(again.to_json(), text);
    assert_eq!(again.hash(), p.hash());
    // Two fields of one type swapped: the same bytes on the wire, another protocol.
    let swapped = doc::<swapped::Lobby>();
    assert_ne!(swapped.hash(), p.hash());
    // Another framing is another protocol.
    let panda = Protocol::of::<v1::Lobby>(FramingSpec::panda3d(2));
    assert_ne!(panda.hash(), p.hash());
    // A document edited by hand is refused.
    let edited = text.replace("\"from\"", "\"sender\"");
    let err = Protocol::from_json(&edited).unwrap_err();
    assert!(err.contains("edited by hand"), "{err}");
}

mod lock_rules {
    use connhandler::{
        describe::{ByteOrder, Shape, Ty, VariantDef},
        schema::{
            lock::{self, Change, Verdict},
            Protocol,
        },
    };

    fn base() -> Protocol {
        super::doc::<super::v1::Lobby>()
    }

    fn up(p: &mut Protocol) -> &mut Vec<VariantDef> {
        let t = p.types.iter_mut().find(|t| t.name == "Up").unwrap();
        match &mut t.shape {
            Shape::Enum { variants } => variants,
            Shape::Struct { .. } => unreachable!(),
        }
    }

    fn one(old: &Protocol, new: &Protocol) -> Change {
        let changes = lock::compare(old, new);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        changes.into_iter().next().unwrap()
    }

    #[test]
    fn a_fields_type_breaks_both_ways() {
        let old = base();
        let mut new = old.clone();
        up(&mut new)[2].fields[1].ty = Ty::Bytes;
        let c = one(&old, &new);
        assert_eq!(c.path, "Up.Chat.text");
        assert_eq!(c.verdict, Verdict::Breaking);
        assert!(c.breaks_old_to_new && c.breaks_new_to_old);
        assert_eq!(
            c.to_string(),
            "BREAKING: Up.Chat.text: type string became bytes (breaks old -> new and new -> old; the message's bytes change from this field on)"
        );
    }

    #[test]
    fn a_field_added_or_removed_has_no_room() {
        let old = base();
        let mut new = old.clone();
        let mut extra = up(&mut new)[2].fields[1].clone();
        extra.name = "room".into();
        up(&mut new)[2].fields.push(extra);
        let c = one(&old, &new);
        assert_eq!(c.path, "Up.Chat.room");
        assert!(c.what.starts_with("field added (string)"), "{}", c.what);
        assert_eq!(c.verdict, Verdict::Breaking);
        let c = one(&new, &old);
        assert!(c.what.starts_with("field removed"), "{}", c.what);
    }

    #[test]
    fn a_new_variant_breaks_new_to_old_unless_the_old_side_has_a_catch_all() {
        let old = base();
        let mut new = old.clone();
        let mut v = up(&mut new)[2].clone();
        v.name = "Whisper".into();
        v.id = Some(4);
        up(&mut new).push(v.clone());
        let c = one(&old, &new);
        assert_eq!((c.breaks_old_to_new, c.breaks_new_to_old), (false, true));
        assert_eq!(c.verdict, Verdict::Breaking);
        // Down has a catch-all: a new Down variant is read by old peers.
        let mut new = old.clone();
        let down = new.types.iter_mut().find(|t| t.name == "Down").unwrap();
        let Shape::Enum { variants } = &mut down.shape else {
            unreachable!()
        };
        v.id = Some(0x90);
        variants.insert(2, v);
        let c = one(&old, &new);
        assert_eq!(c.verdict, Verdict::Compatible);
        assert!(c.reason.contains("catch-all"), "{}", c.reason);
        // Removing it again: the new side's catch-all takes the old id.
        let c = one(&new, &old);
        assert_eq!(c.verdict, Verdict::Compatible);
        assert!(c.what.starts_with("variant removed"));
    }

    #[test]
    fn ids_renumbered_or_swapped() {
        let old = base();
        let mut new = old.clone();
        up(&mut new)[2].id = Some(9);
        let c = one(&old, &new);
        assert_eq!(c.what, "id 0x3 became 0x9");
        assert!(c.breaks_old_to_new && c.breaks_new_to_old);
        // Hello and Chat have other shapes; give Chat a twin of Find's shape and swap ids.
        let mut twin = old.clone();
        let find_fields = up(&mut twin)[1].fields.clone();
        up(&mut twin)[2].fields = find_fields;
        let mut swapped = twin.clone();
        up(&mut swapped)[1].id = Some(3);
        up(&mut swapped)[2].id = Some(2);
        up(&mut swapped)[1].replies.clear();
        up(&mut twin)[1].replies.clear();
        let changes = lock::compare(&twin, &swapped);
        assert_eq!(changes.len(), 2, "{changes:#?}");
        for c in changes {
            assert_eq!(c.verdict, Verdict::Breaking);
            assert!(!c.breaks_old_to_new && !c.breaks_new_to_old, "same bytes");
            assert!(
                c.what.contains("another variant's of the same shape"),
                "{}",
                c.what
            );
        }
    }

    #[test]
    fn renamed_and_swapped_fields_keep_the_bytes_and_change_the_meaning() {
        let c = one(&base(), &super::doc::<super::swapped::Lobby>());
        assert_eq!(c.path, "Up.Chat");
        assert_eq!(
            c.what,
            "fields swapped or renamed: `from` is now `text`, `text` is now `from`"
        );
        assert_eq!(c.verdict, Verdict::Breaking);
        assert!(!c.breaks_old_to_new && !c.breaks_new_to_old);
    }

    #[test]
    fn settings_framing_and_types() {
        let old = base();
        let mut new = old.clone();
        new.types
            .iter_mut()
            .find(|t| t.name == "Room")
            .unwrap()
            .order = ByteOrder::Big;
        assert_eq!(one(&old, &new).what, "byte order little became big");
        let mut new = old.clone();
        new.framing = connhandler::schema::FramingSpec::panda3d(2);
        assert_eq!(one(&old, &new).path, "framing");
        // A type that nothing uses is no change on the wire.
        let mut new = old.clone();
        let mut lonely = new.get("Room").unwrap().clone();
        lonely.name = "Lonely".into();
        new.types.push(lonely);
        assert_eq!(one(&old, &new).verdict, Verdict::Compatible);
    }

    #[test]
    fn the_lock_is_written_kept_and_guarded() {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("lock-check");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lobby.lock.json");
        let old = base();
        let err = lock::check(&old, &path).unwrap_err();
        assert!(err.contains("was missing"), "{err}");
        assert_eq!(lock::check(&old, &path).unwrap(), []);
        // A breaking change fails and leaves the lock.
        let mut new = old.clone();
        up(&mut new)[2].fields[1].ty = Ty::Bytes;
        let err = lock::check(&new, &path).unwrap_err();
        assert!(
            err.contains("BREAKING: Up.Chat.text: type string became bytes"),
            "{err}"
        );
        assert!(
            err.contains(&old.hash()) && err.contains(&new.hash()),
            "{err}"
        );
        assert_eq!(
            Protocol::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            old
        );
        // A compatible one passes and moves the lock on.
        let mut lonely = old.get("Room").unwrap().clone();
        lonely.name = "Lonely".into();
        let mut grown = old.clone();
        grown.types.push(lonely);
        let changes = lock::check(&grown, &path).unwrap();
        assert_eq!(changes.len(), 1);
        let kept = Protocol::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            kept.hash(),
            grown.hash(),
            "the lock moved on to the grown protocol"
        );
    }
}

/// Golden files: the lobby protocol's document and its generated Python, TypeScript (the
/// `.ts`; the `.js` and `.d.ts` are made from the same source) and C# code, kept in
/// `tests/golden/` by `keep_generated`, so that any change in the document format or in
/// generated code shows in review (the test fails once, having written the new files).
#[test]
fn the_generator_output_is_golden() {
    let protocol = Protocol::of::<v1::Lobby>(FramingSpec::tcp_message());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let document =
        connhandler::schema::keep_generated(dir.join("lobby.protocol.json"), &protocol.to_json());
    let module = connhandler::schema::keep_generated(
        dir.join("lobby.py"),
        &connhandler::schema::python::generate(&protocol),
    );
    let typescript = connhandler::schema::keep_generated(
        dir.join("lobby.ts"),
        &connhandler::schema::typescript::generate(&protocol).ts,
    );
    let csharp = connhandler::schema::keep_generated(
        dir.join("Lobby.cs"),
        &connhandler::schema::csharp::generate(&protocol),
    );
    document.unwrap();
    module.unwrap();
    typescript.unwrap();
    csharp.unwrap();
}

/// The golden lobby code runs in its own runtimes, not only compiles: CPython on
/// `lobby.py`, Node on the JavaScript made from the same source as `lobby.ts`, and Mono on
/// `Lobby.cs` decode the lobby's messages made in Rust (a hello, a correlated request and
/// its reply with a nested option, a rest field, the catch-all) and encode them again to the
/// same bytes, and give their decode error for bytes that are no message.
#[test]
fn the_golden_peers_run_in_their_runtimes() {
    use connhandler::Encode;
    use std::process::Command;
    let up = [
        v1::Up::Hello {
            version: "1.2.0".into(),
        },
        v1::Up::Find {
            req: 7,
            name: "blue".into(),
        },
        v1::Up::Chat {
            from: "ann".into(),
            text: "héllo".into(),
        },
    ];
    let down = [
        v1::Down::Found {
            req: 7,
            room: Some(v1::Room {
                name: "blue".into(),
                players: vec![1, 2, 3],
            }),
        },
        v1::Down::Found { req: 8, room: None },
        v1::Down::Blob(vec![9, 8, 7]),
        v1::Down::Other(0x99, bytes::Bytes::from_static(b"xy")),
    ];
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut lines = Vec::new();
    for m in &up {
        let mut b = bytes::BytesMut::new();
        m.encode(&mut b);
        lines.push(format!("up {}", hex(&b)));
    }
    for m in &down {
        let mut b = bytes::BytesMut::new();
        m.encode(&mut b);
        lines.push(format!("down {}", hex(&b)));
    }
    // A Find cut short, and an unknown id on the side without a catch-all.
    lines.push("up 0200000007".to_owned());
    lines.push("up 0900".to_owned());
    let expected: Vec<String> = lines
        .iter()
        .map(|l| match l.split_once(' ').unwrap().1 {
            "0200000007" | "0900" => "err".to_owned(),
            h => format!("ok {h}"),
        })
        .collect();
    let input = lines.join("\n") + "\n";
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("golden-lobby");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = |what: &str, cmd: &mut Command| {
        use std::io::Write;
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let what = what.to_owned();
        let out = common::within_blocking(&what.clone(), move || child.wait_with_output().unwrap());
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                if l.starts_with("err") {
                    "err".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_eq!(got, expected, "{what}");
    };
    // SEND is what the lobby's peers send (its `Up`), RECV what they receive (`Down`).
    run(
        "CPython on lobby.py",
        Command::new(common::python::python3())
            .arg("-c")
            .arg(
                "import importlib.util, sys\n\
                 spec = importlib.util.spec_from_file_location('lobby', sys.argv[1])\n\
                 m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n\
                 for line in sys.stdin:\n\
                 \x20   side, h = line.split()\n\
                 \x20   t = m.SEND if side == 'up' else m.RECV\n\
                 \x20   try:\n\
                 \x20       print('ok ' + t.decode(bytes.fromhex(h)).encode().hex())\n\
                 \x20   except m.DecodeError as e:\n\
                 \x20       print('err ' + str(e))\n",
            )
            .arg(golden.join("lobby.py")),
    );
    let protocol = Protocol::of::<v1::Lobby>(FramingSpec::tcp_message());
    let js = tmp.join("lobby.mjs");
    std::fs::write(&js, connhandler::schema::typescript::generate(&protocol).js).unwrap();
    run(
        "Node on lobby's JavaScript",
        Command::new(common::tools::node())
            .arg("--input-type=module")
            .arg("-e")
            .arg(format!(
                "import * as m from {:?};\n\
                 import {{ createInterface }} from 'node:readline';\n\
                 const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');\n\
                 for await (const line of createInterface({{ input: process.stdin }})) {{\n\
                 \x20 const [side, h] = line.split(' ');\n\
                 \x20 const bytes = Uint8Array.from(h.match(/../g) || [], (x) => parseInt(x, 16));\n\
                 \x20 try {{ console.log('ok ' + hex((side === 'up' ? m.SEND : m.RECV).decode(bytes).encode())); }}\n\
                 \x20 catch (e) {{ if (!(e instanceof m.DecodeError)) throw e; console.log('err ' + e.message); }}\n\
                 }}",
                format!("file://{}", js.display())
            )),
    );
    let (mcs, mono) = common::tools::mono();
    let main = tmp.join("Main.cs");
    std::fs::write(
        &main,
        "using System; using LobbyProtocol;\n\
         static class M { static void Main() { string line;\n\
         while ((line = Console.ReadLine()) != null) {\n\
         var parts = line.Split(' '); var h = parts[1]; var b = new byte[h.Length / 2];\n\
         for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(h.Substring(2 * i, 2), 16);\n\
         try { IMessage m = parts[0] == \"up\" ? (IMessage)Up.Decode(b) : Down.Decode(b);\n\
         Console.WriteLine(\"ok \" + BitConverter.ToString(m.Encode()).Replace(\"-\", \"\").ToLowerInvariant()); }\n\
         catch (DecodeException e) { Console.WriteLine(\"err \" + e.Message); } } } }\n",
    )
    .unwrap();
    let exe = tmp.join("lobby.exe");
    let built = Command::new(mcs)
        .args(["-nologo", "-warnaserror+", "-r:System.Numerics"])
        .arg(format!("-out:{}", exe.display()))
        .arg(golden.join("Lobby.cs"))
        .arg(&main)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "mcs: {}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    run("Mono on Lobby.cs", Command::new(mono).arg(&exe));
}
