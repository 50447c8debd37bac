//! `ring-send`: what one delivered frame costs when N loopback sockets each get one frame
//! per round — one `write(2)` per socket (what the epoll runtime does per woken writer), or
//! one io_uring SEND per socket submitted in batches (the raw `io-uring` crate). It measures
//! the transport choice for the io_uring backend; it knows nothing of the gateway.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Bound on one mode's run (sending and draining).
const MODE_DEADLINE: Duration = Duration::from_secs(120);

/// Submission queue entries per io_uring submit.
const RING_BATCH: u32 = 4096;

#[derive(clap::Args, Debug, Clone)]
pub struct RingArgs {
    /// Receiving sockets.
    #[arg(long, default_value_t = 10_000)]
    pub sockets: usize,
    /// Frames per socket.
    #[arg(long, default_value_t = 100)]
    pub rounds: usize,
    /// Bytes per frame.
    #[arg(long, default_value_t = 200)]
    pub frame: usize,
    /// Modes in order, each run `--repeat` times: write, uring, compio.
    #[arg(long, value_delimiter = ',', default_value = "write,uring,compio")]
    pub modes: Vec<String>,
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
}

/// One mode's run.
struct Measured {
    wall: Duration,
    process_cpu: Duration,
    sender_cpu: Duration,
}

pub fn run(a: &RingArgs) -> Result<()> {
    crate::sys::raise_nofile(2 * a.sockets as u64 + 64)?;
    let (senders, receivers) = pairs(a.sockets)?;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let drain = {
        let (received, stop) = (received.clone(), stop.clone());
        std::thread::spawn(move || drain(receivers, &received, &stop))
    };
    let frame = vec![b'x'; a.frame];
    println!(
        "ring-send: {} sockets × {} frames of {} B; CPU per delivered frame (process = sender + receiver thread)",
        a.sockets, a.rounds, a.frame
    );
    println!("| mode | run | wall ms | process µs/frame | sender µs/frame |");
    println!("|---|---|---|---|---|");
    let mut out = Ok(());
    'modes: for run in 1..=a.repeat {
        for mode in &a.modes {
            let before = received.load(Ordering::Acquire);
            let want = before + (a.sockets * a.rounds * a.frame) as u64;
            let m = match measure(mode, &senders, &frame, a.rounds, &received, want) {
                Ok(m) => m,
                Err(e) => {
                    out = Err(e);
                    break 'modes;
                }
            };
            let frames = (a.sockets * a.rounds) as f64;
            println!(
                "| {mode} | {run} | {:.1} | {:.2} | {:.2} |",
                m.wall.as_secs_f64() * 1e3,
                m.process_cpu.as_secs_f64() * 1e6 / frames,
                m.sender_cpu.as_secs_f64() * 1e6 / frames
            );
        }
    }
    stop.store(true, Ordering::Release);
    let _ = drain.join();
    out
}

/// `n` connected pairs over loopback: (the accepted side, with TCP_NODELAY as the gateway
/// sets it; the connecting side, non-blocking, for the drain thread).
fn pairs(n: usize) -> Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let (mut s, mut r) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let c = TcpStream::connect(addr).context("connect")?;
        let (a, _) = l.accept()?;
        a.set_nodelay(true)?;
        c.set_nonblocking(true)?;
        s.push(a);
        r.push(c);
    }
    Ok((s, r))
}

