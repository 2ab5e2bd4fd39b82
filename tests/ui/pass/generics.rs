use connhandler::{wire::Wire, Message, Peer};

#[derive(Message, Debug, PartialEq)]
struct Pair<A, B> {
    a: A,
    b: Vec<B>,
}

#[derive(Message, Debug, PartialEq)]
enum Envelope<T> {
    #[wire(id = 1)]
    One(T),
    #[wire(id = 2)]
    Many(Vec<T>),
}

#[derive(Peer)]
#[peer(recv = Envelope<T>, send = Envelope<T>)]
struct Typed<T: Wire + Send + Sync + 'static> {
    _t: std::marker::PhantomData<T>,
}

fn main() {
    connhandler::testing::assert_roundtrip(&Pair { a: 1u8, b: vec![String::from("x")] });
    connhandler::testing::assert_roundtrip(&Envelope::Many(vec![1u64, 2]));
    assert_eq!(<Typed<u8> as connhandler::Peer>::NAME, "Typed");
}
