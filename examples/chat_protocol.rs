//! The chat example's protocol, one file that the example (`chat.rs`) and the browser test
//! (`tests/browser.rs`) both take in: the test generates the page's JavaScript module
//! (`chat_protocol.js` with its `chat_protocol.d.ts`) from it and fails when the committed
//! one is stale, so the page's codec is never written by hand.

use connhandler::{Message, Peer};

/// One chat line, as Panda3D would write it: `addUint16(1)`, `addString(from)`,
/// `addString(text)`.
#[derive(Message, Debug, Clone, PartialEq)]
#[wire(id = 1)]
pub(crate) struct Say {
    pub(crate) from: String,
    pub(crate) text: String,
}

/// A chat client, as the server sees it (a page is one: the generated module is its side).
#[derive(Peer, Default)]
#[peer(recv = Say, send = Say, name = "chat-client")]
pub(crate) struct ChatClient;
