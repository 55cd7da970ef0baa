//! The options of every accepted connection: a bounded send buffer and a bound on how long
//! the kernel keeps trying a peer that takes nothing.
//!
//! Left to itself, Linux grows a connection's send buffer with its congestion window, up to
//! `net.ipv4.tcp_wmem`'s maximum (4 MiB by default; stalled websocket clients were measured at
//! ≈390 KB each). A client that stops reading then absorbs a long stretch of its stream before
//! the server's write waits at all, so the websocket's stall rule (no data taken for the stall
//! timeout, `docs/websocket.md`) starts late or never and the idle rule sheds it instead, while
//! the kernel holds the memory. A fixed send buffer makes the write wait soon after the client
//! stops reading (and turns autotuning off for the socket).
//!
//! A closed socket whose peer keeps its receive window shut stays in FIN-WAIT-1 with its unsent
//! data, probing the window for minutes. `TCP_USER_TIMEOUT` ends a connection whose data has
//! waited that long (unacknowledged, or unsent behind a shut window), open or closed.

use std::time::Duration;

use axum::serve::{ListenerExt as _, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// Socket options set on every accepted connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `SO_SNDBUF`, bytes (the kernel doubles it for its bookkeeping); `None`: autotuned.
    pub send_buffer_bytes: Option<usize>,
    /// `TCP_USER_TIMEOUT` (Linux); `None`: the kernel's retransmission and probe limits.
    pub user_timeout: Option<Duration>,
}

impl SocketOptions {
    /// Sets the options on `tcp`. A failure is logged and the connection served as it is.
    pub fn apply(&self, tcp: &TcpStream) {
        let socket = socket2::SockRef::from(tcp);
        if let Some(bytes) = self.send_buffer_bytes
            && let Err(e) = socket.set_send_buffer_size(bytes)
        {
            tracing::debug!(error = %e, "cannot set SO_SNDBUF on an accepted connection");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(timeout) = self.user_timeout
            && let Err(e) = socket.set_tcp_user_timeout(Some(timeout))
        {
            tracing::debug!(error = %e, "cannot set TCP_USER_TIMEOUT on an accepted connection");
        }
    }
}

/// `listener` with `options` set on every connection it accepts; serve it like the listener
/// itself (`ConnectInfo<SocketAddr>` works the same).
pub fn tuned(
    listener: TcpListener,
    options: SocketOptions,
) -> TapIo<TcpListener, impl FnMut(&mut TcpStream) + Send + 'static> {
    listener.tap_io(move |tcp: &mut TcpStream| options.apply(tcp))
}
