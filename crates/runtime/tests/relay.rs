//! The RTP relay with real loopback sockets: packets cross untouched in
//! both directions, and symmetric latching reaches a phone that announced
//! an address it cannot be reached at (behind NAT). Some tests run the
//! relays on the pool's runtime, others on media threads.

use b2bua::{Media, Side};
use runtime::RelayPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut b = [0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut b)).await.expect("packet within 2 s").expect("recv");
    b[..n].to_vec()
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef]);
    p.extend(std::iter::repeat_n(0xff, 160));
    p
}

/// (On media threads of its own, as the switch runs it.)
#[tokio::test]
async fn relays_both_ways_and_latches_behind_nat() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 41000, 41100).with_threads(2).expect("media threads");
    let (pa, pb) = pool.open("call-1").expect("ports");
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.expect("a");
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.expect("b");
    // A announces its real address; B announces one where nothing listens
    // (like a private address behind NAT): loopback, so nothing leaves the host.
    pool.set_peer("call-1", Side::A, phone_a.local_addr().expect("addr"));
    let unreachable: SocketAddr = "127.0.0.99:9".parse().expect("addr");
    pool.set_peer("call-1", Side::B, unreachable);
    let relay_a: SocketAddr = format!("127.0.0.1:{pa}").parse().expect("addr");
    let relay_b: SocketAddr = format!("127.0.0.1:{pb}").parse().expect("addr");
    // B (behind NAT) sends first: the relay latches onto where it really is,
    // and B's packet reaches A untouched.
    phone_b.send_to(&rtp(1), relay_b).await.expect("send");
    assert_eq!(recv(&phone_a).await, rtp(1));
    // A's packets now reach B at its real address, not the announced one.
    for seq in 10..20 {
        phone_a.send_to(&rtp(seq), relay_a).await.expect("send");
        assert_eq!(recv(&phone_b).await, rtp(seq));
    }
    // RTCP on port + 1 is relayed the same way (latched on its own socket).
    let rtcp_b = UdpSocket::bind("127.0.0.1:0").await.expect("rtcp b");
    rtcp_b.send_to(b"rtcp-rr", SocketAddr::new(relay_b.ip(), pb + 1)).await.expect("send");
    // RTCP is periodic: A keeps sending until B's latch is in place (the
    // relay may see A's first report before B's).
    let mut got = None;
    for _ in 0..50 {
        phone_a.send_to(b"rtcp-sr", SocketAddr::new(relay_a.ip(), pa + 1)).await.expect("send");
        let mut b = [0u8; 64];
        if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(40), rtcp_b.recv_from(&mut b)).await {
            got = Some(b[..n].to_vec());
            break;
        }
    }
    assert_eq!(got, Some(b"rtcp-sr".to_vec()), "A's RTCP reaches B's latched RTCP address");
    let (to_a, to_b) = pool.stats("call-1");
    assert_eq!((to_a, to_b), (1, 10));
    // A new SDP address from a re-INVITE re-arms latching.
    let phone_b2 = UdpSocket::bind("127.0.0.1:0").await.expect("b2");
    pool.set_peer("call-1", Side::B, phone_b2.local_addr().expect("addr"));
    phone_a.send_to(&rtp(30), relay_a).await.expect("send");
    assert_eq!(recv(&phone_b2).await, rtp(30));
    pool.close("call-1");
    assert!(pool.is_empty());
    // The ports are released (the aborted task drops its sockets).
    assert!(bindable_soon(relay_a).await);
}

async fn bindable_soon(addr: SocketAddr) -> bool {
    for _ in 0..200 {
        if std::net::UdpSocket::bind(addr).is_ok() {
            return true;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test]
async fn pool_runs_out_then_recovers() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 42000, 42007);
    // 8 ports = two calls (4 ports each).
    assert!(pool.open("a").is_some());
    assert!(pool.open("b").is_some());
    assert!(pool.open("c").is_none(), "no ports left");
    pool.close("a");
    assert!(bindable_soon("127.0.0.1:42000".parse().expect("addr")).await);
    assert!(pool.open("c").is_some());
}

#[tokio::test]
async fn ringback_tone_flows_to_a_until_b_speaks() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 41200, 41300);
    let (_pa, pb) = pool.open("call-t").expect("ports");
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.expect("a");
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.expect("b");
    pool.set_peer("call-t", Side::A, phone_a.local_addr().expect("addr"));
    pool.tone("call-t", media::ToneGen::new(media::ToneSpec::ringback_cn(), 0, 7, 1));
    // 20 ms packets of our tone (PT 0, SSRC 7, consecutive sequence numbers).
    let mut seqs = Vec::new();
    for _ in 0..5 {
        let p = recv(&phone_a).await;
        let r = media::rtp::parse(&p).expect("rtp");
        assert_eq!((r.payload_type, r.ssrc, r.payload.len()), (0, 7, 160));
        seqs.push(r.seq);
    }
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    // B's media arrives: the tone stops and B's packets are what A gets.
    pool.set_peer("call-t", Side::B, phone_b.local_addr().expect("addr"));
    phone_b.send_to(&rtp(500), SocketAddr::new("127.0.0.1".parse().expect("ip"), pb)).await.expect("send");
    let mut from_b = false;
    for _ in 0..20 {
        let p = recv(&phone_a).await;
        if p == rtp(500) {
            from_b = true;
            break;
        }
    }
    assert!(from_b, "B's packet reached A");
    // No more tone after it.
    let mut b = [0u8; 256];
    let later = tokio::time::timeout(Duration::from_millis(200), phone_a.recv_from(&mut b)).await;
    assert!(later.is_err(), "the tone stopped when B spoke");
    pool.close("call-t");
}

