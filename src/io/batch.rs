//! Batched UDP: `recvmmsg` / `sendmmsg` over non-blocking sockets (the proxy's packet
//! path and the benchmark tools), and for the tools an epoll set that waits with a
//! nanosecond deadline and a stop flag for SIGINT / SIGTERM. Linux only, like the rest
//! of the fast path.
//!
//! Why not tokio: these tools are one thread by design (the machine has two cores,
//! shared by the load generator, the peer under test and the AAA), and a reactor adds
//! a wake-up and a readiness round trip per batch. Why not quinn-udp: it batches
//! receives, but sends one destination per call (GSO), while the AAA simulator and the
//! forward answer many peers in one batch. The unsafe code is confined to this file:
//! each call hands the kernel pointers into buffers this struct owns and does not move
//! while the call runs.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{SockAddr, SockAddrStorage};

/// Largest datagram the tools handle (the largest RADIUS packet).
pub const MAX_DATAGRAM: usize = 4096;

/// A peer address as the kernel gives it, kept raw so that answering a batch costs no
/// conversion.
#[derive(Clone, Copy)]
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn empty() -> RawAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid (unspecified)
        // address.
        RawAddr {
            storage: unsafe { mem::zeroed() },
            len: 0,
        }
    }

    pub fn from_socket_addr(addr: SocketAddr) -> RawAddr {
        let s = SockAddr::from(addr);
        let len = s.len();
        let mut storage = s.as_storage();
        // SAFETY: `SockAddrStorage` wraps a `sockaddr_storage`, which is the type viewed.
        let storage = *unsafe { storage.view_as::<libc::sockaddr_storage>() };
        RawAddr { storage, len }
    }

    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: `SockAddrStorage` wraps a `sockaddr_storage`, which is the type viewed;
        // `storage` and `len` were filled together by the kernel or by `from_socket_addr`.
        unsafe {
            *storage.view_as::<libc::sockaddr_storage>() = self.storage;
            SockAddr::new(storage, self.len)
        }
        .as_socket()
    }
}

impl std::fmt::Debug for RawAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_socket_addr() {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("<none>"),
        }
    }
}

/// A batch of datagram buffers for one `recvmmsg` or `sendmmsg` call.
pub struct Batch {
    bufs: Box<[[u8; MAX_DATAGRAM]]>,
    lens: Box<[usize]>,
    addrs: Box<[RawAddr]>,
    /// Whether entry i is sent to `addrs[i]` (otherwise on a connected socket).
    addressed: Box<[bool]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    len: usize,
}

// SAFETY: the raw pointers in `iovs` and `hdrs` point into this batch's own boxed
// buffers (which do not move with the struct) and are rewritten before every call, so
// moving the batch to another thread is sound.
unsafe impl Send for Batch {}

impl Batch {
    /// A batch of `capacity` datagrams (at most 1024, the kernel's UIO_MAXIOV).
    pub fn new(capacity: usize) -> Batch {
        let capacity = capacity.clamp(1, 1024);
        let iov = libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: mmsghdr is plain old data; the pointers are set before each call.
        let hdr: libc::mmsghdr = unsafe { mem::zeroed() };
        Batch {
            bufs: vec![[0u8; MAX_DATAGRAM]; capacity].into_boxed_slice(),
            lens: vec![0; capacity].into_boxed_slice(),
            addrs: vec![RawAddr::empty(); capacity].into_boxed_slice(),
            addressed: vec![false; capacity].into_boxed_slice(),
            iovs: vec![iov; capacity].into_boxed_slice(),
            hdrs: vec![hdr; capacity].into_boxed_slice(),
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == self.bufs.len()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Datagram `i` of the batch and where it came from (after `recv`) or goes to.
    pub fn get(&self, i: usize) -> (&[u8], &RawAddr) {
        (&self.bufs[i][..self.lens[i]], &self.addrs[i])
    }

    /// The buffer of the next entry, to write a datagram into before [`Batch::commit`].
    /// Panics when the batch is full.
    pub fn spare(&mut self) -> &mut [u8; MAX_DATAGRAM] {
        &mut self.bufs[self.len]
    }

    /// Adds the datagram written into [`Batch::spare`]: `len` octets, sent to `to`, or
    /// on a connected socket when `to` is `None`.
    pub fn commit(&mut self, len: usize, to: Option<&RawAddr>) {
        let i = self.len;
        self.lens[i] = len.min(MAX_DATAGRAM);
        self.addressed[i] = to.is_some();
        if let Some(a) = to {
            self.addrs[i] = *a;
        }
        self.len += 1;
    }

    /// Copies `data` in as the next datagram. Returns false (and adds nothing) when the
    /// batch is full or `data` is too long.
    pub fn push(&mut self, data: &[u8], to: Option<&RawAddr>) -> bool {
        if self.is_full() || data.len() > MAX_DATAGRAM {
            return false;
        }
        self.spare()[..data.len()].copy_from_slice(data);
        self.commit(data.len(), to);
        true
    }

    /// Receives up to `capacity` datagrams without blocking; 0 when none is waiting.
    /// Datagrams longer than [`MAX_DATAGRAM`] are kept with length 0 (callers drop
    /// them as malformed).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let cap = self.bufs.len();
        for i in 0..cap {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&raw mut self.addrs[i].storage).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by `self`, sized as declared, and
        // `self` is borrowed mutably for the whole call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                cap as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            self.len = 0;
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                // A connected socket reports an earlier ICMP port unreachable here.
                io::ErrorKind::ConnectionRefused => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for i in 0..n {
            let h = &self.hdrs[i];
            self.lens[i] = if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                0
            } else {
                h.msg_len as usize
            };
            self.addrs[i].len = h.msg_hdr.msg_namelen;
        }
        self.len = n;
        Ok(n)
    }

