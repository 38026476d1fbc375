//! Batched UDP for the SIP core: one `recvmmsg(2)` takes up to
//! [`PER_CALL`] datagrams, each with the kernel's arrival time
//! (`SO_TIMESTAMPNS`); what one turn of the core sends goes out by
//! `sendmmsg(2)`, [`PER_CALL`] at a time.
//!
//! Why our own and not one read per datagram: at tens of thousands of
//! datagrams a second the per-call cost of `recvfrom` is a large share of
//! the core thread's time. The arrival times give the load-shedding signal
//! its meaning: how long the oldest datagram of a batch waited in the
//! socket queue, rather than only whether the queue was ever empty (a
//! queue that never empties while everything in it waits a millisecond is
//! a busy server, not an overloaded one).

use bytes::Bytes;
use nix::sys::socket::{recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage};
use nix::sys::time::TimeSpec;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Datagrams per `recvmmsg` call.
pub(crate) const PER_CALL: usize = 32;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Ask the kernel to stamp each datagram's arrival (best effort: without
/// it the reader reports no waits and shedding falls back to "the queue
/// was not emptied").
pub(crate) fn enable_timestamps(sock: &impl AsFd) {
    if let Err(e) = setsockopt(sock, sockopt::ReceiveTimestampns, &true) {
        tracing::debug!(error = %e, "SO_TIMESTAMPNS not available");
    }
}

/// What one read found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Read {
    /// Datagrams appended.
    pub count: usize,
    /// The socket had nothing more queued.
    pub emptied: bool,
}

/// Reusable buffers for [`UdpReader::read`].
pub(crate) struct UdpReader {
    hdr: MultiHeaders<SockaddrStorage>,
    cmsg: Vec<u8>,
    bufs: Vec<Vec<u8>>,
}

impl UdpReader {
    pub(crate) fn new() -> UdpReader {
        let cmsg = nix::cmsg_space!(TimeSpec);
        UdpReader { hdr: MultiHeaders::preallocate(PER_CALL, Some(cmsg.clone())), cmsg, bufs: vec![vec![0u8; MAX_DATAGRAM]; PER_CALL] }
    }

    /// Read what is queued on `sock` (at most [`PER_CALL`] datagrams)
    /// without blocking, appending each datagram and its source to `out`
    /// and raising `waited` to the longest time one of them spent queued.
    /// `Err` with `WouldBlock` when nothing was queued (for tokio's
    /// `try_io`, which then clears the readiness).
    pub(crate) fn read(&mut self, sock: &impl AsRawFd, out: &mut Vec<(Bytes, SocketAddr)>, waited: &mut Option<Duration>) -> io::Result<Read> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self.bufs.iter_mut().map(|b| [IoSliceMut::new(&mut b[..])]).collect();
        let res = recvmmsg(sock.as_raw_fd(), &mut self.hdr, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None).map_err(io::Error::from)?;
        let mut count = 0;
        let mut reset = false;
        for m in res {
            count += 1;
            if m.flags.contains(MsgFlags::MSG_TRUNC) {
                // Larger than any SIP message we take: dropped.
                continue;
            }
            match m.cmsgs() {
                Ok(it) => {
                    for c in it {
                        if let ControlMessageOwned::ScmTimestampns(ts) = c {
                            let at = Duration::new(ts.tv_sec().max(0) as u64, ts.tv_nsec().clamp(0, 999_999_999) as u32);
                            let w = now.saturating_sub(at);
                            *waited = Some(waited.map_or(w, |x| x.max(w)));
                        }
                    }
                }
                // The kernel shrank a header's control length: start afresh next time.
                Err(_) => reset = true,
            }
            let (Some(from), Some(data)) = (m.address.as_ref().and_then(to_socket_addr), m.iovs().next()) else { continue };
            out.push((Bytes::copy_from_slice(&data[..m.bytes.min(data.len())]), from));
        }
        if reset {
            self.hdr = MultiHeaders::preallocate(PER_CALL, Some(self.cmsg.clone()));
        }
        if count == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(Read { count, emptied: count < PER_CALL })
    }
}

/// Datagrams waiting to be sent by [`UdpWriter::flush`].
pub(crate) struct UdpWriter {
    hdr: MultiHeaders<SockaddrStorage>,
    queue: Vec<(Bytes, SocketAddr)>,
}

impl UdpWriter {
    pub(crate) fn new() -> UdpWriter {
        UdpWriter { hdr: MultiHeaders::preallocate(PER_CALL, None), queue: Vec::with_capacity(PER_CALL) }
    }