/// Overload: a flood queued on the A side must not starve the B side. One
/// socket plays both phones, so everything the relay sends arrives in the
/// order it was sent: B's single packet must come out among the first few,
/// not after the whole flood (as with sockets polled in a fixed order).
#[tokio::test]
async fn a_flood_on_one_side_does_not_starve_the_other() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 41300, 41400);
    let (pa, pb) = pool.open("call-flood").expect("ports");
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("phone");
    let me = sender.local_addr().expect("addr");
    pool.set_peer("call-flood", Side::A, me);
    pool.set_peer("call-flood", Side::B, me);
    let relay_a: SocketAddr = format!("127.0.0.1:{pa}").parse().expect("addr");
    let relay_b: SocketAddr = format!("127.0.0.1:{pb}").parse().expect("addr");
    // Small packets so the whole flood fits the sockets' receive buffers.
    let small = |seq: u16| {
        let mut p = rtp(seq);
        p.truncate(12 + 20);
        p
    };
    // Blocking sends never yield: the relay task (same thread) sees nothing
    // until every packet is queued: 100 from A, then one from B.
    const FLOOD: u16 = 100;
    for seq in 0..FLOOD {
        sender.send_to(&small(seq), relay_a).expect("queue A's packet");
    }
    sender.send_to(&small(50_000), relay_b).expect("queue B's packet");
    sender.set_nonblocking(true).expect("nonblocking");
    let phone = UdpSocket::from_std(sender).expect("tokio socket");
    let mut order = Vec::new();
    while order.len() < usize::from(FLOOD) + 1 {
        let p = recv(&phone).await;
        order.push(u16::from_be_bytes([p[2], p[3]]));
    }
    let at = order.iter().position(|s| *s == 50_000).expect("B's packet relayed");
    assert!(at < 8, "B's packet came out after {at} of A's: {order:?}");
    let mut a: Vec<u16> = order.into_iter().filter(|s| *s != 50_000).collect();
    a.sort_unstable();
    assert_eq!(a, (0..FLOOD).collect::<Vec<_>>(), "every A packet relayed once");
}

/// A flood that spends the relay task's whole tokio budget in one poll,
/// ending exactly where the socket's queue is found empty (127 two-packet
/// reads and a single: 128 reads, the budget). The relay yields there;
/// the socket must still wake it for each later packet, which takes the
/// relay's bookkeeping of which sockets hold its waker (`recv_any`) to be
/// right across the yield.
#[tokio::test]
async fn a_socket_emptied_as_the_budget_runs_out_still_wakes_the_relay() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 41700, 41800);
    let (pa, _pb) = pool.open("call-budget").expect("ports");
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("phone");
    // Room for the whole flood coming back.
    socket2::SockRef::from(&sender).set_recv_buffer_size(4 << 20).expect("receive buffer");
    let me = sender.local_addr().expect("addr");
    pool.set_peer("call-budget", Side::A, me);
    pool.set_peer("call-budget", Side::B, me);
    let relay_a: SocketAddr = format!("127.0.0.1:{pa}").parse().expect("addr");
    // Header-only packets, so the flood fits the relay socket's default buffer.
    let small = |seq: u16| {
        let mut p = rtp(seq);
        p.truncate(12);
        p
    };
    // Queued before the relay task (same thread) first runs.
    const FLOOD: u16 = 255;
    for seq in 0..FLOOD {
        sender.send_to(&small(seq), relay_a).expect("queue A's packet");
    }
    sender.set_nonblocking(true).expect("nonblocking");
    let phone = UdpSocket::from_std(sender).expect("tokio socket");
    let mut got = Vec::new();
    while got.len() < usize::from(FLOOD) {
        let p = recv(&phone).await;
        got.push(u16::from_be_bytes([p[2], p[3]]));
    }
    got.sort_unstable();
    assert_eq!(got, (0..FLOOD).collect::<Vec<_>>(), "every flooded packet relayed once");
    // Then single packets, each sent while the relay sleeps.
    for seq in 1000..1003u16 {
        tokio::task::yield_now().await;
        phone.send_to(&small(seq), relay_a).await.expect("send");
        let p = recv(&phone).await;
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), seq, "the next packet from A is relayed");
    }
}

/// A re-INVITE moves the callee's media to another device: the caller's
/// phone keeps seeing one stream (the first SSRC, consecutive sequence
/// numbers, timestamps one frame on, the marker bit on the first packet
/// of the new source).
#[tokio::test]
async fn a_new_source_after_a_reinvite_keeps_the_stream_continuous() {
    let mut pool = RelayPool::new("127.0.0.1".parse().expect("ip"), 41500, 41600);
    let (_pa, pb) = pool.open("call-src").expect("ports");
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.expect("a");
    let b_first = UdpSocket::bind("127.0.0.1:0").await.expect("b1");
    let b_second = UdpSocket::bind("127.0.0.1:0").await.expect("b2");
    pool.set_peer("call-src", Side::A, phone_a.local_addr().expect("addr"));
    pool.set_peer("call-src", Side::B, b_first.local_addr().expect("addr"));
    let relay_b: SocketAddr = format!("127.0.0.1:{pb}").parse().expect("addr");
    let pkt = |seq: u16, ts: u32, ssrc: u32| {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend(std::iter::repeat_n(0xd5, 160));
        p
    };
    let head = |p: &[u8]| (p[1] & 0x80 != 0, u16::from_be_bytes([p[2], p[3]]), u32::from_be_bytes([p[4], p[5], p[6], p[7]]), u32::from_be_bytes([p[8], p[9], p[10], p[11]]));
    for k in 0..5u16 {
        let p = pkt(10 + k, 1000 + 160 * u32::from(k), 0x1111);
        b_first.send_to(&p, relay_b).await.expect("send");
        assert_eq!(recv(&phone_a).await, p, "one source: untouched");
    }
    // The re-INVITE: B's media now comes from elsewhere, with its own stream.
    pool.set_peer("call-src", Side::B, b_second.local_addr().expect("addr"));
    // The relay takes the new address in before the new source's first
    // packet arrives (its socket was connected to the old one, which drops
    // packets from elsewhere until then, as the latch did).
    tokio::task::yield_now().await;
    for k in 0..5u16 {
        b_second.send_to(&pkt(7000 + k, 555_000 + 160 * u32::from(k), 0x2222), relay_b).await.expect("send");
        let got = recv(&phone_a).await;
        assert_eq!(head(&got), (k == 0, 15 + k, 1000 + 160 * (5 + u32::from(k)), 0x1111), "packet {k} of the new source");
        assert_eq!(&got[12..], &[0xd5; 160][..], "payload untouched");
    }
}

