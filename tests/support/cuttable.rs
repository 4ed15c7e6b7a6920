//! Link B of the relay through a forwarder on loopback whose connections can be killed
//! mid-stream (a TCP cut) and which can refuse new ones (a link down for good).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Link B through a forwarder whose connections can be killed, and which can refuse new
/// ones (a link down for good).
#[derive(Clone)]
pub struct Cuttable {
    pub at: SocketAddr,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refuse: Arc<Mutex<bool>>,
    /// The first bytes the client sent on each connection (its Open or Resume).
    pub hellos: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Cuttable {
    pub async fn start(to: SocketAddr) -> Cuttable {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let c = Cuttable {
            at: listener.local_addr().unwrap(),
            conns: Arc::default(),
            refuse: Arc::default(),
            hellos: Arc::default(),
        };
        let me = c.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *me.refuse.lock().unwrap() {
                    continue;
                }
                let hellos = me.hellos.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    let (mut ir, mut iw) = inbound.split();
                    let (mut or, mut ow) = outbound.split();
                    let up = async {
                        let mut first = vec![0; 4096];
                        let n = ir.read(&mut first).await?;
                        hellos.lock().unwrap().push(first[..n].to_vec());
                        ow.write_all(&first[..n]).await?;
                        tokio::io::copy(&mut ir, &mut ow).await?;
                        ow.shutdown().await
                    };
                    let down = async {
                        tokio::io::copy(&mut or, &mut iw).await?;
                        iw.shutdown().await
                    };
                    let _ = tokio::join!(up, down);
                });
                me.conns.lock().unwrap().push(task);
            }
        });
        c
    }

    /// Kills every connection in the middle of whatever it carries.
    pub fn cut(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn down(&self) {
        *self.refuse.lock().unwrap() = true;
        self.cut();
    }

    pub fn up(&self) {
        *self.refuse.lock().unwrap() = false;
    }
}