    /// Sends the batch's datagrams in order without blocking and empties the batch.
    /// Returns how many, from the first, the kernel took; the rest were not sent
    /// (socket buffer full, or an error for that datagram).
    pub fn send(&mut self, fd: RawFd) -> usize {
        self.send_waiting(fd, Duration::ZERO)
    }

    /// Like [`Batch::send`], but when the socket buffer is full, waits up to `stall` for
    /// room (once) before giving up on the rest.
    pub fn send_waiting(&mut self, fd: RawFd, stall: Duration) -> usize {
        let n = self.len;
        for i in 0..n {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            let h = &mut self.hdrs[i].msg_hdr;
            if self.addressed[i] {
                h.msg_name = (&raw mut self.addrs[i].storage).cast();
                h.msg_namelen = self.addrs[i].len;
            } else {
                h.msg_name = ptr::null_mut();
                h.msg_namelen = 0;
            }
            h.msg_iov = &raw mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        let mut sent = 0;
        let mut retries = 0;
        let mut waited = false;
        while sent < n {
            // SAFETY: as in `recv`; the headers from `sent` on are valid and initialised.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs.as_mut_ptr().add(sent),
                    (n - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                sent += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            retries += 1;
            if e.kind() == io::ErrorKind::WouldBlock && !waited && !stall.is_zero() {
                waited = true;
                if wait_writable(fd, stall) {
                    continue;
                }
            }
            // A stale ICMP error is reported once and cleared; EINTR is retried.
            let again = matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
            );
            if !again || retries > 4 {
                break;
            }
        }
        self.len = 0;
        sent
    }
}

/// Waits up to `timeout` for `fd` to have room to send; whether it has.
fn wait_writable(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd, alive across the call.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0 && p.revents & libc::POLLOUT != 0
}

/// Makes a non-blocking UDP socket bound to `bind`, with larger kernel buffers so that
/// a burst of a whole window does not overflow them.
pub fn udp_socket(
    bind: SocketAddr,
    connect: Option<SocketAddr>,
) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&bind.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {bind}: {e}")))?;
    if let Some(peer) = connect {
        s.connect(&peer.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {peer}: {e}")))?;
    }
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// An epoll set of sockets, each registered with a caller's token, level-triggered.
pub struct Poller {
    epfd: OwnedFd,
    events: Box<[libc::epoll_event]>,
    ready: usize,
    /// epoll_pwait2 (Linux 5.11) takes a nanosecond timeout; older kernels get epoll_wait
    /// with the timeout rounded up to a millisecond.
    precise: bool,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            // SAFETY: `fd` is a fresh descriptor we own.
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256].into_boxed_slice(),
            ready: 0,
            precise: true,
        })
    }

    pub fn add(&mut self, fd: &impl AsRawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` lives across the call; the fds are valid.
        let r = unsafe {
            libc::epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops watching `fd`.
    pub fn remove(&mut self, fd: &impl AsRawFd) -> io::Result<()> {
        // SAFETY: plain syscall on valid fds; EPOLL_CTL_DEL ignores the event argument.
        let r = unsafe {
            libc::epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits until a socket is readable or `timeout` passes (`None`: no limit; zero:
    /// just look). Returns the number of ready tokens, read with [`Poller::token`].
    /// An interrupting signal returns 0.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let max = self.events.len() as libc::c_int;
        let r = if self.precise {
            let ts = timeout.map(|d| libc::timespec {
                tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let tsp = ts
                .as_ref()
                .map_or(ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: the events buffer is owned by `self`; `tsp` is null or points at
            // `ts`, alive across the call.
            let r = unsafe {
                libc::epoll_pwait2(
                    self.epfd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    max,
                    tsp,
                    ptr::null(),
                )
            };
            if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                self.precise = false;
                return self.wait(timeout);
            }
            r
        } else {
            let ms = timeout.map_or(-1, |d| {
                d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int
            });
            // SAFETY: as above.
            unsafe { libc::epoll_wait(self.epfd.as_raw_fd(), self.events.as_mut_ptr(), max, ms) }
        };
        if r < 0 {
            self.ready = 0;
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        self.ready = r as usize;
        Ok(self.ready)
    }

    /// The token of ready socket `i` (< the count `wait` returned).
    pub fn token(&self, i: usize) -> u64 {
        debug_assert!(i < self.ready);
        self.events[i].u64
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs SIGINT and SIGTERM handlers that set a flag (without SA_RESTART, so a wait
/// returns at once) and returns the flag. Idempotent.
pub fn stop_on_signals() -> &'static AtomicBool {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction struct is fully initialised before the call.
        unsafe {
            let mut sa: libc::sigaction = mem::zeroed();
            sa.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(sig, &sa, ptr::null_mut());
        }
    }
    &STOP
}

/// Asks the kernel to wake this thread within 1 us of a timer instead of the default
/// 50 us slack, so a fixed-rate sender keeps its schedule.
pub fn tighten_timer_slack() {
    // SAFETY: plain prctl on the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_on_loopback() {
        let a = udp_socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let b_addr = {
            let b = udp_socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
            let addr = b.local_addr().unwrap();
            (b, addr)
        };
        let (b, b_addr) = b_addr;
        let to = RawAddr::from_socket_addr(b_addr);
        let mut out = Batch::new(8);
        for i in 0..5u8 {
            assert!(out.push(&[i; 30], Some(&to)));
        }
        assert_eq!(out.send(a.as_raw_fd()), 5);
        assert!(out.is_empty());
        let mut poller = Poller::new().unwrap();
        poller.add(&b, 7).unwrap();
        assert_eq!(poller.wait(Some(Duration::from_secs(2))).unwrap(), 1);
        assert_eq!(poller.token(0), 7);
        let mut inb = Batch::new(8);
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = inb.recv(b.as_raw_fd()).unwrap();
            for i in 0..n {
                let (d, from) = inb.get(i);
                assert_eq!(from.to_socket_addr(), Some(a.local_addr().unwrap()));
                got.push(d.to_vec());
            }
        }
        assert_eq!(got, (0..5u8).map(|i| vec![i; 30]).collect::<Vec<_>>());
        assert_eq!(inb.recv(b.as_raw_fd()).unwrap(), 0, "nothing left");
        assert_eq!(poller.wait(Some(Duration::ZERO)).unwrap(), 0);
    }

    #[test]
    fn connected_socket_sends_without_address() {
        let server = udp_socket("127.0.0.1:0".parse().unwrap(), None).unwrap();
        let client = udp_socket(
            "127.0.0.1:0".parse().unwrap(),
            Some(server.local_addr().unwrap()),
        )
        .unwrap();
        let mut out = Batch::new(2);
        assert!(out.push(b"hello", None));
        assert!(out.push(b"world", None));
        assert!(!out.push(b"full", None));
        assert_eq!(out.send(client.as_raw_fd()), 2);
        let mut poller = Poller::new().unwrap();
        poller.add(&server, 1).unwrap();
        poller.wait(Some(Duration::from_secs(2))).unwrap();
        let mut inb = Batch::new(4);
        let mut got = Vec::new();
        while got.len() < 2 {
            let n = inb.recv(server.as_raw_fd()).unwrap();
            got.extend((0..n).map(|i| inb.get(i).0.to_vec()));
        }
        assert_eq!(got, [b"hello".to_vec(), b"world".to_vec()]);
    }
}