/// The next packet `s` receives, and where it came from.
async fn recv_from(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut b = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut b)).await.expect("packet within 2 s").expect("recv");
    (b[..n].to_vec(), from)
}

/// The first packet `s` receives that is `want`, skipping others (a tone
/// still in flight); where it came from.
async fn recv_this(s: &UdpSocket, want: &[u8]) -> SocketAddr {
    for _ in 0..100 {
        let (p, from) = recv_from(s).await;
        if p == want {
            return from;
        }
    }
    panic!("the packet never came");
}

/// A uuid-standby agent's standing call lent to a queue member's call:
/// the two phones talk through the member's relay, each hearing the other
/// from the port its own call's SDP named; given back (or the member's
/// call closed), the standing call has its side again: its silence (here
/// a tone, to tell it apart) plays to the agent once more, and the
/// agent's packets go where its own relay sends them.
#[tokio::test]
async fn a_standing_call_is_lent_to_a_member_and_taken_back() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    // Two media threads: the two calls' relays run on different ones, and
    // the member's relay reads and sends on sockets of the other thread.
    let mut pool = RelayPool::new(ip, 41700, 41800).with_threads(2).expect("media threads");
    let (m_a, _) = pool.open("member").expect("ports");
    let (g_a, _) = pool.open("agent").expect("ports");
    let (m_a, g_a) = (SocketAddr::new(ip, m_a), SocketAddr::new(ip, g_a));
    let member = UdpSocket::bind("127.0.0.1:0").await.expect("member");
    let agent = UdpSocket::bind("127.0.0.1:0").await.expect("agent");
    let elsewhere = UdpSocket::bind("127.0.0.1:0").await.expect("elsewhere");
    pool.set_peer("member", Side::A, member.local_addr().expect("addr"));
    pool.set_peer("agent", Side::A, agent.local_addr().expect("addr"));
    pool.set_peer("agent", Side::B, elsewhere.local_addr().expect("addr"));
    pool.tone("agent", media::ToneGen::new(media::ToneSpec::ringback_cn(), 0, 77, 1));
    let (p, from) = recv_from(&agent).await;
    assert_eq!((media::rtp::parse(&p).expect("rtp").ssrc, from), (77, g_a), "the standing call's own audio");
    for round in 0..2 {
        assert!(pool.join("member", "agent"));
        // Both ways, each phone hears the other from its own call's port.
        // (The relays run on their own threads: the member keeps talking
        // until its relay has the agent's side.)
        let mut joined = None;
        for _ in 0..50 {
            member.send_to(&rtp(100 + round), m_a).await.expect("send");
            let mut b = [0u8; 2048];
            while let Ok(Ok((n, from))) = tokio::time::timeout(Duration::from_millis(40), agent.recv_from(&mut b)).await {
                if b[..n] == rtp(100 + round)[..] {
                    joined = Some(from);
                    break;
                }
            }
            if joined.is_some() {
                break;
            }
        }
        assert_eq!(joined, Some(g_a), "round {round}: the member reaches the agent");
        for seq in 0..5 {
            agent.send_to(&rtp(200 + seq), g_a).await.expect("send");
            assert_eq!(recv_this(&member, &rtp(200 + seq)).await, m_a);
        }
        if round == 0 {
            pool.unjoin("member");
        } else {
            pool.close("member");
        }
        // Taken back: the agent's packets go to its own call's far side
        // again (the agent keeps talking until the relay has its side
        // back), and its own audio resumes.
        let mut back = false;
        for seq in 0..50 {
            agent.send_to(&rtp(300 + seq), g_a).await.expect("send");
            let mut b = [0u8; 2048];
            if let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(40), elsewhere.recv_from(&mut b)).await {
                assert_eq!(media::rtp::parse(&b[..n]).expect("rtp").ssrc, 0xdead_beef);
                back = true;
                break;
            }
        }
        assert!(back, "round {round}: the standing call relays its agent again");
        let mut tone = false;
        for _ in 0..100 {
            let (p, _) = recv_from(&agent).await;
            if media::rtp::parse(&p).is_ok_and(|r| r.ssrc == 77) {
                tone = true;
                break;
            }
        }
        assert!(tone, "round {round}: the agent hears its own call's audio again");
    }
    pool.close("agent");
}

