//! The engine's events (garden entries, accounting, upstream state) delivered to every
//! consumer that subscribed: the garden writer today, the console and the terminal
//! services next.
//!
//! Publishing never blocks and never fails the packet path: a consumer that falls more
//! than the bus's capacity behind loses the oldest events, and counts them itself
//! (`radcare_events_lost_total{consumer}`), once per gap rather than per event.

use tokio::sync::broadcast;

use crate::engine::Event;

/// Events kept for the slowest consumer: a BRAS reboot sends some thousands of garden
/// entries at once.
pub const CAPACITY: usize = 16 * 1024;

/// Where packet threads publish; cheap to clone, one per thread.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new(CAPACITY)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> EventBus {
        EventBus {
            tx: broadcast::channel(capacity).0,
        }
    }

    /// Hands an event to every consumer; with none subscribed it goes nowhere.
    pub fn publish(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// A new consumer, seeing what is published from now on. `consumer` labels its
    /// lost-events counter.
    pub fn subscribe(&self, consumer: &'static str) -> EventStream {
        EventStream {
            rx: self.tx.subscribe(),
            lost: metrics::counter!("radcare_events_lost_total", "consumer" => consumer),
            consumer,
        }
    }
}

/// One consumer's view of the bus.
pub struct EventStream {
    rx: broadcast::Receiver<Event>,
    lost: metrics::Counter,
    consumer: &'static str,
}

impl EventStream {
    /// The next event; `None` once every publisher is gone and all was read.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(n)) => self.count_lost(n),
            }
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.count_lost(n),
                Err(_) => return None,
            }
        }
    }

    fn count_lost(&self, n: u64) {
        self.lost.increment(n);
        tracing::warn!(
            consumer = self.consumer,
            lost = n,
            "consumer fell behind the event bus; oldest events lost"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(i: usize) -> Event {
        Event::UpstreamUp {
            upstream: format!("aaa-{i}"),
        }
    }

    #[tokio::test]
    async fn every_consumer_gets_every_event_and_the_end() {
        let bus = EventBus::new(8);
        let mut a = bus.subscribe("a");
        let mut b = bus.subscribe("b");
        for i in 0..3 {
            bus.publish(up(i));
        }
        drop(bus);
        for s in [&mut a, &mut b] {
            for i in 0..3 {
                assert_eq!(s.recv().await, Some(up(i)));
            }
            assert_eq!(s.recv().await, None);
        }
    }

    #[tokio::test]
    async fn a_slow_consumer_loses_the_oldest_and_goes_on() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe("slow");
        for i in 0..10 {
            bus.publish(up(i));
        }
        assert_eq!(slow.recv().await, Some(up(6)));
        assert_eq!(slow.try_recv(), Some(up(7)));
    }
}
