//! Builder methods that incoming and outgoing handlers share.

/// Generates the per-connection setters of a handler builder. `$make` is an expression, used
/// in the doc examples, that makes a builder of peer kind `Client`.
macro_rules! conn_setters {
    ($builder:ident, $make:literal) => {
        impl<P: Peer, F: Framing> $builder<P, F> {
            #[doc = "The handler's name in logs, spans and `PeerHandle::handler_name`; default `P::NAME`."]
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".name(\"lobby\");")]
            /// ```
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }

            /// The framing each connection runs: a [`TcpMessageCodec`](crate::codec::TcpMessageCodec)
            /// (the default), a [`Panda3dCodec`](crate::codec::Panda3dCodec), a
            /// [`Custom`](crate::codec::Custom) tokio-util codec, or any [`Framing`]. Each
            /// connection gets a clone.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            /// let panda = connhandler::codec::Panda3dCodec::builder().header_size(4).new_codec()?;
            #[doc = concat!("let builder = ", $make, ".framing(panda);")]
            /// # Ok::<(), connhandler::codec::ConfigError>(())
            /// ```
            pub fn framing<G: Framing>(self, framing: G) -> $builder<P, G> {
                $builder {
                    framing,
                    name: self.name,
                    settings: self.settings,
                    make_peer: self.make_peer,
                    extra: self.extra,
                }
            }

            /// Builds each connection's per-connection data (the peer value its handles deref
            /// to) from the remote address, as the reference's `create_connection_instances`.
            /// A closure can capture the handler's own state. A panic in it refuses that
            /// connection only.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            /// use std::sync::atomic::{AtomicU32, Ordering};
            /// let serial = AtomicU32::new(0);
            #[doc = concat!("let builder = ", $make, ".make_peer(move |_addr| {")]
            ///     serial.fetch_add(1, Ordering::Relaxed);
            ///     Client
            /// });
            /// ```
            pub fn make_peer(
                mut self,
                make_peer: impl Fn(std::net::SocketAddr) -> P + Send + Sync + 'static,
            ) -> Self {
                self.make_peer = std::sync::Arc::new(make_peer);
                self
            }

            /// How many messages each connection's outgoing queue holds (at least 1, default
            /// 256): `send` waits and `try_send` fails while it is full.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".queue_capacity(1024);")]
            /// ```
            pub fn queue_capacity(mut self, capacity: usize) -> Self {
                self.settings.queue_capacity = capacity.max(1);
                self
            }

            /// How long a closing connection may take to write what was queued and, after a
            /// local close, to wait for the peer to close its side (default 5 s). Queued
            /// messages still unwritten then are counted in the `Disconnected` event.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".close_timeout(std::time::Duration::from_secs(1));")]
            /// ```
            pub fn close_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.settings.close_timeout = timeout;
                self
            }

            /// Whether `TCP_NODELAY` is set on each connection (default `true`: small
            /// messages go out at once; writes are batched by the writer task anyway).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".nodelay(false);")]
            /// ```
            pub fn nodelay(mut self, nodelay: bool) -> Self {
                self.settings.nodelay = nodelay;
                self
            }

            /// Closes a connection on which nothing arrives for `timeout`
            /// ([`Timeout::Idle`](crate::Timeout::Idle)); default: never.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".idle_timeout(std::time::Duration::from_secs(60));")]
            /// ```
            pub fn idle_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.settings.idle_timeout = Some(timeout);
                self
            }

            /// Closes a connection on which part of a frame arrived and the rest did not
            /// within `timeout` ([`Timeout::Frame`](crate::Timeout::Frame)): a peer that
            /// sends half a frame and then nothing. Default: never.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".frame_timeout(std::time::Duration::from_secs(10));")]
            /// ```
            pub fn frame_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.settings.frame_timeout = Some(timeout);
                self
            }

            /// What `send` does when a peer's outgoing queue is full: wait (the default),
            /// fail, or disconnect the peer.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            #[doc = concat!("let builder = ", $make, ".queue_policy(connhandler::QueuePolicy::Fail);")]
            /// ```
            pub fn queue_policy(mut self, policy: crate::QueuePolicy) -> Self {
                self.settings.queue_policy = policy;
                self
            }

            /// A rate limit for each connection: a peer over it is disconnected with
            /// [`DisconnectReason::RateLimited`](crate::DisconnectReason::RateLimited).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            /// use std::time::Duration;
            /// use connhandler::RateLimit;
            #[doc = concat!("let builder = ", $make, ".rate_limit(RateLimit::messages(100, Duration::from_secs(1)));")]
            /// ```
            pub fn rate_limit(mut self, limit: crate::RateLimit) -> Self {
                self.settings.rate_limit = Some(limit);
                self
            }

            /// Calls `tap` with every message body received and sent, for debugging (the
            /// reference's traffic dump).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = include_str!("doc_client.rs")]
            /// use connhandler::tap::Tap;
            #[doc = concat!("let builder = ", $make, ".tap(Tap::new(|f| eprintln!(\"{} {} {:02x?}\", f.peer, f.direction, f.body)));")]
            /// ```
            pub fn tap(mut self, tap: crate::tap::Tap) -> Self {
                self.settings.tap = Some(tap);
                self
            }
        }
    };
}

pub(crate) use conn_setters;