/// A stream that reaches a relay port before the real phone (a phone still
/// sending to a port reused after a crash, or RTP bleed: packets sent to
/// guess a call's port) holds the latch only until the address the side
/// announced sends; from then on the stray source is neither relayed nor
/// answered.
#[tokio::test]
async fn the_announced_address_takes_the_latch_from_a_stray_stream() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 41900, 41990);
    let (pa, pb) = pool.open("call-s").expect("ports");
    let (relay_a, relay_b) = (SocketAddr::new(ip, pa), SocketAddr::new(ip, pb));
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.expect("a");
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.expect("b");
    let stray = UdpSocket::bind("127.0.0.1:0").await.expect("stray");
    pool.set_peer("call-s", Side::A, phone_a.local_addr().expect("addr"));
    pool.set_peer("call-s", Side::B, phone_b.local_addr().expect("addr"));
    // The stray stream comes first: it latches A's side for now.
    stray.send_to(&rtp(1), relay_a).await.expect("send");
    assert_eq!(recv(&phone_b).await, rtp(1));
    // The real phone speaks: the latch is its again, B hears it.
    phone_a.send_to(&rtp(2), relay_a).await.expect("send");
    assert_eq!(recv(&phone_b).await, rtp(2));
    // B's packets go to the real phone, not the stray one.
    phone_b.send_to(&rtp(3), relay_b).await.expect("send");
    assert_eq!(recv(&phone_a).await, rtp(3));
    // The stray source is dropped now; the phone's next packet is what B gets.
    stray.send_to(&rtp(4), relay_a).await.expect("send");
    phone_a.send_to(&rtp(5), relay_a).await.expect("send");
    assert_eq!(recv(&phone_b).await, rtp(5), "the stray packet was not relayed");
    let mut b = [0u8; 64];
    let late = tokio::time::timeout(Duration::from_millis(100), stray.recv_from(&mut b)).await;
    assert!(late.is_err(), "nothing was sent to the stray source after the phone took the latch back");
    pool.close("call-s");
}

/// 20 ms frames of a sine (or two, DTMF) at 8 kHz, `n` of them.
fn sine_frames(freqs: &[f64], n: usize) -> Vec<Vec<i16>> {
    (0..n)
        .map(|k| {
            (0..160)
                .map(|i| {
                    let t = (k * 160 + i) as f64 / 8000.0;
                    let v: f64 = freqs.iter().map(|f| (2.0 * std::f64::consts::PI * f * t).sin()).sum();
                    (v * 6000.0 / freqs.len() as f64) as i16
                })
                .collect()
        })
        .collect()
}

/// Power of `freq` in `x` (8 kHz).
fn goertzel(x: &[i16], freq: f64) -> f64 {
    testkit::audio::power(x, freq, 8000.0)
}

/// A call relayed untouched in Opus (payload type 111 from A, 96 from B:
/// the legs listed it differently), with no telephone-event: the relay
/// decodes the caller's Opus for in-band digits, and both sides' Opus for
/// the recording (caller's DTMF 5 left, callee's 1000 Hz right). On media
/// threads, as the switch runs it.
#[tokio::test]
async fn a_relayed_opus_call_is_recorded_and_the_callers_inband_digits_detected() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 42100, 42200).with_threads(1).expect("media threads");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    pool.set_events(tx);
    let (pa, pb) = pool.open("opus").expect("ports");
    let (relay_a, relay_b) = (SocketAddr::new(ip, pa), SocketAddr::new(ip, pb));
    let (phone_a, phone_b) = phones(&mut pool, "opus").await;
    pool.relayed("opus", Some(b2bua::Relayed { codec: sdp::Codec::OPUS, from_a: 111, from_b: 96 }));
    pool.detect_dtmf("opus", runtime::Digits::Inband);
    let dir = std::env::temp_dir().join(format!("ferroswitch-relay-opus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    pool.record("opus", dir.join("opus.wav"), media::g711::Law::Mulaw);
    let mut enc_a = media::codec::Encoder::new(media::codec::Codec::Opus).expect("encoder");
    let mut enc_b = media::codec::Encoder::new(media::codec::Codec::Opus).expect("encoder");
    // 60 ms of silence, 200 ms of DTMF 5 (770 + 1336 Hz), then 1 s of silence
    // from A; 1.26 s of 1000 Hz from B.
    let mut from_a = sine_frames(&[], 3);
    from_a.extend(sine_frames(&[770.0, 1336.0], 10));
    from_a.extend(sine_frames(&[], 50));
    let from_b = sine_frames(&[1000.0], 63);
    for (k, (a, b)) in from_a.iter().zip(&from_b).enumerate() {
        for (pcm, enc, pt, ssrc, sock, relay) in [(a, &mut enc_a, 111u8, 0xa, &phone_a, relay_a), (b, &mut enc_b, 96, 0xb, &phone_b, relay_b)] {
            let mut payload = Vec::new();
            enc.encode(pcm, &mut payload).expect("encode");
            let p = media::rtp::build(pt, k == 0, k as u16, 960 * k as u32, ssrc, &payload);
            sock.send_to(&p, relay).await.expect("send");
        }
        // Each phone takes what the relay sent it (so the relay never
        // finds a full socket); real time is not needed: the recorder
        // places audio by timestamp.
        recv(&phone_b).await;
        recv(&phone_a).await;
    }
    let digit = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("a digit within 5 s");
    assert!(matches!(digit, Some(runtime::RelayEvent::Dtmf(ref c, '5')) if c == "opus"), "{digit:?}");
    pool.close("opus");
    let rec = pool.take_recording("opus").expect("recorded").await.expect("finished").expect("a recording");
    let wav = std::fs::read(&rec.path).expect("wav");
    let _ = std::fs::remove_dir_all(&dir);
    let (mut l, mut r) = (Vec::new(), Vec::new());
    for f in wav[44..].chunks_exact(4) {
        l.push(i16::from_le_bytes([f[0], f[1]]));
        r.push(i16::from_le_bytes([f[2], f[3]]));
    }
    assert!(l.len() >= 8000, "about 1.26 s recorded: {} samples", l.len());
    assert!(goertzel(&l, 770.0) > 100.0 * goertzel(&l, 1000.0).max(1e-3), "the caller's DTMF, left");
    assert!(goertzel(&r, 1000.0) > 100.0 * goertzel(&r, 770.0).max(1e-3), "the callee's 1000 Hz, right");
}

/// The two phones of `call`, each side's peer set to its socket.
async fn phones(pool: &mut RelayPool, call: &str) -> (UdpSocket, UdpSocket) {
    let phone_a = UdpSocket::bind("127.0.0.1:0").await.expect("a");
    let phone_b = UdpSocket::bind("127.0.0.1:0").await.expect("b");
    pool.set_peer(call, Side::A, phone_a.local_addr().expect("addr"));
    pool.set_peer(call, Side::B, phone_b.local_addr().expect("addr"));
    (phone_a, phone_b)
}

/// A phone's RTP and RTCP sockets on consecutive ports.
async fn phone_pair() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("rtp");
        let port = rtp.local_addr().expect("addr").port();
        if port < u16::MAX {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)).await {
                return (rtp, rtcp);
            }
        }
    }
}

