//! Notices (S3): when a deployment offers an action to a device (at deploy time for
//! the first rollout group, when a later group opens, when a paused deployment
//! resumes), the device is told once: the server's address, the software's name,
//! location and version, and a timestamp.
//!
//! Channels: IP push (the device's own long-poll on the terminal listener, `ddi`),
//! SMS or WAP Push through the gateway (`gateway`). A device holding its IP push
//! request (or that held one within a minute) is told there; else a device with a
//! phone number by its phone channel (the tag `notice-sms` or `notice-wap`, else
//! `[terminal.notices] phone_channel`); else its notice waits in the store for its
//! next IP push request.
//!
//! [`Notifier`] is the part that finds the offers to tell (the store is the source of
//! truth: a deployment made by the `radcare deploy` command of another process, or a
//! group opened by a device's feedback, is seen within a second) and sends the
//! gateway's notices, with backoff on errors. The API never waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::ddi::base_url;
use super::gateway::{self, Indication};
use super::{Ota, now_ms};
use crate::config::PhoneChannel;
use crate::part::{Part, Shutdown};
use crate::store::notice::{Notice, Untold};

/// How a notice reaches its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Ip,
    Sms,
    Wap,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Ip => "ip",
            Channel::Sms => "sms",
            Channel::Wap => "wap",
        }
    }
}

/// A device whose IP push request ended this recently still counts as connected: it
/// asks again at once after each answer.
const LINGER: Duration = Duration::from_secs(60);

/// Offers looked at, and gateway notices sent, per round.
const BATCH: i64 = 200;

/// The devices holding IP push requests on this node, and how to wake them.
#[derive(Clone, Default)]
pub struct PushHub {
    inner: Arc<Mutex<Held>>,
    /// Cancelled when the process stops: held requests answer at once.
    closing: Shutdown,
}

#[derive(Default)]
struct Held {
    devices: HashMap<String, Slot>,
    total: usize,
}

struct Slot {
    wake: Arc<Notify>,
    held: usize,
    last: Instant,
}

/// Why a request cannot be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Device,
    Everyone,
}

/// One held request; released when dropped.
pub struct Hold {
    hub: PushHub,
    device: String,
    pub wake: Arc<Notify>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut h = self.hub.lock();
        h.total -= 1;
        if let Some(s) = h.devices.get_mut(&self.device) {
            s.held -= 1;
            s.last = Instant::now();
        }
    }
}

impl PushHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds a request of `device`, within `per_device` and `total` at once.
    pub fn hold(&self, device: &str, per_device: usize, total: usize) -> Result<Hold, Busy> {
        let mut h = self.lock();
        if h.total >= total {
            return Err(Busy::Everyone);
        }
        let slot = h.devices.entry(device.to_string()).or_insert_with(|| Slot {
            wake: Arc::default(),
            held: 0,
            last: Instant::now(),
        });
        if slot.held >= per_device {
            return Err(Busy::Device);
        }
        slot.held += 1;
        let wake = slot.wake.clone();
        h.total += 1;
        Ok(Hold {
            hub: self.clone(),
            device: device.to_string(),
            wake,
        })
    }

    /// Whether `device` holds a request now, or held one within [`LINGER`].
    pub fn connected(&self, device: &str) -> bool {
        self.lock()
            .devices
            .get(device)
            .is_some_and(|s| s.held > 0 || s.last.elapsed() < LINGER)
    }

    /// Wakes the requests `device` holds, to look for notices.
    pub fn wake(&self, device: &str) {
        if let Some(s) = self.lock().devices.get(device) {
            s.wake.notify_waiters();
        }
    }

    /// Forgets devices gone longer than [`LINGER`].
    fn prune(&self) {
        self.lock()
            .devices
            .retain(|_, s| s.held > 0 || s.last.elapsed() < LINGER);
    }

    /// Resolves when the process stops.
    pub async fn closing(&self) {
        self.closing.cancelled().await
    }
}

/// The SMS text: `RADCARE OTA <name> <version> <url> <unix seconds>`.
pub fn sms_text(ota: &Ota, n: &Notice) -> String {
    format!(
        "RADCARE OTA {} {} {} {}",
        n.release_name,
        n.release_version,
        base_url(ota, &n.device),
        n.created_at_ms / 1000
    )
}

/// Retry `attempts` (1 after the first failure) waits 2 s, 4 s, ... up to 10 min.
pub(crate) fn backoff(attempts: i64) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 20) as u32).min(600))
}

/// The part that tells devices of their offers.
pub struct Notifier {
    pub ota: Ota,
}

impl Part for Notifier {
    fn name(&self) -> &'static str {
        "ota-notices"
    }

    async fn run(self, shutdown: Shutdown) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            // A round cut short by shutdown loses nothing: what was not recorded as
            // sent is sent by the next process.
            if shutdown.run_until_cancelled(self.round()).await.is_none() {
                break;
            }
        }
        self.ota.push.closing.cancel();
    }
}

