//! A Linux AF_PACKET socket bound to one interface: the bridge's wire. Written here
//! rather than taken from pnet because the kernel strips 802.1Q/802.1ad tags on receive
//! and hands them over only as PACKET_AUXDATA, which pnet's receiver drops; a bridge that
//! lost tags would move every VLAN's traffic onto the native one. Frames we send are
//! not looped back to us (PACKET_IGNORE_OUTGOING).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::wire::ether::EthernetFrame;

pub struct PacketSocket {
    fd: OwnedFd,
    name: String,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size we pass.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

impl PacketSocket {
    /// Opens a raw packet socket on `ifname`, promiscuous, with receive timeout `timeout`.
    pub fn open(ifname: &str, timeout: Duration) -> io::Result<PacketSocket> {
        let cname = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name"))?;
        // SAFETY: if_nametoindex reads a NUL-terminated string we own.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface `{ifname}`"),
            ));
        }
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket(2) with constant arguments; the fd is owned right away.
        let fd = unsafe {
            OwnedFd::from_raw_fd(check(libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                i32::from(proto),
            ))?)
        };
        let one: libc::c_int = 1;
        setopt(&fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one)?;
        setopt(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)?;
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        setopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        // SAFETY: a zeroed sockaddr_ll is valid; we fill the fields bind needs.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size given.
        check(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // SAFETY: as above for packet_mreq.
        let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mreq.mr_ifindex = ifindex as i32;
        mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
        setopt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)?;
        Ok(PacketSocket {
            fd,
            name: ifname.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Receives one frame into `buf` (replacing its contents) with any VLAN tag the
    /// kernel took off put back in place. `Ok(false)` on timeout.
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<bool> {
        const ROOM: usize = 4;
        buf.resize(65536 + ROOM, 0);
        let mut iov = libc::iovec {
            iov_base: buf[ROOM..].as_mut_ptr().cast(),
            iov_len: 65536,
        };
        let mut control = [0u64; 16];
        // SAFETY: a zeroed msghdr is valid; it points at our iovec and control buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: recvmsg into the buffers described by `msg`, all alive for the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(false),
                _ => Err(e),
            };
        }
        let n = n as usize;
        let mut tag = None;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_PACKET
                    && (*cmsg).cmsg_type == libc::PACKET_AUXDATA
                {
                    let aux: libc::tpacket_auxdata =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        tag = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        match tag {
            Some((tpid, tci)) if n >= 12 => {
                // Move the two addresses 4 octets left and put the tag after them.
                buf.copy_within(ROOM..ROOM + 12, 0);
                EthernetFrame::new_unchecked(&mut buf[..]).set_vlan_tag(tpid, tci);
                buf.truncate(n + ROOM);
            }
            _ => {
                buf.copy_within(ROOM..ROOM + n, 0);
                buf.truncate(n);
            }
        }
        Ok(true)
    }

    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: send(2) of a buffer we own, with its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
