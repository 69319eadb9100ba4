//! gate: how many costly hash computations run at once, and how much memory they hold together.
//!
//! Every argon2, scrypt, bcrypt, PBKDF2 and sha-crypt computation (hashing a new password,
//! verifying a stored hash, the dummy check for unknown identifiers) first takes a slot and its
//! memory's worth of the budget, in arrival order, and gives both back when it ends. Slots are
//! the cores, so a core-sized rayon pool (import) never waits; the memory budget keeps a burst
//! of creates, or verifications of hashes at Kratos' maximum bounds, from exhausting the
//! machine. Holders never wait for anything else while they hold, so the gate cannot deadlock
//! rayon workers or the server's blocking threads.

use std::sync::{Condvar, Mutex, OnceLock};

use super::limits::MAX_ARGON2_MEMORY_KIB;

/// The budget never falls below what one computation at Kratos' maximum argon2 bound needs
/// (1 GiB), so such a hash can always be verified, alone.
const MIN_BUDGET_KIB: u64 = MAX_ARGON2_MEMORY_KIB as u64;
/// On machines with many cores, each slot brings this much budget (the default argon2id's
/// 19 MiB, with room for a stronger configured hasher).
const BUDGET_PER_SLOT_KIB: u64 = 64 * 1024;

struct State {
    free_slots: usize,
    free_kib: u64,
    /// The ticket being served and the next one handed out: strict arrival order, so a large
    /// request is not starved by a stream of small ones.
    serving: u64,
    next: u64,
}

pub(super) struct Gate {
    slots: usize,
    budget_kib: u64,
    state: Mutex<State>,
    turn: Condvar,
}

/// Held while a computation runs; gives its slot and memory back when dropped.
pub(super) struct Permit {
    gate: &'static Gate,
    kib: u64,
}

impl Gate {
    fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        let budget_kib = MIN_BUDGET_KIB.max(BUDGET_PER_SLOT_KIB * slots as u64);
        Self {
            slots,
            budget_kib,
            state: Mutex::new(State {
                free_slots: slots,
                free_kib: budget_kib,
                serving: 0,
                next: 0,
            }),
            turn: Condvar::new(),
        }
    }

    fn acquire(&'static self, kib: u64) -> Permit {
        let kib = kib.min(self.budget_kib);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = state.next;
        state.next += 1;
        while !(state.serving == ticket && state.free_slots > 0 && state.free_kib >= kib) {
            state = self.turn.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.serving += 1;
        state.free_slots -= 1;
        state.free_kib -= kib;
        drop(state);
        // The next ticket may fit too.
        self.turn.notify_all();
        Permit { gate: self, kib }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock().unwrap_or_else(|p| p.into_inner());
        state.free_slots += 1;
        state.free_kib += self.kib;
        drop(state);
        self.gate.turn.notify_all();
    }
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate::new(std::thread::available_parallelism().map_or(1, usize::from)))
}

/// Waits for a slot and `kib` KiB of the memory budget (capped at the whole budget).
pub(super) fn enter(kib: u64) -> Permit {
    gate().acquire(kib)
}

/// How many computations may run at once, and the memory budget in KiB they share.
#[must_use]
pub fn bounds() -> (usize, u64) {
    let gate = gate();
    (gate.slots, gate.budget_kib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_the_slots_or_the_budget_at_once() {
        let gate: &'static Gate = Box::leak(Box::new(Gate::new(2)));
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for i in 0..12u64 {
                let (running, peak) = (&running, &peak);
                scope.spawn(move || {
                    // Every third asks for the whole budget and must run alone.
                    let kib = if i % 3 == 0 { u64::MAX } else { 1 };
                    let _permit = gate.acquire(kib);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    if kib == u64::MAX {
                        assert_eq!(now, 1, "a whole-budget holder runs alone");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }
}