fn measure(
    mode: &str,
    senders: &[TcpStream],
    frame: &[u8],
    rounds: usize,
    received: &AtomicU64,
    want: u64,
) -> Result<Measured> {
    let (p0, t0, w0) = (
        cpu(libc::RUSAGE_SELF),
        cpu(libc::RUSAGE_THREAD),
        Instant::now(),
    );
    match mode {
        "write" => send_write(senders, frame, rounds)?,
        "uring" => send_uring(senders, frame, rounds)?,
        "compio" => send_compio(senders, frame, rounds)?,
        other => bail!("unknown mode {other:?} (write, uring, compio)"),
    }
    let sender_cpu = cpu(libc::RUSAGE_THREAD) - t0;
    while received.load(Ordering::Acquire) < want {
        if w0.elapsed() > MODE_DEADLINE {
            bail!("{mode}: frames not drained within {MODE_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Measured {
        wall: w0.elapsed(),
        process_cpu: cpu(libc::RUSAGE_SELF) - p0,
        sender_cpu,
    })
}

/// One `write(2)` per socket per round.
fn send_write(senders: &[TcpStream], frame: &[u8], rounds: usize) -> Result<()> {
    for _ in 0..rounds {
        for s in senders {
            let mut left = frame;
            while !left.is_empty() {
                // SAFETY: writing from a live slice to an open socket.
                let n = unsafe { libc::write(s.as_raw_fd(), left.as_ptr().cast(), left.len()) };
                if n <= 0 {
                    bail!("write: {}", std::io::Error::last_os_error());
                }
                left = &left[n as usize..];
            }
        }
    }
    Ok(())
}

/// One SEND entry per socket per round, submitted [`RING_BATCH`] at a time and reaped
/// before the next batch (the frame outlives every entry that points at it).
fn send_uring(senders: &[TcpStream], frame: &[u8], rounds: usize) -> Result<()> {
    use io_uring::{opcode, types, IoUring};
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_BATCH)
        .context("io_uring setup")?;
    let fds: Vec<i32> = senders.iter().map(|s| s.as_raw_fd()).collect();
    for _ in 0..rounds {
        for chunk in fds.chunks(RING_BATCH as usize) {
            {
                let mut sq = ring.submission();
                for (i, fd) in chunk.iter().enumerate() {
                    let e = opcode::Send::new(types::Fd(*fd), frame.as_ptr(), frame.len() as u32)
                        .build()
                        .user_data(i as u64);
                    // SAFETY: the frame and the socket outlive the entry (reaped below).
                    unsafe { sq.push(&e) }.map_err(|_| anyhow::anyhow!("submission queue full"))?;
                }
            }
            ring.submit_and_wait(chunk.len())?;
            let mut done = 0;
            for c in ring.completion() {
                if c.result() != frame.len() as i32 {
                    bail!("send on socket {}: {}", c.user_data(), c.result());
                }
                done += 1;
            }
            if done != chunk.len() {
                bail!("{done} of {} sends completed", chunk.len());
            }
        }
    }
    Ok(())
}

/// The same sends through compio's driver: one owned `Send` op per socket (it allocates a
/// key per op), [`RING_BATCH`] pushed before the driver is polled for all of them.
fn send_compio(senders: &[TcpStream], frame: &[u8], rounds: usize) -> Result<()> {
    use compio_driver::{op::Send, Proactor, PushEntry};
    use std::os::fd::BorrowedFd;
    let mut driver = Proactor::builder()
        .capacity(RING_BATCH)
        .build()
        .context("compio driver")?;
    // Owned by the ops for as long as they run: the frame is leaked once per run.
    let frame: &'static [u8] = Box::leak(frame.to_vec().into_boxed_slice());
    let fds: Vec<i32> = senders.iter().map(|s| s.as_raw_fd()).collect();
    for _ in 0..rounds {
        for chunk in fds.chunks(RING_BATCH as usize) {
            let mut pending = Vec::with_capacity(chunk.len());
            for fd in chunk {
                // SAFETY: the sockets outlive the run; every op is reaped before returning.
                let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
                match driver.push(Send::new(fd, frame, 0)) {
                    PushEntry::Pending(k) => pending.push(k),
                    PushEntry::Ready(r) => check(r.0, frame.len())?,
                }
            }
            while !pending.is_empty() {
                driver.poll(None)?;
                let mut still = Vec::with_capacity(pending.len());
                for k in pending {
                    match driver.pop(k) {
                        PushEntry::Pending(k) => still.push(k),
                        PushEntry::Ready(r) => check(r.0, frame.len())?,
                    }
                }
                pending = still;
            }
        }
    }
    Ok(())
}

fn check(r: std::io::Result<usize>, len: usize) -> Result<()> {
    match r {
        Ok(n) if n == len => Ok(()),
        Ok(n) => bail!("short send: {n} of {len}"),
        Err(e) => bail!("send: {e}"),
    }
}

/// Read every receiving socket until `stop` (level-triggered epoll), counting bytes.
fn drain(mut socks: Vec<TcpStream>, received: &AtomicU64, stop: &AtomicBool) {
    // SAFETY: plain epoll calls on fds this thread owns.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    for (i, s) in socks.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Acquire) {
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 50) };
        for ev in events.iter().take(n.max(0) as usize) {
            let s = &mut socks[ev.u64 as usize];
            while let Ok(k) = s.read(&mut buf) {
                if k == 0 {
                    break;
                }
                received.fetch_add(k as u64, Ordering::AcqRel);
            }
        }
    }
    unsafe { libc::close(ep) };
}

fn cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct we hand it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}