fn g711_side(pt: u8) -> b2bua::TranscodeSide {
    let codec = if pt == 0 { sdp::Codec::PCMU } else { sdp::Codec::PCMA };
    b2bua::TranscodeSide { codec, payload_type: pt, events: None, events_rate: 8000, fec: false, max_bitrate: None, ptime_ms: 20 }
}

/// On a transcoded call (PCMU ↔ PCMA) each leg's RTCP stays with the
/// switch, and each leg gets our sender reports instead: the SSRC of the
/// stream it receives from us, and a report block on its own stream that
/// echoes its last SR (RFC 3550 §6.4).
#[tokio::test]
async fn a_transcoded_call_reports_its_own_streams_over_rtcp() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 42300, 42400);
    pool.set_rtcp_interval(Duration::from_millis(100));
    let (pa, pb) = pool.open("tc").expect("ports");
    let (a_rtp, a_rtcp) = phone_pair().await;
    let (b_rtp, b_rtcp) = phone_pair().await;
    pool.set_peer("tc", Side::A, a_rtp.local_addr().expect("addr"));
    pool.set_peer("tc", Side::B, b_rtp.local_addr().expect("addr"));
    pool.transcode("tc", Some(b2bua::Transcode { a: g711_side(0), b: g711_side(8) }));
    let a_sr = media::rtcp::SenderInfo { ssrc: 0xa, ntp: media::rtcp::ntp_from_unix_micros(1_800_000_000_000_000), rtp_ts: 0, packets: 10, octets: 1600 };
    // The phones talk (each keeps its side latched) and A reports.
    let mut from_relay = [None, None];
    for k in 0..10u16 {
        for (sock, relay, pt, ssrc) in [(&a_rtp, SocketAddr::new(ip, pa), 0u8, 0xau32), (&b_rtp, SocketAddr::new(ip, pb), 8, 0xb)] {
            sock.send_to(&media::rtp::build(pt, k == 0, k, 160 * u32::from(k), ssrc, &[0xd5; 160]), relay).await.expect("send");
        }
        from_relay[0] = Some(media::rtp::parse(&recv(&a_rtp).await).expect("rtp").ssrc);
        from_relay[1] = Some(media::rtp::parse(&recv(&b_rtp).await).expect("rtp").ssrc);
    }
    a_rtcp.send_to(&media::rtcp::sender_report(&a_sr, None, "a"), SocketAddr::new(ip, pa + 1)).await.expect("send");
    let [Some(ssrc_to_a), Some(ssrc_to_b)] = from_relay else { panic!("transcoded packets both ways") };
    assert!(ssrc_to_a != 0xb && ssrc_to_b != 0xa, "transcoded streams carry our SSRCs");
    // B's RTCP socket gets our reports, never A's SR; A's gets ours with
    // its SR echoed (after it arrived).
    for (sock, ours, theirs, echo) in [(&b_rtcp, ssrc_to_b, 0xb, None), (&a_rtcp, ssrc_to_a, 0xa, Some((a_sr.ntp >> 16) as u32))] {
        let mut seen = false;
        for _ in 0..20 {
            let p = recv(sock).await;
            assert!(media::rtcp::find_sender_report(&p).is_some_and(|(s, _)| s != 0xa), "A's own SR is not relayed");
            let (sender, _) = media::rtcp::find_sender_report(&p).expect("an SR");
            assert_eq!(sender, ours, "the SR names the stream this leg receives");
            assert_eq!(p[0] & 0x1f, 1, "one report block");
            assert_eq!(u32::from_be_bytes([p[28], p[29], p[30], p[31]]), theirs, "about this leg's own stream");
            let lsr = u32::from_be_bytes([p[44], p[45], p[46], p[47]]);
            if echo.is_none_or(|e| e == lsr) {
                seen = true;
                break;
            }
        }
        assert!(seen, "a report to {theirs:#x} as expected");
    }
    pool.close("tc");
}

