//! A Linux AF_PACKET socket bound to one interface: the bridge's wire. Written here
//! rather than taken from pnet because the kernel strips 802.1Q/802.1ad tags on receive
//! and hands them over only as PACKET_AUXDATA, which pnet's receiver drops; a bridge that
//! lost tags would move every VLAN's traffic onto the native one. Frames we send are
//! not looped back to us (PACKET_IGNORE_OUTGOING).
//!
//! Offloads: a sender on the same host (a veth, a tap) hands over frames whose TCP/UDP
//! checksum is left for a NIC to fill (TP_STATUS_CSUMNOTREADY) and, with TSO, TCP
//! super-frames far larger than the wire. A relay through a packet socket meets no NIC
//! that would finish them, so the driver completes such checksums itself, and each
//! frame carries a virtio-net header (PACKET_VNET_HDR) saying whether it is a
//! super-frame, which is sent on with the same header for the kernel to segment.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::wire::ether::EthernetFrame;

pub struct PacketSocket {
    fd: OwnedFd,
    name: String,
}

/// `struct virtio_net_hdr` (native endian on a packet socket).
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;

/// What the kernel said of a received frame besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The sender left the TCP/UDP checksum for hardware to fill in.
    pub checksum_not_ready: bool,
    /// The virtio-net header of a super-frame (larger than the wire, to be segmented on
    /// sending); `None` for a plain frame.
    pub gso: Option<[u8; VNET_HDR_LEN]>,
}

/// `ETHTOOL_GGRO`, `ETHTOOL_GFLAGS` and the LRO flag (linux/ethtool.h).
const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETH_FLAG_LRO: u32 = 1 << 15;

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
        setopt(&fd, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &one)?;
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
    /// kernel took off put back in place. `Ok(None)` on timeout.
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<Option<Received>> {
        const ROOM: usize = 4;
        buf.resize(65536 + ROOM, 0);
        let mut vnet = [0u8; VNET_HDR_LEN];
        let mut iov = [
            libc::iovec {
                iov_base: vnet.as_mut_ptr().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: buf[ROOM..].as_mut_ptr().cast(),
                iov_len: 65536,
            },
        ];
        let mut control = [0u64; 16];
        // SAFETY: a zeroed msghdr is valid; it points at our iovecs and control buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: recvmsg into the buffers described by `msg`, all alive for the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
                _ => Err(e),
            };
        }
        let n = (n as usize).saturating_sub(VNET_HDR_LEN);
        let mut tag = None;
        let mut checksum_not_ready = false;
        // SAFETY: walking the control messages the kernel wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_PACKET
                    && (*cmsg).cmsg_type == libc::PACKET_AUXDATA
                {
                    let aux: libc::tpacket_auxdata =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                    checksum_not_ready = aux.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0;
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
                // Move the two addresses 4 octets left and put the tag after them (the
                // header's offsets already count it).
                buf.copy_within(ROOM..ROOM + 12, 0);
                EthernetFrame::new_unchecked(&mut buf[..]).set_vlan_tag(tpid, tci);
                buf.truncate(n + ROOM);
            }
            _ => {
                buf.copy_within(ROOM..ROOM + n, 0);
                buf.truncate(n);
            }
        }
        Ok(Some(Received {
            checksum_not_ready,
            gso: (vnet[1] != VIRTIO_NET_HDR_GSO_NONE).then_some(vnet),
        }))
    }

    /// Sends a frame as it is: checksums complete, no larger than the wire.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        self.send_with(&[0; VNET_HDR_LEN], frame)
    }

    /// Sends a super-frame with the virtio-net header it came with: the kernel cuts it
    /// into frames of the wire's size, each with its checksums.
    pub fn send_gso(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        self.send_with(vnet, frame)
    }

    fn send_with(&self, vnet: &[u8; VNET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        let iov = [
            libc::iovec {
                iov_base: vnet.as_ptr().cast_mut().cast(),
                iov_len: VNET_HDR_LEN,
            },
            libc::iovec {
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            },
        ];
        // SAFETY: a zeroed msghdr is valid; the kernel only reads the iovecs we own.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_ptr().cast_mut();
        msg.msg_iovlen = iov.len();
        // SAFETY: sendmsg(2) of buffers alive for the call.
        let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The offloads of this interface that merge received frames into ones larger than
    /// the wire (GRO, LRO), by name; a bridge refuses to start over them.
    pub fn merging_offloads(&self) -> io::Result<Vec<&'static str>> {
        let mut on = Vec::new();
        if self.ethtool_value(ETHTOOL_GGRO)? != 0 {
            on.push("gro");
        }
        if self.ethtool_value(ETHTOOL_GFLAGS)? & ETH_FLAG_LRO != 0 {
            on.push("lro");
        }
        Ok(on)
    }

    /// An `ETHTOOL_G*` query answering a `struct ethtool_value`.
    fn ethtool_value(&self, cmd: u32) -> io::Result<u32> {
        #[repr(C)]
        struct EthtoolValue {
            cmd: u32,
            data: u32,
        }
        let mut value = EthtoolValue { cmd, data: 0 };
        // SAFETY: a zeroed ifreq is valid; we set its name and data pointer.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr
            .ifr_name
            .iter_mut()
            .zip(self.name.bytes().take(libc::IFNAMSIZ - 1))
        {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
        // SAFETY: SIOCETHTOOL reads the ifreq and writes `value`, both alive here.
        check(unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) })?;
        Ok(value.data)
    }
}
