//! What the kernel says about a process and the machine (/proc).

use std::fs;

fn clk_tck() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().map_or(100.0, |v| v as f64)
}

/// user + system CPU seconds of a process (all its threads).
pub fn cpu_s(pid: &str) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clk_tck())
}

/// A field of /proc/PID/status, e.g. VmRSS (kB) or Threads.
pub fn status_field(pid: &str, name: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
}

/// Open file descriptors of a process.
pub fn fds(pid: &str) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// (busy, irq+softirq) CPU seconds of all cores since boot.
pub fn machine() -> (f64, f64) {
    let Ok(s) = fs::read_to_string("/proc/stat") else { return (0.0, 0.0) };
    let v: Vec<f64> = s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let g = |i: usize| v.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    ((g(0) + g(1) + g(2) + g(5) + g(6) + g(7)) / clk_tck(), (g(5) + g(6)) / clk_tck())
}

/// UDP datagrams dropped at full receive buffers, machine-wide.
pub fn udp_rcvbuf_errors() -> u64 {
    let Ok(s) = fs::read_to_string("/proc/net/snmp") else { return 0 };
    let rows: Vec<Vec<&str>> = s.lines().filter(|l| l.starts_with("Udp:")).map(|l| l.split_whitespace().collect()).collect();
    if rows.len() < 2 {
        return 0;
    }
    rows[0].iter().position(|&h| h == "RcvbufErrors").and_then(|i| rows[1].get(i)?.parse().ok()).unwrap_or(0)
}