/// A SIP INFO digit put into a relayed stream whose telephone-event runs
/// at 48 kHz (beside Opus): the event's timestamp continues the stream's
/// on its 48 kHz clock, and its durations count in that clock (960 per
/// 20 ms packet, 4,800 for 100 ms).
#[tokio::test]
async fn a_digit_put_into_a_48_khz_stream_keeps_its_clock() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 42500, 42600);
    let (pa, _) = pool.open("ev").expect("ports");
    let (phone_a, phone_b) = phones(&mut pool, "ev").await;
    let mut last_ts = 0;
    for k in 0..5u32 {
        phone_a.send_to(&media::rtp::build(111, k == 0, k as u16, 48_000 + 960 * k, 0xa, &[0x0b; 40]), SocketAddr::new(ip, pa)).await.expect("send");
        last_ts = media::rtp::parse(&recv(&phone_b).await).expect("rtp").timestamp;
    }
    assert!(pool.send_digit("ev", Side::B, '5', 110, 48_000, 100));
    let mut durations = Vec::new();
    let mut stamps = Vec::new();
    loop {
        let p = recv(&phone_b).await;
        let r = media::rtp::parse(&p).expect("rtp");
        assert_eq!((r.payload_type, r.payload[0]), (110, 5), "digit 5 in the events' payload type");
        stamps.push(r.timestamp);
        durations.push(u16::from_be_bytes([r.payload[2], r.payload[3]]));
        if r.payload[1] & 0x80 != 0 {
            break;
        }
    }
    assert!(stamps.iter().all(|t| *t == stamps[0]), "one event, one timestamp: {stamps:?}");
    let ahead = stamps[0].wrapping_sub(last_ts);
    assert!(ahead < 48_000, "the event starts where the stream is, on its 48 kHz clock ({ahead} ticks after the last packet)");
    assert_eq!(durations.first(), Some(&960), "20 ms at 48 kHz");
    assert_eq!(durations.last(), Some(&4800), "100 ms at 48 kHz");
    pool.close("ev");
}

/// A transcoded caller that speaks Opus without telephone-event: its
/// in-band digits are detected on its decoded audio (the relay decodes
/// the caller's stream for the detector beside the transcoder).
#[tokio::test]
async fn a_transcoded_opus_callers_inband_digits_are_detected() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 42700, 42800).with_threads(1).expect("media threads");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    pool.set_events(tx);
    let (pa, _) = pool.open("tc-dtmf").expect("ports");
    let (phone_a, phone_b) = phones(&mut pool, "tc-dtmf").await;
    let opus = b2bua::TranscodeSide { codec: sdp::Codec::OPUS, payload_type: 111, events: None, events_rate: 48000, fec: false, max_bitrate: None, ptime_ms: 20 };
    pool.transcode("tc-dtmf", Some(b2bua::Transcode { a: opus, b: g711_side(0) }));
    pool.detect_dtmf("tc-dtmf", runtime::Digits::Inband);
    let mut enc = media::codec::Encoder::new(media::codec::Codec::Opus).expect("encoder");
    let mut frames = sine_frames(&[], 3);
    frames.extend(sine_frames(&[852.0, 1477.0], 10)); // 9
    frames.extend(sine_frames(&[], 20));
    for (k, pcm) in frames.iter().enumerate() {
        let mut payload = Vec::new();
        enc.encode(pcm, &mut payload).expect("encode");
        phone_a.send_to(&media::rtp::build(111, k == 0, k as u16, 960 * k as u32, 0xa, &payload), SocketAddr::new(ip, pa)).await.expect("send");
        // The callee gets it transcoded to PCMU.
        assert_eq!(media::rtp::parse(&recv(&phone_b).await).expect("rtp").payload_type, 0);
    }
    let digit = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("a digit within 5 s");
    assert!(matches!(digit, Some(runtime::RelayEvent::Dtmf(ref c, '9')) if c == "tc-dtmf"), "{digit:?}");
    pool.close("tc-dtmf");
}

/// The callee's RFC 4733 digits are reported as its own (and still
/// relayed to the caller untouched); the caller's detection is separate.
#[tokio::test]
async fn the_callees_rfc4733_digits_are_reported_as_the_callees() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 42900, 42990);
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    pool.set_events(tx);
    let (_, pb) = pool.open("cd").expect("ports");
    let (phone_a, phone_b) = phones(&mut pool, "cd").await;
    pool.detect_callee_dtmf("cd", Some(101));
    // Digit 4: three updates, then three end packets, one timestamp.
    for (k, (end, dur)) in [(false, 160u16), (false, 320), (false, 480), (true, 640), (true, 640), (true, 640)].into_iter().enumerate() {
        let dur = dur.to_be_bytes();
        let payload = [4, if end { 0x8a } else { 0x0a }, dur[0], dur[1]];
        let p = media::rtp::build(101, k == 0, k as u16, 8000, 0xb, &payload);
        phone_b.send_to(&p, SocketAddr::new(ip, pb)).await.expect("send");
        assert_eq!(recv(&phone_a).await, p, "relayed to the caller untouched");
    }
    let ev = tokio::time::timeout(Duration::from_secs(2), events.recv()).await.expect("an event within 2 s");
    assert_eq!(ev, Some(runtime::RelayEvent::CalleeDtmf("cd".into(), '4')));
    assert!(events.try_recv().is_err(), "one digit, reported once");
    pool.close("cd");
}

/// Opens a FIFO for reading when dropped (at the end of the test, or when
/// it fails first), so the recording writer blocked on opening it for
/// writing goes on, and drains it: what the writer wrote.
struct FifoReader(Option<std::path::PathBuf>, Option<std::thread::JoinHandle<Vec<u8>>>);

impl FifoReader {
    fn release(&mut self) {
        if let Some(path) = self.0.take() {
            self.1 = Some(std::thread::spawn(move || std::fs::read(path).unwrap_or_default()));
        }
    }
}

impl Drop for FifoReader {
    fn drop(&mut self) {
        self.release();
    }
}

