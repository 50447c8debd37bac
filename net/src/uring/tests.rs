//! Ring tests over real loopback sockets. Writes: order and framing, `seq` splicing, short
//! sends resumed where they stopped, a stuck send cancelled at the linger, and a stop that
//! cancels, drains and closes. Reads: order through buffer exhaustion (ENOBUFS), a paused
//! RECV for a reader that falls behind, a stop with RECVs armed. A whole socket (read and
//! written by one ring): an echo, and the peer sees the end when the writer finishes while
//! the RECV still holds the socket. A ring that fails: its sockets end, new ones go to the
//! ring left. A wake batch holds the ring's wake-up until it ends. Every wait has a
//! deadline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::RingPool;
use crate::outbound::Outbound;

const DEADLINE: Duration = Duration::from_secs(20);

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (s, c)
}

fn pool() -> Arc<RingPool> {
    pool_with(super::DIRECT_BELOW)
}

/// `direct_below` 0: every batch goes through the ring, none through `sendmsg(2)`.
fn pool_with(direct_below: usize) -> Arc<RingPool> {
    let p = RingPool::start(1, b",\"seq\":", direct_below);
    Arc::new(p.expect("io_uring available on the test machine"))
}

/// Read server frames until a close frame: (opcode, payload) each.
async fn read_frames(c: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        while let Some((op, payload, used)) = parse(&buf) {
            buf.drain(..used);
            frames.push((op, payload));
            if op == 0x8 {
                return frames;
            }
        }
        let n = tokio::time::timeout(DEADLINE, c.read(&mut chunk))
            .await
            .expect("frames within the deadline")
            .unwrap();
        assert!(n > 0, "EOF before the close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[0] & 0x80, 0x80, "final frames only");
    let (len, at) = match b[1] {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (b.len() >= at + len).then(|| (b[0] & 0x0f, b[at..at + len].to_vec(), at + len))
}

#[tokio::test]
async fn frames_arrive_in_order_with_their_seq_and_the_close_ends_the_writer() {
    frames_in_order(pool()).await;
}

#[tokio::test]
async fn the_same_through_the_ring_alone() {
    let pool = pool_with(0);
    frames_in_order(pool.clone()).await;
    assert!(pool.ring_sends() > 0, "sent by ring submits");
}

async fn frames_in_order(pool: Arc<RingPool>) {
    let (s, mut c) = pair().await;
    let (_rd, wr) = s.into_split();
    let out = Outbound::new(1 << 24);
    out.send_text(Bytes::from_static(b"challenge"));
    let w = pool.attach(wr, &out);
    let (head, tail) = (Bytes::from_static(b"{\"e\":1"), Bytes::from_static(b"}"));
    for i in 0..2000u32 {
        if i % 2 == 0 {
            out.send_text(Bytes::from(format!("t{i}")));
        } else {
            out.send_seq(&head, &tail, false);
        }
    }
    out.close(1000, "bye");
    let frames = read_frames(&mut c).await;
    assert_eq!(frames.len(), 2002);
    assert_eq!(frames[0], (1, b"challenge".to_vec()));
    for (i, (op, p)) in frames[1..2001].iter().enumerate() {
        assert_eq!(*op, 1);
        let want = match i % 2 {
            0 => format!("t{i}"),
            _ => format!("{{\"e\":1,\"seq\":{}}}", i.div_ceil(2)),
        };
        assert_eq!(String::from_utf8_lossy(p), want);
    }
    assert_eq!(frames[2001].1[..2], 1000u16.to_be_bytes());
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
        .await
        .expect("the writer finished after its close frame");
    assert!(out.is_closed());
    assert_eq!(out.queued_bytes(), 0, "every byte counted as written");
}

#[tokio::test]
async fn a_broadcast_to_many_sockets_goes_through_the_ring_in_order() {
    let pool = pool();
    let mut pairs = Vec::new();
    for _ in 0..32 {
        pairs.push(pair().await);
    }
    let before = pool.ring_sends();
    // The ring's thread held while the sockets are attached and the broadcast is queued:
    // its next turn finds every socket ready at once.
    pool.stall_ring(0, Duration::from_millis(200)).await;
    let mut peers = Vec::new();
    let mut outs = Vec::new();
    let mut writers = Vec::new();
    for (s, c) in pairs {
        let (rd, wr) = s.into_split();
        let out = Outbound::new(1 << 22);
        writers.push(pool.attach(wr, &out));
        peers.push((rd, c));
        outs.push(out);
    }
    let (head, tail) = (Bytes::from_static(b"{\"b\":1"), Bytes::from_static(b"}"));
    for _ in 0..50 {
        for o in &outs {
            o.send_seq(&head, &tail, false);
        }
    }
    for o in &outs {
        o.close(1000, "");
    }
    for (_, c) in peers.iter_mut() {
        let frames = read_frames(c).await;
        assert_eq!(frames.len(), 51);
        for (i, (_, p)) in frames[..50].iter().enumerate() {
            assert_eq!(
                String::from_utf8_lossy(p),
                format!("{{\"b\":1,\"seq\":{}}}", i + 1)
            );
        }
    }
    assert!(
        pool.ring_sends() - before >= 32,
        "many ready sockets are sent by ring submits, not one syscall each: {}",
        pool.ring_sends() - before
    );
    for w in writers {
        tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
            .await
            .expect("finished");
    }
}

#[tokio::test]
async fn a_send_the_peer_does_not_read_resumes_where_it_stopped() {
    resumes(pool()).await;
    resumes(pool_with(0)).await;
}

async fn resumes(pool: Arc<RingPool>) {
    let (s, mut c) = pair().await;
    let (_rd, wr) = s.into_split();
    let out = Outbound::new(1 << 26);
    let w = pool.attach(wr, &out);
    // Far more than the socket buffers hold: sends complete short and are re-queued.
    let frame: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..200 {
        out.send_binary(Bytes::from(frame.clone()));
    }
    out.close(1000, "");
    let frames = read_frames(&mut c).await;
    assert_eq!(frames.len(), 201);
    assert!(frames[..200].iter().all(|(op, p)| *op == 2 && *p == frame));
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
        .await
        .expect("finished");
}

#[tokio::test]
async fn a_stuck_send_is_cancelled_at_the_linger_and_the_slot_serves_the_next_socket() {
    let pool = pool();
    let (s, _c) = pair().await;
    let (_rd, wr) = s.into_split();
    let out = Outbound::new(1 << 26);
    let w = pool.attach(wr, &out);
    for _ in 0..100 {
        out.send_binary(Bytes::from(vec![7u8; 100_000]));
    }
    out.close(1000, "");
    let t = std::time::Instant::now();
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_millis(200)))
        .await
        .expect("the linger cancels the stuck send");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(out.is_closed());
    // The freed slot (a new generation) writes the next socket.
    let (s2, mut c2) = pair().await;
    let (_rd2, wr2) = s2.into_split();
    let out2 = Outbound::new(1 << 20);
    let w2 = pool.attach(wr2, &out2);
    out2.send_text(Bytes::from_static(b"next"));
    out2.close(1000, "");
    let frames = read_frames(&mut c2).await;
    assert_eq!(frames[0], (1, b"next".to_vec()));
    tokio::time::timeout(DEADLINE, w2.finish(Duration::from_secs(5)))
        .await
        .expect("finished");
}

