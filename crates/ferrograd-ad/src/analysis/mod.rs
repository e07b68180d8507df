//! The analyses that decide, before any code is emitted, what the derivative code computes
//! and keeps: one file each, each filling one part of the [`Plan`] that the reverse emitter
//! reads. Decisions about single statements are keyed by their `StmtId` (given by `lower`),
//! so no emitter counts statement positions or undoes a decision it took while emitting.

mod activity;
mod fusion;
mod recompute;
mod record;
mod stash;

pub use activity::{analyse, reads_incoming, Activity};
pub use fusion::Fusion;
pub use recompute::Recompute;
pub use record::Records;
pub use stash::{mut_arg_uses, mut_args};

use crate::ir::*;
use crate::normalize::LoopFlags;
use std::collections::HashMap;

/// Everything the reverse emitter needs to know about a (normalised) function beyond its IR.
pub struct Plan {
    /// Which variables carry derivatives (`activity.rs`).
    pub act: Activity,
    /// Loop-local values recomputed in the reverse sweep instead of taped (`recompute.rs`).
    pub recompute: Recompute,
    /// Which overwritten values the forward sweep records (`record.rs`).
    pub records: Records,
    /// Which reduction runs fused into the forward sweep (`fusion.rs`).
    pub fusion: Fusion,
}

impl Plan {
    /// `f` with its body normalised (`normalize.rs`, whose `loops` flags fusion reads); `wrt`
    /// as for [`analyse`].
    pub fn new(f: &Func, wrt: Option<&[usize]>, loops: &HashMap<LoopId, LoopFlags>) -> Plan {
        let act = analyse(f, wrt);
        let recompute = recompute::recomputable(f, &act);
        let records = record::records(f, &act, &recompute);
        let fusion = fusion::fusion(f, &act, &recompute, &records, loops);
        Plan {
            act,
            recompute,
            records,
            fusion,
        }
    }
}