/// The relay never waits for the disk: a recording whose file cannot even
/// be opened (a FIFO nobody reads: opening it for writing blocks, as a
/// hung network mount or a throttled disk would) leaves the call's packets
/// flowing both ways; once the file opens, what was recorded meanwhile is
/// written to it, header first.
#[tokio::test]
async fn a_recording_stalled_on_its_file_does_not_hold_up_packets() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 43100, 43200).with_threads(1).expect("media threads");
    let (pa, pb) = pool.open("stall").expect("ports");
    let (relay_a, relay_b) = (SocketAddr::new(ip, pa), SocketAddr::new(ip, pb));
    let (phone_a, phone_b) = phones(&mut pool, "stall").await;
    let dir = std::env::temp_dir().join(format!("ferroswitch-relay-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let fifo = dir.join("stall.wav.part");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    let mut reader = FifoReader(Some(fifo), None);
    pool.record("stall", dir.join("stall.wav"), media::g711::Law::Mulaw);
    assert!(pool.is_recording("stall"));
    // Two seconds of a call's packets each way, while the writer is stuck.
    // (PCMU silence, 20 ms apart by timestamp: the recorder places audio
    // by timestamp, not by arrival.)
    for seq in 0..100u16 {
        let pkt = |ssrc| media::rtp::build(0, seq == 0, seq, 160 * u32::from(seq), ssrc, &[0xff; 160]);
        phone_a.send_to(&pkt(0xa), relay_a).await.expect("send a");
        assert_eq!(recv(&phone_b).await, pkt(0xa), "A's packet {seq} reached B");
        phone_b.send_to(&pkt(0xb), relay_b).await.expect("send b");
        assert_eq!(recv(&phone_a).await, pkt(0xb), "B's packet {seq} reached A");
    }
    reader.release();
    pool.close("stall");
    let finished = tokio::time::timeout(Duration::from_secs(10), pool.take_recording("stall").expect("recorded")).await;
    assert!(finished.is_ok(), "the recording finishes once its file opens");
    let written = tokio::task::spawn_blocking(move || reader.1.take().map(|h| h.join().expect("reader")).unwrap_or_default()).await.expect("join");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(written.len() > 44 && written.starts_with(b"RIFF"), "a WAV header and audio reached the file: {} bytes", written.len());
    // 100 packets of 160 samples from each side: 16,000 stereo frames of
    // 4 bytes, give or take the recorder's placement of the last ones.
    let audio = written.len() - 44;
    assert!((60_000..=68_000).contains(&audio), "the audio recorded while the file was stuck: {audio} bytes");
}

/// A recording is written out at each checkpoint (once a second) while
/// the call goes on, with packets flowing and when nothing comes (both
/// sides silent, a hold): the file's header names the call's time so far,
/// the silence written as silence, so a `kill -9` leaves all but the last
/// second.
#[tokio::test]
async fn a_recording_is_written_out_every_second_with_packets_and_through_silence() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 43500, 43600).with_threads(1).expect("media threads");
    let (pa, pb) = pool.open("quiet").expect("ports");
    let (relay_a, relay_b) = (SocketAddr::new(ip, pa), SocketAddr::new(ip, pb));
    let (phone_a, phone_b) = phones(&mut pool, "quiet").await;
    let dir = std::env::temp_dir().join(format!("ferroswitch-relay-quiet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    pool.record("quiet", dir.join("quiet.wav"), media::g711::Law::Mulaw);
    let part = dir.join("quiet.wav.part");
    let named = || std::fs::read(&part).ok().as_deref().and_then(media::wav::parse_header).map_or(0, |h| h.data_len as usize);
    let second = 8000 * 4;
    // A square wave each way, paced as a phone sends it, until the header
    // names a second of audio (at most 6 s).
    let tone: Vec<u8> = (0..160).map(|i| if i % 8 < 4 { 0x20 } else { 0xa0 }).collect();
    let started = std::time::Instant::now();
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    let mut seq = 0u16;
    while named() < second && started.elapsed() < Duration::from_secs(6) {
        pace.tick().await;
        for (sock, relay, ssrc, other) in [(&phone_a, relay_a, 0xa, &phone_b), (&phone_b, relay_b, 0xb, &phone_a)] {
            sock.send_to(&media::rtp::build(0, seq == 0, seq, 160 * u32::from(seq), ssrc, &tone), relay).await.expect("send");
            recv(other).await;
        }
        seq += 1;
    }
    assert!(named() >= second, "a second of the call written out while its packets flow ({} bytes named after {seq} packets)", named());
    let audio_ms = u64::from(seq) * 20;
    // Then nothing comes: only checkpoints write the file, until its
    // header names 2 s more (at most 10 s).
    let quiet = std::time::Instant::now();
    let want = (audio_ms as usize * 8 * 4) + 2 * second;
    while named() < want && quiet.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(named() >= want, "2 s more written out while nothing came: the header names {} bytes of {want}", named());
    let wav = std::fs::read(&part).expect("part");
    pool.close("quiet");
    let _ = pool.take_recording("quiet").expect("recorded").await;
    let _ = std::fs::remove_dir_all(&dir);
    let h = media::wav::parse_header(&wav).expect("header");
    let data = &wav[h.header_len..h.header_len + h.data_len as usize];
    let (l, r): (Vec<i16>, Vec<i16>) = data.chunks_exact(4).map(|f| (i16::from_le_bytes([f[0], f[1]]), i16::from_le_bytes([f[2], f[3]]))).unzip();
    let loud = |x: &[i16]| x.iter().filter(|s| s.abs() > 1000).count();
    let n = audio_ms as usize * 8;
    assert!(loud(&l[..n - 400]) > (n - 400) / 2 && loud(&r[400..n - 400]) > (n - 800) / 2, "each side's audio while the packets came");
    assert!(l[n + 400..].iter().chain(&r[n + 400..]).all(|s| *s == 0), "then silence, written as silence");
}

/// `recordings.encoding = "g711"`: a relayed PCMA call is recorded as an
/// A-law WAV (format 6, with its `fact` chunk), each side's packets'
/// bytes in the file exactly as they came (no decoding, no re-encoding),
/// one byte a sample, interleaved caller-left.
#[tokio::test]
async fn a_g711_recording_holds_the_packets_bytes_as_they_came() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 43300, 43400).with_threads(1).expect("media threads");
    pool.set_g711_recordings(true);
    let (pa, pb) = pool.open("alaw").expect("ports");
    let (relay_a, relay_b) = (SocketAddr::new(ip, pa), SocketAddr::new(ip, pb));
    let (phone_a, phone_b) = phones(&mut pool, "alaw").await;
    pool.relayed("alaw", Some(b2bua::Relayed { codec: sdp::Codec::PCMA, from_a: 8, from_b: 8 }));
    let dir = std::env::temp_dir().join(format!("ferroswitch-relay-alaw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    pool.record("alaw", dir.join("alaw.wav"), media::g711::Law::Alaw);
    let mut x = 0x1234_5678u32;
    let mut byte = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    };
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    for k in 0..50u32 {
        for (sent, ssrc, sock, relay) in [(&mut from_a, 0xa, &phone_a, relay_a), (&mut from_b, 0xb, &phone_b, relay_b)] {
            let payload: Vec<u8> = (0..160).map(|_| byte()).collect();
            sock.send_to(&media::rtp::build(8, k == 0, k as u16, 160 * k, ssrc, &payload), relay).await.expect("send");
            sent.extend_from_slice(&payload);
        }
        recv(&phone_b).await;
        recv(&phone_a).await;
    }
    pool.close("alaw");
    let rec = pool.take_recording("alaw").expect("recorded").await.expect("finished").expect("a recording");
    let wav = std::fs::read(&rec.path).expect("wav");
    let _ = std::fs::remove_dir_all(&dir);
    let u16_at = |i: usize| u16::from_le_bytes([wav[i], wav[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([wav[i], wav[i + 1], wav[i + 2], wav[i + 3]]);
    assert_eq!((&wav[0..4], &wav[12..16], u16_at(20), u16_at(22), u32_at(24), u16_at(34)), (&b"RIFF"[..], &b"fmt "[..], 6, 2, 8000, 8), "A-law, stereo, 8 kHz, 8 bits");
    assert_eq!((&wav[38..42], &wav[50..54]), (&b"fact"[..], &b"data"[..]));
    let data = &wav[58..];
    assert_eq!(u32_at(54) as usize, data.len(), "the header names all the audio");
    assert_eq!(u32_at(46) as usize, data.len() / 2, "fact: samples per channel");
    let (l, r): (Vec<u8>, Vec<u8>) = data.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    // Each side starts where its first packet arrived (the callee's a few
    // samples after the caller's), then runs on its timestamps.
    for (side, got, sent) in [("caller", &l, &from_a), ("callee", &r, &from_b)] {
        let at = (0..80).find(|&o| got.get(o..o + sent.len()) == Some(&sent[..]));
        assert!(at.is_some(), "the {side}'s bytes, unchanged and in order, in its channel");
    }
}

/// The codecs negotiated again mid-call (ringback's plan, then the
/// answer's; transcoding dropped for a spell and taken up again): the
/// phone keeps receiving one stream, our SSRC with consecutive sequence
/// numbers. A new SSRC whose sequence numbers jumped back made baresip
/// drop the rest of the call's audio as late.
#[tokio::test]
async fn a_replaced_transcoder_goes_on_with_the_stream() {
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut pool = RelayPool::new(ip, 43500, 43600);
    let (_, pb) = pool.open("re").expect("ports");
    let (phone_a, phone_b) = phones(&mut pool, "re").await;
    let plan = b2bua::Transcode { a: g711_side(0), b: g711_side(8) };
    let with_events = b2bua::Transcode { a: b2bua::TranscodeSide { events: Some(101), ..g711_side(0) }, b: g711_side(8) };
    // What A receives, PCMU transcoded or PCMA relayed untouched: (SSRC,
    // sequence) of the last, and how many.
    let mut last: Option<(u32, u16)> = None;
    let mut seen = 0;
    let mut seq = 0u16;
    let mut talk = |n: usize| {
        let mut got = Vec::new();
        for _ in 0..n {
            let p = media::rtp::build(8, seq == 0, seq, 160 * u32::from(seq), 0xb, &[0xd5; 160]);
            seq += 1;
            got.push(p);
        }
        got
    };
    // Transcoded, transcoded by another plan, relayed untouched,
    // transcoded again, relayed again: A sees one stream throughout (the
    // first transcoder's SSRC).
    for (step, plan) in [Some(plan.clone()), Some(with_events), None, Some(plan), None].into_iter().enumerate() {
        pool.transcode("re", plan.clone());
        let mut pcmu = 0;
        for p in talk(10) {
            phone_b.send_to(&p, SocketAddr::new(ip, pb)).await.expect("send");
            let r = recv(&phone_a).await;
            let h = media::rtp::parse(&r).expect("rtp");
            if h.payload_type == 101 {
                // (The plan with telephone-event may send none; no digits here.)
                continue;
            }
            pcmu += usize::from(h.payload_type == 0);
            if let Some((ssrc, s)) = last {
                assert_eq!((h.ssrc, h.seq), (ssrc, s.wrapping_add(1)), "step {step}: one stream, no jump (payload type {})", h.payload_type);
            }
            last = Some((h.ssrc, h.seq));
            seen += 1;
        }
        assert_eq!(pcmu > 0, plan.is_some(), "step {step}: transcoded while there is a plan");
    }
    assert!(seen >= 40, "{seen} packets checked");
    pool.close("re");
}