#[tokio::test]
async fn stop_cancels_sends_in_flight_and_closes_the_sockets() {
    let pool = pool();
    let (s, mut c) = pair().await;
    let (_rd, wr) = s.into_split();
    let out = Outbound::new(1 << 26);
    let w = pool.attach(wr, &out);
    for _ in 0..100 {
        out.send_binary(Bytes::from(vec![7u8; 100_000]));
    }
    // The first bytes arrive: the ring took the batch; the rest stays in flight.
    let mut first = vec![0u8; 1024];
    let n = tokio::time::timeout(DEADLINE, c.read(&mut first))
        .await
        .expect("the first bytes")
        .unwrap();
    assert!(n > 0);
    let p = pool.clone();
    tokio::time::timeout(DEADLINE, p.stop())
        .await
        .expect("stop within its deadline");
    assert!(out.is_closed());
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(60)))
        .await
        .expect("the handle sees the writer gone at once");
    // The write side was shut: after the buffered bytes the peer reads EOF.
    let mut sink = vec![0u8; 1 << 20];
    tokio::time::timeout(DEADLINE, async {
        while c.read(&mut sink).await.unwrap_or(0) > 0 {}
    })
    .await
    .expect("EOF after stop");
}

// ---------------------------------------------------------------- reads (multishot RECV)

/// Read from `r` until `n` bytes or the end.
async fn read_all(r: &crate::uring::RingReader, n: usize) -> Vec<u8> {
    let mut got = bytes::BytesMut::new();
    tokio::time::timeout(DEADLINE, async {
        while got.len() < n {
            r.readable().await.unwrap();
            match r.try_read_buf(&mut got) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            }
        }
    })
    .await
    .expect("the bytes within the deadline");
    got.to_vec()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 4093) as u8).collect()
}

/// Until `f` holds (checked every millisecond), or the deadline.
async fn until(what: &str, f: impl Fn() -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within the deadline"));
}

