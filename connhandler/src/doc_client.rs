# #[derive(Default)]
# struct Client;
# impl connhandler::Peer for Client {
#     type Recv = bytes::Bytes;
#     type Send = bytes::Bytes;
#     const NAME: &'static str = "client";
# }
