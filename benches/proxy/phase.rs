//! The phases a run can measure, by the names `SOCKGATE_BENCH_PHASES` gives them. It only names
//! and selects phases; what each one sends is up to the bench.

use anyhow::bail;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ping1,
    Ping32,
    List32,
    Download,
    Upload,
    Inspect1,
    List1,
    /// sockgate's resident set idle and with many idle connections; no request rate.
    Memory,
    /// Per-caller limits: one caller at its connection cap while another is served.
    Limits,
    /// `ping32` and `list32` again, driven by oha, a load generator outside the bench's process.
    Oha,
    /// Instructions per proxied `/_ping`, sockgate's and nginx's, counted by callgrind.
    Instructions,
}

/// Every phase, in the order a run measures them.
pub const ALL: [Phase; 11] = [
    Phase::Ping1,
    Phase::Ping32,
    Phase::List32,
    Phase::Download,
    Phase::Upload,
    Phase::Inspect1,
    Phase::List1,
    Phase::Memory,
    Phase::Limits,
    Phase::Oha,
    Phase::Instructions,
];

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Ping1 => "ping1",
            Phase::Ping32 => "ping32",
            Phase::List32 => "list32",
            Phase::Download => "download",
            Phase::Upload => "upload",
            Phase::Inspect1 => "inspect1",
            Phase::List1 => "list1",
            Phase::Memory => "memory",
            Phase::Limits => "limits",
            Phase::Oha => "oha",
            Phase::Instructions => "instructions",
        }
    }

    /// Whether the phase sets sockgate with ownership on against sockgate without, rather than
    /// sockgate against nginx.
    pub fn ownership(self) -> bool {
        matches!(self, Phase::Inspect1 | Phase::List1)
    }
}

/// Parses a comma-separated list of phase names. The phases still run in the order of `ALL`,
/// whatever the order of the list.
pub fn parse(list: &str) -> anyhow::Result<Vec<Phase>> {
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match ALL.iter().find(|p| p.name() == name) {
            Some(phase) => chosen.push(*phase),
            None => bail!("unknown phase `{name}`; the phases are {}", names()),
        }
    }
    if chosen.is_empty() {
        bail!("no phase named; the phases are {}", names());
    }
    Ok(ALL.into_iter().filter(|p| chosen.contains(p)).collect())
}

fn names() -> String {
    ALL.map(Phase::name).join(", ")
}