impl Notifier {
    async fn round(&self) {
        if let Err(e) = self.tell_offers().await {
            tracing::warn!(error = %e, "notices: cannot read the offers to tell");
        }
        if let Err(e) = self.send_due().await {
            tracing::warn!(error = %e, "notices: cannot read the notices to send");
        }
        self.ota.push.prune();
    }

    fn channel(&self, u: &Untold) -> Channel {
        if self.ota.push.connected(&u.device) {
            return Channel::Ip;
        }
        let cfg = &self.ota.config.notices;
        let tagged = |t: &str| u.tags.split(',').any(|x| x == t);
        let phone_channel = if tagged("notice-wap") && cfg.ppg_url.is_some() {
            PhoneChannel::Wap
        } else if tagged("notice-sms") && cfg.sendsms_url.is_some() {
            PhoneChannel::Sms
        } else {
            cfg.phone_channel
        };
        match (&u.phone, phone_channel) {
            (Some(_), PhoneChannel::Sms) => Channel::Sms,
            (Some(_), PhoneChannel::Wap) => Channel::Wap,
            _ => Channel::Ip,
        }
    }

    /// Records a notice for each new offer; IP push ones wake their device.
    async fn tell_offers(&self) -> Result<(), crate::store::StoreError> {
        for u in self.ota.store.ota_untold(BATCH).await? {
            let channel = self.channel(&u);
            let Some(n) = self
                .ota
                .store
                .ota_add_notice(&u, channel.as_str(), now_ms())
                .await?
            else {
                continue;
            };
            tracing::info!(
                device = %n.device,
                action = n.action,
                channel = channel.as_str(),
                "notice of {} {}",
                n.release_name,
                n.release_version
            );
            metrics::counter!("radcare_ota_notices_total", "channel" => channel.as_str())
                .increment(1);
            if channel == Channel::Ip {
                self.ota.push.wake(&n.device);
            }
        }
        Ok(())
    }

    /// Sends the gateway's due notices, one by one.
    async fn send_due(&self) -> Result<(), crate::store::StoreError> {
        let cfg = &self.ota.config.notices;
        let due = self
            .ota
            .store
            .ota_gateway_due(now_ms(), cfg.max_attempts, BATCH)
            .await?;
        for n in due {
            let phone = n.phone.as_deref().unwrap_or_default();
            let sent = match n.channel.as_str() {
                "sms" => gateway::send_sms(cfg, phone, &sms_text(&self.ota, &n)).await,
                _ => {
                    let id = format!("radcare-{}-{}", n.action, n.offer);
                    let href = base_url(&self.ota, &n.device);
                    let text = format!(
                        "RADCARE OTA {} {} {}",
                        n.release_name,
                        n.release_version,
                        n.created_at_ms / 1000
                    );
                    let si = Indication {
                        id: &id,
                        href: &href,
                        text: &text,
                    };
                    gateway::send_wap_push(cfg, phone, &si).await
                }
            };
            let outcome = match sent {
                Ok(()) => {
                    self.ota.store.ota_notice_sent(&n, now_ms()).await?;
                    "sent"
                }
                Err(e) => {
                    let attempts = n.attempts + 1;
                    let next = now_ms() + backoff(attempts).as_millis() as i64;
                    self.ota
                        .store
                        .ota_notice_failed(&n, next, &e.to_string())
                        .await?;
                    if attempts >= i64::from(cfg.max_attempts) {
                        tracing::error!(device = %n.device, channel = %n.channel, attempts, error = %e, "notice given up");
                    } else {
                        tracing::warn!(device = %n.device, channel = %n.channel, attempts, error = %e, "notice not sent, will retry");
                    }
                    "failed"
                }
            };
            metrics::counter!("radcare_ota_gateway_sends_total", "channel" => n.channel.clone(), "outcome" => outcome)
                .increment(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_are_bounded_per_device_and_in_all() {
        let hub = PushHub::default();
        let a1 = hub.hold("a", 2, 3).unwrap();
        let _a2 = hub.hold("a", 2, 3).unwrap();
        assert_eq!(hub.hold("a", 2, 3).err(), Some(Busy::Device));
        let _b = hub.hold("b", 2, 3).unwrap();
        assert_eq!(hub.hold("c", 2, 3).err(), Some(Busy::Everyone));
        drop(a1);
        assert!(
            hub.hold("c", 2, 3).is_ok(),
            "a released hold frees its place"
        );
        assert!(hub.connected("a") && hub.connected("c"));
        assert!(!hub.connected("d"));
    }

    #[tokio::test]
    async fn a_wake_reaches_the_held_request() {
        let hub = PushHub::default();
        let hold = hub.hold("a", 1, 1).unwrap();
        let woken = hold.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        hub.wake("a");
        tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("woken");
    }

    #[test]
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(600));
    }
}
