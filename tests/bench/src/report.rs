//! Results: `RESULT` lines as cases finish, then the ratio table, the
//! targets, notes, and the same as JSON.

use std::fmt::Write as _;

use capbinder_kmod_shim::bench::stats::{JsonRow, Summary};
use capbinder_kmod_shim::bench::Placement;

/// Every D-Bus sync case, by the daemon and then the client library:
/// each must be slower than capbinder at 32 B and 4 KiB.
const DBUS_SYNC: [&str; 4] = [
    "dbus-daemon",
    "dbus-broker",
    "dbus-daemon-libdbus",
    "dbus-broker-libdbus",
];

/// One measured case.
#[derive(Clone, Debug)]
pub struct Row {
    /// Mechanism name (`capbinder`, `relay-blocking`, `dbus-daemon`, ...).
    pub mech: String,
    /// Where the processes ran.
    pub placement: Placement,
    /// Payload bytes each way.
    pub payload: usize,
    /// The figures.
    pub s: Summary,
}

impl Row {
    /// The `RESULT` line.
    pub fn line(&self) -> String {
        format!(
            "RESULT mech={} placement={} payload={} iters={} median_us={:.2} p99_us={:.2} ops_s={:.0}",
            self.mech,
            self.placement.name(),
            self.payload,
            self.s.iters,
            self.s.median_ns as f64 / 1e3,
            self.s.p99_ns as f64 / 1e3,
            self.s.ops_s
        )
    }
}

/// The mediator's memory with `clients` connected processes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MemRow {
    /// Connected client processes (the measuring one included).
    pub clients: usize,
    /// Mediator `VmRSS`, KiB.
    #[serde(rename = "mediator_rss_kib")]
    pub rss_kib: u64,
    /// Mediator `RssAnon`, KiB.
    #[serde(rename = "rss_anon_kib")]
    pub anon_kib: u64,
    /// Mediator `RssShmem`, KiB.
    #[serde(rename = "rss_shmem_kib")]
    pub shmem_kib: u64,
    /// Mediator open fds.
    #[serde(rename = "mediator_fds")]
    pub fds: u64,
    /// (RSS now - RSS at one client) / (clients - 1), KiB.
    pub per_client_kib: Option<f64>,
}

impl MemRow {
    /// The `MEMORY` line.
    pub fn line(&self) -> String {
        format!(
            "MEMORY mech=capbinder clients={} mediator_rss_kib={} rss_anon_kib={} rss_shmem_kib={} mediator_fds={} per_client_kib={}",
            self.clients,
            self.rss_kib,
            self.anon_kib,
            self.shmem_kib,
            self.fds,
            self.per_client_kib
                .map_or("-".into(), |x| format!("{x:.1}"))
        )
    }
}

/// Everything one run measured.
#[derive(Default)]
pub struct Report {
    /// Cases in the order they ran.
    pub rows: Vec<Row>,
    /// Mediator memory by connected clients.
    pub mem: Vec<MemRow>,
    /// Setup, skipped cases, copies made.
    pub notes: Vec<String>,
    /// The CPUs (client's, the rest's).
    pub cpus: (usize, usize),
}

impl Report {
    /// Records and prints a row.
    pub fn push(&mut self, row: Row) {
        println!("{}", row.line());
        self.rows.push(row);
    }

    /// Records and prints a note (once).
    pub fn note(&mut self, n: impl Into<String>) {
        let n = n.into();
        if !self.notes.contains(&n) {
            crate::util::progress(&n);
            self.notes.push(n);
        }
    }

    fn find(&self, mech: &str, p: Placement, payload: usize) -> Option<&Summary> {
        self.rows
            .iter()
            .find(|r| r.mech == mech && r.placement == p && r.payload == payload)
            .map(|r| &r.s)
    }