/// 16 sockets × 512 KB written while the ring's thread is held: the kernel's next pass over
/// the waiting RECVs takes every provided buffer before the driver reaps (ENOBUFS,
/// re-armed), and each socket's bytes arrive whole, in order, then its end.
#[tokio::test]
async fn reads_arrive_in_order_through_buffer_exhaustion_and_the_end_is_seen() {
    use tokio::io::AsyncWriteExt;
    const SOCKETS: usize = 16;
    let pool = pool();
    let data = pattern(512 << 10);
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    pool.stall_ring(0, Duration::from_millis(300)).await;
    for _ in 0..SOCKETS {
        let (s, mut c) = pair().await;
        readers.push(pool.attach_reader(Arc::new(s.into_std().unwrap())));
        let sent = data.clone();
        writers.push(tokio::spawn(async move {
            c.write_all(&sent).await.unwrap();
            c.shutdown().await.unwrap();
            c
        }));
    }
    for r in &readers {
        let got = read_all(r, usize::MAX).await;
        assert!(
            got == data,
            "{} of {} bytes, in order",
            got.len(),
            data.len()
        );
    }
    for w in writers {
        w.await.unwrap();
    }
    let (slots, _, nobufs) = pool.recv_stats();
    assert_eq!(slots, SOCKETS);
    assert!(nobufs > 0, "the provided buffers ran out at least once");
    drop(readers);
    until("the slots to be released", || pool.recv_stats().0 == 0).await;
    pool.stop().await;
}

/// A reader that does not read: past the high-water mark its RECV is cancelled (the
/// writer is then held by TCP); once it drains, receiving resumes and nothing is lost.
#[tokio::test]
async fn a_reader_that_falls_behind_pauses_its_recv_and_loses_nothing() {
    use tokio::io::AsyncWriteExt;
    let pool = pool();
    let (s, mut c) = pair().await;
    let r = pool.attach_reader(Arc::new(s.into_std().unwrap()));
    // Far more than loopback's socket buffers on both sides can hold.
    let n = 128 * super::RECV_HIGH_WATER;
    let data = pattern(n);
    let sent = data.clone();
    let w = tokio::spawn(async move {
        c.write_all(&sent).await.unwrap();
        c
    });
    until("the RECV to pause", || pool.recv_stats().1 > 0).await;
    assert!(
        !w.is_finished(),
        "the writer waits on TCP while the reader is paused"
    );
    let got = read_all(&r, n).await;
    assert!(got == data, "{} of {} bytes, in order", got.len(), n);
    let _c = w.await.unwrap();
    drop(r);
    until("the slot to be released", || pool.recv_stats().0 == 0).await;
    pool.stop().await;
}

/// Stopping the pool with RECVs armed: they are cancelled and the readers see the end.
#[tokio::test]
async fn stop_cancels_recvs_and_readers_see_the_end() {
    use tokio::io::AsyncWriteExt;
    let pool = pool();
    let mut keep = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..8 {
        let (s, mut c) = pair().await;
        c.write_all(b"hi").await.unwrap();
        let s = Arc::new(s.into_std().unwrap());
        readers.push(pool.attach_reader(s.clone()));
        keep.push((c, s));
    }
    for r in &readers {
        assert_eq!(read_all(r, 2).await, b"hi");
    }
    tokio::time::timeout(DEADLINE, pool.stop())
        .await
        .expect("stopped");
    for r in &readers {
        assert_eq!(
            read_all(r, usize::MAX).await,
            b"",
            "the end, after the stop"
        );
    }
    assert_eq!(pool.recv_stats().0, 0, "every slot released");
}

/// A socket handed over whole: one ring reads it and writes it; when the writer is done the
/// peer sees the end of the stream, although the armed RECV still holds the socket open.
#[tokio::test]
async fn a_whole_socket_echoes_and_its_peer_sees_the_end_when_the_writer_finishes() {
    use tokio::io::AsyncWriteExt;
    let pool = pool();
    let (s, mut c) = pair().await;
    let out = Outbound::new(1 << 20);
    let (w, r) = pool.attach_socket(s, &out).unwrap();
    c.write_all(b"ping").await.unwrap();
    assert_eq!(read_all(&r, 4).await, b"ping");
    out.send_text(Bytes::from_static(b"pong"));
    out.close(1000, "");
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
        .await
        .expect("finished");
    let frames = read_frames(&mut c).await;
    assert_eq!(frames[0], (1, b"pong".to_vec()));
    assert_eq!(frames.len(), 2, "the text, then the close");
    let mut rest = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, c.read(&mut rest))
        .await
        .expect("the end within the deadline")
        .unwrap();
    assert_eq!(n, 0, "the write side is shut: the peer sees the end");
    assert_eq!(pool.recv_stats().0, 1, "the reader still holds its slot");
    c.write_all(b"late").await.unwrap();
    assert_eq!(
        read_all(&r, 4).await,
        b"late",
        "reads go on after the write side shut"
    );
    drop(r);
    until("the slot to be released", || pool.recv_stats().0 == 0).await;
    pool.stop().await;
}

