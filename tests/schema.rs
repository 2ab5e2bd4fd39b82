//! Protocol documents: what the derive says of a protocol, written and read back, and the
//! canonical hash: unchanged by the Rust source's order of variants, changed by what a peer
//! generated from it would read differently.

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