    /// `pick` (a p50 or p99) at `n` connected clients over `pick` at one,
    /// each taken over the relay floor measured beside it (interleaved;
    /// see `cb::clients_group`), so that the machine's drift between the
    /// two counts cancels out. `None` without the floor rows.
    fn clients_over_floor(&self, n: usize, p: Placement, pick: fn(&Summary) -> u64) -> Option<f64> {
        let at = |k: usize| -> Option<f64> {
            let cb = self.find(&format!("capbinder-clients-{k}"), p, 32)?;
            let floor = self.find(&format!("relay-blocking-clients-{k}"), p, 32)?;
            (pick(floor) > 0).then(|| pick(cb) as f64 / pick(floor) as f64)
        };
        let one = at(1)?;
        (one > 0.0).then(|| at(n)).flatten().map(|x| x / one)
    }

    /// median(a) / median(b), like placement and payload.
    fn median_ratio(&self, a: &str, b: &str, p: Placement, payload: usize) -> Option<f64> {
        let (x, y) = (self.find(a, p, payload)?, self.find(b, p, payload)?);
        (y.median_ns > 0).then(|| x.median_ns as f64 / y.median_ns as f64)
    }

    /// The ratio table and the targets, as printed after the `RESULT`
    /// lines.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let placements: Vec<Placement> = [Placement::Same, Placement::Split]
            .into_iter()
            .filter(|p| self.rows.iter().any(|r| r.placement == *p))
            .collect();
        let mut payloads: Vec<usize> = self
            .rows
            .iter()
            .filter(|r| r.mech == "capbinder" || r.mech == "capbinder-aidl")
            .map(|r| r.payload)
            .collect();
        payloads.sort_unstable();
        payloads.dedup();
        let cols: [(&str, &str, &str); 12] = [
            ("cb/relay", "capbinder", "relay-blocking"),
            ("cbm/relay", "capbinder-mediated", "relay-blocking"),
            ("aidl/relay", "capbinder-aidl", "relay-blocking"),
            ("aidl/cb", "capbinder-aidl", "capbinder"),
            ("cb/direct", "capbinder", "direct"),
            ("cb/kbinder", "capbinder", "kernel-binder"),
            ("relay/direct", "relay-blocking", "direct"),
            ("daemon/cb", "dbus-daemon", "capbinder"),
            ("broker/cb", "dbus-broker", "capbinder"),
            ("daemon-lib/cb", "dbus-daemon-libdbus", "capbinder"),
            ("broker-lib/cb", "dbus-broker-libdbus", "capbinder"),
            ("daemon/broker", "dbus-daemon", "dbus-broker"),
        ];
        let _ = writeln!(
            out,
            "RATIOS sync round trips, median / median, like placements only (cb = capbinder through the runtime API, calls over direct channels where they qualify; cbm = the same with every call through the mediator; aidl = through generated AIDL code; daemon and broker = D-Bus through zbus, -lib through libdbus)"
        );
        let mut header = format!("{:<9} {:>9}", "placement", "payload");
        for (name, _, _) in cols {
            let _ = write!(header, " {name:>14}");
        }
        let _ = writeln!(out, "{header}");
        for &p in &placements {
            for &payload in &payloads {
                let mut line = format!("{:<9} {:>9}", p.name(), payload);
                for (_, a, b) in cols {
                    let cell = self
                        .median_ratio(a, b, p, payload)
                        .map_or("-".into(), |x| format!("{x:.2}"));
                    let _ = write!(line, " {cell:>14}");
                }
                let _ = writeln!(out, "{line}");
            }
        }
        // Throughput: D-Bus pipelined against capbinder oneway.
        let mut tput = String::new();
        for &p in &placements {
            // Each D-Bus pair's pipelined row is its sync row's name with
            // `-pipelined`.
            let pairs = ["capbinder-oneway-x1", "capbinder-oneway-w64-x1"]
                .into_iter()
                .flat_map(|cbm| DBUS_SYNC.map(|d| (cbm, format!("{d}-pipelined"))));
            for (cbm, dm) in pairs {
                if let (Some(a), Some(b)) = (self.find(cbm, p, 32), self.find(&dm, p, 32)) {
                    let _ = writeln!(
                        tput,
                        "{:<9} {cbm} {:.0}/s vs {dm} {:.0}/s: capbinder/D-Bus throughput {:.2}",
                        p.name(),
                        a.ops_s,
                        b.ops_s,
                        a.ops_s / b.ops_s.max(1e-9)
                    );
                }
            }
        }
        if !tput.is_empty() {
            let _ = writeln!(out, "RATIOS throughput (ops/s over ops/s)");
            out.push_str(&tput);
        }
        // Topics: D-Bus signal latency over capbinder topic latency.
        let mut topics = String::new();
        for &p in &placements {
            for n in [1usize, 10, 100] {
                let cbm = format!("capbinder-topic-subs-{n}");
                for d in ["dbus-daemon", "dbus-broker"] {
                    let dm = format!("{d}-signal-subs-{n}");
                    if let Some(x) = self.median_ratio(&dm, &cbm, p, 32) {
                        let _ = writeln!(
                            topics,
                            "{:<9} subs={n:<4} {dm}/{cbm} latency {x:.2}",
                            p.name()
                        );
                    }
                }
                let (cbt, dt) = (
                    format!("capbinder-topic-tput-subs-{n}"),
                    format!("dbus-daemon-signal-tput-subs-{n}"),
                );
                if let (Some(a), Some(b)) = (self.find(&cbt, p, 32), self.find(&dt, p, 32)) {
                    let _ = writeln!(
                        topics,
                        "{:<9} subs={n:<4} capbinder/dbus-daemon delivered throughput {:.2}",
                        p.name(),
                        a.ops_s / b.ops_s.max(1e-9)
                    );
                }
            }
        }
        if !topics.is_empty() {
            let _ = writeln!(
                out,
                "RATIOS topics (publish until the last subscriber has it)"
            );
            out.push_str(&topics);
        }
        // Many clients.
        let mut clients = String::new();
        for &p in &placements {
            let base = self.find("capbinder-clients-1", p, 32);
            for n in [10usize, 100, 1000] {
                if let (Some(b), Some(x)) =
                    (base, self.find(&format!("capbinder-clients-{n}"), p, 32))
                {
                    let _ = write!(
                        clients,
                        "{:<9} clients={n:<5} p50 {:.2}x, p99 {:.2}x of one client",
                        p.name(),
                        x.median_ns as f64 / b.median_ns.max(1) as f64,
                        x.p99_ns as f64 / b.p99_ns.max(1) as f64
                    );
                    if let (Some(p50), Some(p99)) = (
                        self.clients_over_floor(n, p, |s| s.median_ns),
                        self.clients_over_floor(n, p, |s| s.p99_ns),
                    ) {
                        let _ = write!(
                            clients,
                            "; over the relay floor beside each: p50 {p50:.2}x, p99 {p99:.2}x"
                        );
                    }
                    clients.push('\n');
                }
            }
        }
        if !clients.is_empty() {
            let _ = writeln!(out, "RATIOS many clients (same offered load)");
            out.push_str(&clients);
        }
        // Concurrent callers: throughput over one caller's.
        let mut callers = String::new();
        for p in [Placement::Same, Placement::Split, Placement::Spread] {
            let Some(one) = self.find("capbinder-callers-1", p, 32) else {
                continue;
            };
            let _ = write!(callers, "{:<9}", p.name());
            for k in [2usize, 8, 32] {
                if let Some(x) = self.find(&format!("capbinder-callers-{k}"), p, 32) {
                    let _ = write!(
                        callers,
                        " callers={k}: {:.2}x",
                        x.ops_s / one.ops_s.max(1e-9)
                    );
                }
            }
            callers.push('\n');
        }
        if !callers.is_empty() {
            let _ = writeln!(
                out,
                "RATIOS concurrent callers (calls per second over one caller's)"
            );
            out.push_str(&callers);
        }
        for m in &self.mem {
            let _ = writeln!(out, "{}", m.line());
        }
        self.targets(&mut out, &placements);
        for n in &self.notes {
            let _ = writeln!(out, "NOTE {n}");
        }
        out
    }

    fn targets(&self, out: &mut String, placements: &[Placement]) {
        let verdict = |ok: bool| if ok { "MET" } else { "MISSED" };
        for &p in placements {
            if let Some(x) = self.median_ratio("capbinder", "relay-blocking", p, 32) {
                let _ = writeln!(
                    out,
                    "TARGET capbinder/relay-blocking placement={} payload=32: {x:.2} (target <= 1.2) {}",
                    p.name(),
                    verdict(x <= 1.2)
                );
            }
            if let Some(x) = self.median_ratio("capbinder-mediated", "relay-blocking", p, 32) {
                let _ = writeln!(
                    out,
                    "TARGET capbinder-mediated/relay-blocking placement={} payload=32: {x:.2} (target <= 1.2; every call through the mediator) {}",
                    p.name(),
                    verdict(x <= 1.2)
                );
            }
            for d in DBUS_SYNC {
                for payload in [32usize, 4096] {
                    if let Some(x) = self.median_ratio(d, "capbinder", p, payload) {
                        let _ = writeln!(
                            out,
                            "TARGET {d}/capbinder placement={} payload={payload}: {x:.2} (target > 1) {}",
                            p.name(),
                            verdict(x > 1.0)
                        );
                    }
                }
            }
            if let Some(x) = self.median_ratio("capbinder", "direct", p, 1 << 20) {
                let _ = writeln!(
                    out,
                    "TARGET capbinder/direct placement={} payload=1048576: {x:.2} (target <= 0.8) {}",
                    p.name(),
                    verdict(x <= 0.8)
                );
            }
            if let (Some(one), Some(k)) = (
                self.find("capbinder-clients-1", p, 32),
                self.find("capbinder-clients-1000", p, 32),
            ) {
                let raw = k.p99_ns as f64 / one.p99_ns.max(1) as f64;
                // Minutes apart on a machine that drifts: judged over the
                // floor measured beside each where there is one.
                let line = match self.clients_over_floor(1000, p, |s| s.p99_ns) {
                    Some(x) => format!(
                        "{x:.2} over the relay floor beside each, {raw:.2} as measured (target <= 2) {}",
                        verdict(x <= 2.0)
                    ),
                    None => format!("{raw:.2} (target <= 2) {}", verdict(raw <= 2.0)),
                };
                let _ = writeln!(
                    out,
                    "TARGET p99 clients=1000 / clients=1 placement={}: {line}",
                    p.name()
                );
            }
        }
    }

    /// The run as JSON: rows (times in µs), memory, notes.
    pub fn json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            cpus: [usize; 2],
            results: Vec<JsonRow<'a>>,
            memory: &'a [MemRow],
            notes: &'a [String],
        }
        let doc = Doc {
            cpus: [self.cpus.0, self.cpus.1],
            results: self
                .rows
                .iter()
                .map(|r| r.s.json_row(&r.mech, r.placement.name(), r.payload))
                .collect(),
            memory: &self.mem,
            notes: &self.notes,
        };
        // Plain data: serializing cannot fail (a non-finite number
        // becomes null).
        serde_json::to_string_pretty(&doc).expect("plain data serializes") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mech: &str, p: Placement, payload: usize, median_ns: u64) -> Row {
        Row {
            mech: mech.into(),
            placement: p,
            payload,
            s: Summary {
                iters: 10,
                median_ns,
                p99_ns: median_ns * 2,
                min_ns: median_ns / 2,
                mean_ns: median_ns as f64,
                ops_s: 1e9 / median_ns as f64,
            },
        }
    }

    #[test]
    fn lines_and_targets() {
        let mut r = Report::default();
        r.rows.push(row("capbinder", Placement::Same, 32, 30_000));
        r.rows
            .push(row("relay-blocking", Placement::Same, 32, 20_000));
        r.rows.push(row("dbus-daemon", Placement::Same, 32, 90_000));
        r.rows
            .push(row("dbus-broker-libdbus", Placement::Same, 32, 27_000));
        r.rows
            .push(row("relay-blocking", Placement::Split, 32, 1_000));
        assert_eq!(
            r.rows[0].line(),
            "RESULT mech=capbinder placement=same payload=32 iters=10 median_us=30.00 p99_us=60.00 ops_s=33333"
        );
        let t = r.table();
        assert!(
            t.contains("TARGET capbinder/relay-blocking placement=same payload=32: 1.50 (target <= 1.2) MISSED"),
            "{t}"
        );
        assert!(
            t.contains(
                "TARGET dbus-daemon/capbinder placement=same payload=32: 3.00 (target > 1) MET"
            ),
            "{t}"
        );
        // The libdbus client is judged like zbus, here faster than capbinder.
        assert!(
            t.contains(
                "TARGET dbus-broker-libdbus/capbinder placement=same payload=32: 0.90 (target > 1) MISSED"
            ),
            "{t}"
        );
        assert!(!t.contains("placement=split payload=32: "), "{t}");
        let doc: serde_json::Value = serde_json::from_str(&r.json()).expect("valid JSON");
        assert_eq!(doc["results"][0]["mech"], "capbinder");
        assert_eq!(doc["results"][0]["median_us"], 30.0);
    }

    #[test]
    fn many_clients_are_judged_over_the_floor_measured_beside_them() {
        let mut r = Report::default();
        // The machine ran 50% slower when 1000 clients were measured:
        // as measured, the p99 grew 3x; over the floor, 2x.
        r.rows
            .push(row("capbinder-clients-1", Placement::Same, 32, 10_000));
        r.rows
            .push(row("relay-blocking-clients-1", Placement::Same, 32, 5_000));
        r.rows
            .push(row("capbinder-clients-1000", Placement::Same, 32, 30_000));
        r.rows.push(row(
            "relay-blocking-clients-1000",
            Placement::Same,
            32,
            7_500,
        ));
        // Without floor rows (it could not start), as measured.
        r.rows
            .push(row("capbinder-clients-1", Placement::Split, 32, 10_000));
        r.rows
            .push(row("capbinder-clients-1000", Placement::Split, 32, 25_000));
        let t = r.table();
        assert!(
            t.contains("TARGET p99 clients=1000 / clients=1 placement=same: 2.00 over the relay floor beside each, 3.00 as measured (target <= 2) MET"),
            "{t}"
        );
        assert!(
            t.contains(
                "TARGET p99 clients=1000 / clients=1 placement=split: 2.50 (target <= 2) MISSED"
            ),
            "{t}"
        );
        assert!(
            t.contains("same      clients=1000  p50 3.00x, p99 3.00x of one client; over the relay floor beside each: p50 2.00x, p99 2.00x"),
            "{t}"
        );
    }

    #[test]
    fn concurrent_callers_are_throughput_over_one_caller_per_placement() {
        let mut r = Report::default();
        r.rows
            .push(row("capbinder-callers-1", Placement::Spread, 32, 40_000));
        r.rows
            .push(row("capbinder-callers-8", Placement::Spread, 32, 10_000));
        r.rows
            .push(row("capbinder-callers-32", Placement::Spread, 32, 8_000));
        r.rows
            .push(row("capbinder-callers-1", Placement::Same, 32, 30_000));
        r.rows
            .push(row("capbinder-callers-2", Placement::Same, 32, 30_000));
        assert_eq!(
            r.rows[0].line(),
            "RESULT mech=capbinder-callers-1 placement=spread payload=32 iters=10 median_us=40.00 p99_us=80.00 ops_s=25000"
        );
        let t = r.table();
        assert!(t.contains("same      callers=2: 1.00x\n"), "{t}");
        assert!(
            t.contains("spread    callers=8: 4.00x callers=32: 5.00x\n"),
            "{t}"
        );
    }
}