/// One socket handed over whole, its echo checked: the peer's bytes reach the reader, and a
/// text frame reaches the peer.
async fn echo(pool: &RingPool) -> (TcpStream, Outbound, super::RingWriter, super::RingReader) {
    use tokio::io::AsyncWriteExt;
    let (s, mut c) = pair().await;
    let out = Outbound::new(1 << 20);
    let (w, r) = pool.attach_socket(s, &out).unwrap();
    c.write_all(b"x").await.unwrap();
    assert_eq!(read_all(&r, 1).await, b"x");
    out.send_text(Bytes::from_static(b"y"));
    let mut head = [0u8; 3];
    tokio::time::timeout(DEADLINE, c.read_exact(&mut head))
        .await
        .expect("the frame within the deadline")
        .unwrap();
    assert_eq!(head, [0x81, 1, b'y']);
    (c, out, w, r)
}

/// The peer reads the end of the stream (nothing else) within the deadline.
async fn sees_the_end(c: &mut TcpStream) {
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, c.read_to_end(&mut rest))
        .await
        .expect("the end within the deadline")
        .unwrap();
}

/// A ring whose driver fails ends its sockets (reader and peer both see the end); new
/// sockets go to the ring left; with none left the pool says so (the connection then stays
/// on tokio), and a socket handed to it anyway is let go of at once, not stranded.
#[tokio::test]
async fn a_failed_ring_ends_its_sockets_and_new_sockets_go_to_the_ring_left() {
    let pool = Arc::new(RingPool::start(2, b"", super::DIRECT_BELOW).unwrap());
    let (mut c0, _o0, _w0, r0) = echo(&pool).await; // ring 0
    let (_c1, _o1, _w1, _r1) = echo(&pool).await; // ring 1
    pool.fail_ring(0);
    assert_eq!(
        read_all(&r0, usize::MAX).await,
        b"",
        "the reader sees the end"
    );
    sees_the_end(&mut c0).await;
    until("ring 0 to end", || pool.live_rings() == 1).await;
    assert!(pool.alive());
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(echo(&pool).await);
    }
    pool.fail_ring(1);
    until("no ring left", || !pool.alive()).await;
    for (c, ..) in kept.iter_mut() {
        sees_the_end(c).await;
    }
    let (s, mut c) = pair().await;
    let out = Outbound::new(1 << 20);
    let (w, r) = pool.attach_socket(s, &out).unwrap();
    assert_eq!(read_all(&r, usize::MAX).await, b"");
    sees_the_end(&mut c).await;
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
        .await
        .expect("a writer handed to no ring is done at once");
    assert!(out.is_closed());
    tokio::time::timeout(DEADLINE, pool.stop())
        .await
        .expect("stopped");
}

/// Inside a [`super::WakeBatch`] (nested ones join it) the pushes leave the ring asleep;
/// when the batch ends the ring is woken once and everything goes out, in order.
#[tokio::test]
async fn a_wake_batch_holds_the_ring_wake_until_it_ends() {
    let pool = pool();
    let (s, mut c) = pair().await;
    let (_rd, wr) = s.into_split();
    let out = Outbound::new(1 << 20);
    let w = pool.attach(wr, &out);
    // A first frame through: the driver has taken its inbox and sleeps.
    out.send_text(Bytes::from_static(b"0"));
    let mut head = [0u8; 3];
    tokio::time::timeout(DEADLINE, c.read_exact(&mut head))
        .await
        .expect("the first frame")
        .unwrap();
    {
        let _batch = super::WakeBatch::begin();
        {
            let _inner = super::WakeBatch::begin();
            out.send_text(Bytes::from_static(b"a"));
        }
        assert_eq!(super::thread::held(), 1, "the ring's wake-up is held");
        out.send_text(Bytes::from_static(b"b"));
        out.close(1000, "");
    }
    assert_eq!(super::thread::held(), 0, "given when the batch ends");
    let frames = read_frames(&mut c).await;
    assert_eq!(frames[0], (1, b"a".to_vec()));
    assert_eq!(frames[1], (1, b"b".to_vec()));
    assert_eq!(frames.len(), 3);
    tokio::time::timeout(DEADLINE, w.finish(Duration::from_secs(5)))
        .await
        .expect("finished");
}
