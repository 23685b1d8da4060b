//! Deadlines of all SAs in one priority queue.
//!
//! Arming a timer pushes an entry; re-arming or cancelling bumps the SA's per-kind generation
//! so stale entries are skipped when they surface. Cost per operation is O(log n) in the
//! number of pending entries; nothing scans all SAs per tick.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::output::SaId;

/// The kinds of deadline an IKE SA can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Resend the outstanding request (RFC 7296 2.1).
    Retransmit = 0,
    /// A half-open or unauthenticated SA is given up.
    Establish = 1,
    /// Check the peer's liveness when nothing was received for a while (RFC 7296 2.4).
    Dpd = 2,
    /// Rekey the IKE SA before its lifetime ends.
    IkeRekey = 3,
    /// Rekey the CHILD_SAs before their lifetime ends.
    ChildRekey = 4,
    /// The IKE SA's hard lifetime: it is deleted if not rekeyed by then (RFC 7296 2.8).
    IkeExpire = 5,
    /// IKEv1: resend a Quick Mode answer whose HASH(3) has not come (RFC 2409 5.5).
    QuickAnswer = 6,
    /// IKEv1: delete an ISAKMP SA a newer one replaced, once the peer has had time to move
    /// its IPsec SAs over (see `v1/reauth.rs`).
    DeleteReplaced = 7,
    /// IKEv1: remove the IPsec SA pairs a Quick Mode of ours replaced and send their Deletes
    /// (see `v1/informational.rs`).
    SendDeletes = 8,
    /// IKEv1: the first Quick Mode of an ISAKMP SA we made in Aggressive Mode (see
    /// `v1/reauth.rs`).
    QuickStart = 9,
}

pub const TIMER_KINDS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: Instant,
    sa: SaId,
    kind: Timer,
    generation: u64,
}

/// The armed deadline of each kind and its generation; lives inside the SA. Generations come
/// from one engine-wide counter, so an entry left behind by a removed SA never matches the
/// SA that later takes its table slot.
#[derive(Debug, Default, Clone)]
pub struct TimerSlots {
    generation: [u64; TIMER_KINDS],
    armed: [Option<Instant>; TIMER_KINDS],
}

impl TimerSlots {
    pub fn deadline(&self, kind: Timer) -> Option<Instant> {
        self.armed[kind as usize]
    }
}

#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    next_generation: u64,
}

impl TimerQueue {
    pub fn arm(&mut self, slots: &mut TimerSlots, sa: SaId, kind: Timer, at: Instant) {
        let slot = kind as usize;
        self.next_generation += 1;
        slots.generation[slot] = self.next_generation;
        slots.armed[slot] = Some(at);
        self.heap.push(Reverse(Entry {
            at,
            sa,
            kind,
            generation: self.next_generation,
        }));
    }

    pub fn cancel(slots: &mut TimerSlots, kind: Timer) {
        slots.armed[kind as usize] = None;
    }

    /// The earliest pending deadline (possibly a stale one: waking for it is harmless).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Pops the next entry due at `now`, whatever its staleness; the caller checks it with
    /// [`TimerQueue::is_current`] against the SA it names.
    pub fn pop_due(&mut self, now: Instant) -> Option<(SaId, Timer, u64)> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= now => {
                let e = *e;
                self.heap.pop();
                Some((e.sa, e.kind, e.generation))
            }
            _ => None,
        }
    }

    /// Whether a popped entry is still the armed one; clears the slot when it is.
    pub fn take_if_current(slots: &mut TimerSlots, kind: Timer, generation: u64) -> bool {
        let slot = kind as usize;
        if slots.generation[slot] == generation && slots.armed[slot].is_some() {
            slots.armed[slot] = None;
            true
        } else {
            false
        }
    }
}
