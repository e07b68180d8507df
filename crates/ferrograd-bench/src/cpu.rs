//! Who else used the CPUs while a framework was timed: the hypervisor (steal time) and other
//! processes (machine busy time the worker did not spend). A run in which they took a
//! noticeable share is flagged as disturbed in the report, instead of quietly skewing the
//! ratios (on a shared VM one run in a few is; see bench/README.md, method point 9).
//!
//! Linux's `/proc/stat` and `/proc/<pid>/stat` count in ticks of 10 ms summed over the CPUs, so
//! a share is only given once the timed steps span enough ticks to mean something.

/// Steal plus other processes above this share of the machine's CPU time during a
/// framework's timed steps flags the run as disturbed (on 2 CPUs: a fifth of one core).
pub const DISTURBED_PCT: f64 = 10.0;

/// Fewer machine ticks than this (0.5 s of CPU time over all CPUs) is too short to judge.
pub const MIN_TICKS: u64 = 50;

/// Machine-wide CPU ticks since boot, from the `cpu` line of `/proc/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineTicks {
    /// Spent running anything (user, nice, system, irq, softirq; guest time is inside user).
    pub busy: u64,
    /// Taken by the hypervisor for other guests.
    pub steal: u64,
    /// Everything: busy, idle, iowait and steal.
    pub total: u64,
}

/// Parses the first (`cpu`, all CPUs) line of `/proc/stat`.
pub fn parse_machine(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    if f.len() < 4 {
        return None;
    }
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    let steal = at(7);
    Some(MachineTicks {
        busy,
        steal,
        total: busy + at(3) + at(4) + steal,
    })
}

/// The machine's ticks now (`None` off Linux).
pub fn machine_now() -> Option<MachineTicks> {
    parse_machine(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The machine's CPU time over a framework's timed commands, by who used it (ticks).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuShare {
    pub total: u64,
    pub worker: u64,
    pub steal: u64,
    /// Busy time that was not the worker's: other processes (a previous worker still
    /// spinning, a background job).
    pub foreign: u64,
}

impl CpuShare {
    /// Adds one command: the machine's ticks before and after it, and the ticks the worker's
    /// process (all its threads) spent meanwhile.
    pub fn add(&mut self, before: MachineTicks, after: MachineTicks, worker: u64) {
        let busy = after.busy.saturating_sub(before.busy);
        self.total += after.total.saturating_sub(before.total);
        self.steal += after.steal.saturating_sub(before.steal);
        self.worker += worker;
        self.foreign += busy.saturating_sub(worker);
    }

    fn pct(&self, part: u64) -> Option<f64> {
        (self.total >= MIN_TICKS).then(|| 100.0 * part as f64 / self.total as f64)
    }

    /// Steal time, % of the machine's CPU time (`None`: too short to judge).
    pub fn steal_pct(&self) -> Option<f64> {
        self.pct(self.steal)
    }

    /// Other processes, % of the machine's CPU time (`None`: too short to judge).
    pub fn foreign_pct(&self) -> Option<f64> {
        self.pct(self.foreign)
    }

    /// Whether steal and other processes together took more than [`DISTURBED_PCT`].
    pub fn disturbed(&self) -> bool {
        self.pct(self.steal + self.foreign)
            .is_some_and(|p| p > DISTURBED_PCT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_all_cpus_line() {
        let stat = "cpu  100 5 20 800 3 1 2 9 0 0\ncpu0 50 2 10 400 1 1 1 4 0 0\nintr 1 2\n";
        let t = parse_machine(stat).unwrap();
        assert_eq!(
            t,
            MachineTicks {
                busy: 100 + 5 + 20 + 1 + 2,
                steal: 9,
                total: 128 + 800 + 3 + 9
            }
        );
        // Old kernels end the line before steal.
        let t = parse_machine("cpu  10 0 5 85\n").unwrap();
        assert_eq!((t.busy, t.steal, t.total), (15, 0, 100));
        assert!(parse_machine("intr 1 2\n").is_none());
        assert!(parse_machine("cpu  1 x 2 3\n").is_none());
    }

    #[test]
    fn splits_the_machine_time_by_who_used_it() {
        let m = |busy, steal, total| MachineTicks { busy, steal, total };
        let mut s = CpuShare::default();
        // 2 CPUs for 0.5 s = 100 ticks: the worker 80, steal 5, another process 10, idle 5.
        s.add(m(1000, 50, 5000), m(1090, 55, 5100), 80);
        assert_eq!(
            s,
            CpuShare {
                total: 100,
                worker: 80,
                steal: 5,
                foreign: 10
            }
        );
        assert_eq!(s.steal_pct(), Some(5.0));
        assert_eq!(s.foreign_pct(), Some(10.0));
        assert!(s.disturbed(), "15% > {DISTURBED_PCT}%");
        // A quiet command: 100 more ticks, the worker all of the busy time.
        s.add(m(2000, 55, 6000), m(2098, 55, 6100), 98);
        assert_eq!(s.foreign_pct(), Some(5.0));
        assert!((s.steal_pct().unwrap() - 2.5).abs() < 1e-12);
        assert!(!s.disturbed(), "7.5%");
        // The worker's count may run a tick ahead of the machine's: no negative share.
        let mut q = CpuShare::default();
        q.add(m(0, 0, 0), m(60, 0, 100), 61);
        assert_eq!(q.foreign, 0);
    }

    #[test]
    fn too_few_ticks_give_no_share() {
        let mut s = CpuShare::default();
        s.add(
            MachineTicks::default(),
            MachineTicks {
                busy: 10,
                steal: 10,
                total: MIN_TICKS - 1,
            },
            0,
        );
        assert_eq!(s.steal_pct(), None);
        assert!(!s.disturbed());
    }

    #[test]
    fn this_machine_has_a_cpu_line() {
        let t = machine_now().expect("/proc/stat");
        assert!(t.total > 0 && t.busy <= t.total && t.steal <= t.total);
    }
}
