use connhandler::{incoming, outgoing, Message, Peer};

#[derive(Message)]
enum Msg {
    #[wire(id = 1, hello)]
    Hello {
        #[wire(version)]
        version: u16,
    },
    #[wire(id = 2, ping)]
    Ping,
}

#[derive(Peer, Default)]
#[peer(recv = Msg, send = Msg)]
struct Player;

#[incoming(peer = Player, version = "2.x")]
struct BadVersion;

#[incoming(peer = Player, version = "2", agree = "newer")]
struct BadRule;

#[outgoing(peer = Player, agree = "exact", version_timeout_ms = 100)]
struct RuleWithoutVersion;

#[outgoing(peer = Player, heartbeat_allowance_ms = 100)]
struct AllowanceWithoutHeartbeat;

#[incoming(peer = Player, heartbeat_ms = 1000, heartbeat_allowance_ms = 500)]
struct AllowanceTooShort;

#[incoming(peer = Player, max_pending = 0, tcp_keepalive_ms = 10)]
struct BadNumbers;

fn main() {}
