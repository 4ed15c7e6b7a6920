//! The benchmark's ceiling for DDI polls (scripts/bench-ota.sh): axum answering every
//! `GET /{tenant}/controller/v1/{id}` with the JSON radcare gives a device it knows
//! nothing new for, without authentication or a store. What radcare adds over it is
//! the token check and the store's reads and write per poll.
//!
//! `cargo run --release --example ddi_stub -- 127.0.0.1:8099`

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};

async fn poll(Path((tenant, id)): Path<(String, String)>) -> Json<Value> {
    Json(json!({
        "config": { "polling": { "sleep": "00:05:00" } },
        "_links": {
            "configData": {
                "href": format!("http://127.0.0.1/{tenant}/controller/v1/{id}/configData")
            }
        }
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let app = Router::new().route("/{tenant}/controller/v1/{id}", get(poll));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
