//! Linux process probes for `hold`: RLIMIT_NOFILE, VmRSS and CPU ticks of a pid and its children.

use std::fs;

use anyhow::{bail, Result};

/// Raise the soft RLIMIT_NOFILE to the hard limit; fail if the result is below `needed`.
pub fn raise_nofile(needed: u64) -> Result<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        bail!(
            "getrlimit(RLIMIT_NOFILE): {}",
            std::io::Error::last_os_error()
        );
    }
    if rl.rlim_cur < rl.rlim_max {
        let want = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            bail!(
                "setrlimit(RLIMIT_NOFILE, {}): {}",
                rl.rlim_max,
                std::io::Error::last_os_error()
            );
        }
        rl.rlim_cur = rl.rlim_max;
    }
    let have: u64 = rl.rlim_cur;
    if have < needed {
        bail!(
            "not enough file descriptors: RLIMIT_NOFILE hard limit is {have}, this run needs about {needed} \
             (raise it, e.g. `ulimit -Hn {needed}` as root or in limits.conf, or open fewer connections)"
        );
    }
    Ok(have)
}

/// `pid` and its direct children (from every thread's `children` file).
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = fs::read_to_string(t.path().join("children")) {
                pids.extend(s.split_whitespace().filter_map(|x| x.parse::<u32>().ok()));
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// VmRSS of one process in KiB.
pub fn vm_rss_kb(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime+stime of one process in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second.
pub fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Memory of `pid`: (main VmRSS, main + direct children) in KiB.
pub fn rss(pid: u32) -> Option<(u64, u64)> {
    let main = vm_rss_kb(pid)?;
    let kids: u64 = with_children(pid)
        .into_iter()
        .filter(|&p| p != pid)
        .filter_map(vm_rss_kb)
        .sum();
    Some((main, main + kids))
}

/// CPU ticks of `pid` plus its direct children.
pub fn cpu_total(pid: u32) -> Option<u64> {
    let main = cpu_ticks(pid)?;
    let kids: u64 = with_children(pid)
        .into_iter()
        .filter(|&p| p != pid)
        .filter_map(cpu_ticks)
        .sum();
    Some(main + kids)
}

/// The host's CPU time so far, from the first line of `/proc/stat`, in clock ticks summed
/// over every CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostCpu {
    /// Every state's ticks (user … steal).
    pub total: u64,
    /// Ticks the hypervisor ran something else while a vCPU wanted to run (`steal`).
    pub steal: u64,
}

impl HostCpu {
    /// Read it now (`None` where `/proc/stat` is missing or unreadable).
    pub fn now() -> Option<HostCpu> {
        HostCpu::parse(&fs::read_to_string("/proc/stat").ok()?)
    }

    /// Parse the aggregate `cpu` line: user nice system idle iowait irq softirq steal ...
    /// (guest time is already inside user and nice, so it is not added again).
    pub fn parse(stat: &str) -> Option<HostCpu> {
        let line = stat.lines().next()?;
        let mut f = line.split_whitespace();
        if f.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
        (v.len() == 8).then(|| HostCpu {
            total: v.iter().sum(),
            steal: v[7],
        })
    }

    /// Percent of the host's CPU time between `self` and `later` that was stolen.
    pub fn steal_pct_until(&self, later: &HostCpu) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| 100.0 * steal as f64 / total as f64)
    }
}

/// Set the calling thread's nice value (Linux: per thread); failures are ignored.
pub fn nice_this_thread(nice: i32) {
    // SAFETY: setpriority on our own thread id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

/// Put the calling thread in Linux's `SCHED_IDLE` class: it runs only on CPU time no other
/// thread wants, and a waking normal thread preempts it at once. Returns whether it took.
pub fn sched_idle_this_thread() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_probes() {
        let me = std::process::id();
        assert!(vm_rss_kb(me).unwrap() > 0);
        assert!(cpu_ticks(me).is_some());
        assert!(with_children(me).contains(&me));
        let h = HostCpu::now().expect("/proc/stat");
        assert!(h.total > 0 && h.steal <= h.total);
        assert!(clk_tck() > 0);
    }

    #[test]
    fn steal_between_two_samples() {
        let a = HostCpu::parse("cpu  100 0 50 800 10 0 20 20 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(
            a,
            HostCpu {
                total: 1000,
                steal: 20
            }
        );
        let b = HostCpu::parse("cpu  400 0 150 1080 10 0 40 320 7 0\n").unwrap();
        assert_eq!(a.steal_pct_until(&b), Some(30.0));
        assert_eq!(b.steal_pct_until(&a), None);
        assert_eq!(HostCpu::parse("cpu0 1 2 3 4 5 6 7 8"), None);
        assert_eq!(HostCpu::parse("cpu  1 2 3"), None);
    }
}
