//! An HTTP face as a part: one router on one bound listener, with the peer address
//! available to handlers, draining in-flight requests when the shutdown comes.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::part::{Part, Shutdown};

/// One listener and the router of its audience.
pub struct HttpFace {
    pub name: &'static str,
    pub listener: TcpListener,
    pub router: Router,
}

impl Part for HttpFace {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn run(self, shutdown: Shutdown) {
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = async move { shutdown.cancelled().await };
        if let Err(e) = axum::serve(self.listener, service)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(face = self.name, error = %e, "http listener failed");
        }
    }
}
