#[connhandler::incoming(backlog = 16)]
struct Lobby;

fn main() {}
