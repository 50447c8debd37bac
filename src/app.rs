//! The gateway as a transport application: HTTP requests go to [`crate::http`], WebSocket
//! sockets get a [`Session`] that has already queued its `connect.challenge`.

use std::sync::Arc;

use openclaw_net::{App, ConnInfo, HttpBody, Outbound};

use crate::server::Gateway;
use crate::session::Session;

/// Adapter from [`Gateway`] to the transport's [`App`].
#[derive(Debug)]
pub struct GatewayApp {
    gw: Arc<Gateway>,
}

impl GatewayApp {
    /// Wrap the shared state.
    pub fn new(gw: Arc<Gateway>) -> Self {
        Self { gw }
    }
}

impl App for GatewayApp {
    type Session = Session;

    async fn http(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        info: &ConnInfo,
    ) -> hyper::Response<HttpBody> {
        crate::http::route(&self.gw, req, info).await
    }

    fn ws_open(&self, out: Outbound, info: ConnInfo) -> Session {
        Session::open(self.gw.clone(), out, info)
    }
}