    pub(crate) fn push(&mut self, data: Bytes, dest: SocketAddr) {
        self.queue.push((data, dest));
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Send everything queued on `sock` without blocking. `Err` with
    /// `WouldBlock` when the socket's buffer is full (what was not sent
    /// stays queued, in order). A datagram the kernel refuses for another
    /// reason (an unreachable destination reported by ICMP) is dropped, as
    /// a lost datagram would be: SIP retransmits.
    pub(crate) fn flush(&mut self, sock: &impl AsRawFd) -> io::Result<()> {
        while !self.queue.is_empty() {
            let n = self.queue.len().min(PER_CALL);
            let slices: Vec<[IoSlice<'_>; 1]> = self.queue[..n].iter().map(|(d, _)| [IoSlice::new(d)]).collect();
            let addrs: Vec<Option<SockaddrStorage>> = self.queue[..n].iter().map(|(_, a)| Some(SockaddrStorage::from(*a))).collect();
            let none: [ControlMessage<'_>; 0] = [];
            let sent = match sendmmsg(sock.as_raw_fd(), &mut self.hdr, slices.iter(), &addrs, none, MsgFlags::empty()) {
                Ok(r) => r.count(),
                Err(nix::errno::Errno::EAGAIN) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => {
                    tracing::debug!(dest = %self.queue[0].1, error = %e, "udp send failed");
                    1
                }
            };
            self.queue.drain(..sent.min(self.queue.len()));
        }
        Ok(())
    }
}

/// Reads for an RTP relay socket, two datagrams at a time. A relay
/// socket gets a packet every 20 ms: with one `recvfrom` per datagram,
/// tokio reads each socket twice per packet (the second read, failing with
/// EAGAIN, is how it learns the queue is empty and clears the socket's
/// readiness). One `recvmmsg` asking for two says the same in one call:
/// fewer than two back means the queue was empty.
///
/// What one read found: how many datagrams (1 or 2), and each one's
/// length and source (`None`: an address we cannot use).
pub(crate) type Pair = (usize, [(usize, Option<SocketAddr>); 2]);

thread_local! {
    /// The message headers of [`read_pair`], one set per thread (nix's are
    /// not `Send`, and a relay task may move between the runtime's threads
    /// between reads, never during one).
    static PAIR_HEADERS: std::cell::RefCell<MultiHeaders<SockaddrStorage>> = std::cell::RefCell::new(MultiHeaders::preallocate(2, None));
}

/// Read up to two queued datagrams from `sock` without blocking, the first
/// into `first`, the second into `second` (each truncated to its buffer).
/// `Err` with `WouldBlock` when nothing was queued.
pub(crate) fn read_pair(sock: &impl AsRawFd, first: &mut [u8], second: &mut [u8]) -> io::Result<Pair> {
    PAIR_HEADERS.with(|h| {
        let mut hdr = h.borrow_mut();
        let mut iovs = [[IoSliceMut::new(first)], [IoSliceMut::new(second)]];
        let res = recvmmsg(sock.as_raw_fd(), &mut hdr, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None).map_err(io::Error::from)?;
        let mut out: Pair = (0, [(0, None); 2]);
        for (k, m) in res.enumerate().take(2) {
            out.0 = k + 1;
            out.1[k] = (m.bytes, m.address.as_ref().and_then(to_socket_addr));
        }
        if out.0 == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(out)
    })
}

fn to_socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = a.as_sockaddr_in6()?;
    Some(SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_batch_with_sources_and_waits() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        enable_timestamps(&rx);
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let dest = rx.local_addr().expect("addr");
        let mut reader = UdpReader::new();
        let mut out = Vec::new();
        let mut waited = None;
        let e = reader.read(&rx, &mut out, &mut waited).expect_err("nothing queued");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        for i in 0..(PER_CALL + 3) {
            tx.send_to(format!("OPTIONS {i}").as_bytes(), dest).expect("send");
        }
        let first = reader.read(&rx, &mut out, &mut waited).expect("a batch");
        assert_eq!(first, Read { count: PER_CALL, emptied: false });
        let second = reader.read(&rx, &mut out, &mut waited).expect("the rest");
        assert_eq!(second, Read { count: 3, emptied: true });
        assert_eq!(out.len(), PER_CALL + 3);
        assert_eq!(&out[0].0[..], b"OPTIONS 0");
        assert_eq!(&out[PER_CALL + 2].0[..], format!("OPTIONS {}", PER_CALL + 2).as_bytes());
        assert!(out.iter().all(|(_, from)| *from == tx.local_addr().expect("addr")));
        let w = waited.expect("arrival times");
        assert!(w < Duration::from_secs(5), "{w:?}");
    }

    #[test]
    fn pair_reads_say_when_the_queue_was_emptied() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        rx.set_nonblocking(true).expect("nonblocking");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let dest = rx.local_addr().expect("addr");
        let from = Some(tx.local_addr().expect("addr"));
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        assert_eq!(read_pair(&rx, &mut a, &mut b).expect_err("empty").kind(), io::ErrorKind::WouldBlock);
        for p in ["one", "two", "three"] {
            tx.send_to(p.as_bytes(), dest).expect("send");
        }
        assert_eq!(read_pair(&rx, &mut a, &mut b).expect("two"), (2, [(3, from), (3, from)]));
        assert_eq!((&a[..3], &b[..3]), (&b"one"[..], &b"two"[..]));
        // One back: the queue is empty now.
        assert_eq!(read_pair(&rx, &mut a, &mut b).expect("one"), (1, [(5, from), (0, None)]));
        assert_eq!(&a[..5], b"three");
        assert_eq!(read_pair(&rx, &mut a, &mut b).expect_err("empty").kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn writes_queued_datagrams_in_order_in_batches() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let rx2 = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.set_nonblocking(true).expect("nonblocking");
        let mut w = UdpWriter::new();
        let total = PER_CALL * 2 + 5;
        for i in 0..total {
            let dest = if i % 2 == 0 { rx.local_addr() } else { rx2.local_addr() }.expect("addr");
            w.push(Bytes::from(format!("SIP/2.0 200 OK {i}")), dest);
        }
        w.flush(&tx).expect("sent");
        assert_eq!(w.len(), 0);
        let mut buf = [0u8; 64];
        for (sock, first) in [(&rx, 0), (&rx2, 1)] {
            for i in (first..total).step_by(2) {
                let (n, from) = sock.recv_from(&mut buf).expect("recv");
                assert_eq!(&buf[..n], format!("SIP/2.0 200 OK {i}").as_bytes());
                assert_eq!(from, tx.local_addr().expect("addr"));
            }
        }
    }
}
