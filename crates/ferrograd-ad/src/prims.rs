//! The compiler's view of the scalar primitives, generated from their one declaration in
//! `ferrograd-prims` (the runtime generates `Real`, `Partials` and the dual numbers from the
//! same table, so the two cannot drift apart).

macro_rules! compiler_tables {
    (
        unary { $( $f:ident $fd:ident ($x:tt, $y:tt) $cost:ident => $rule:expr; )* }
        binary { $( $g:ident $gd:ident ($a:tt, $b:tt, $gy:tt) => $grule:expr; )* }
    ) => {
        /// Float methods with a unary rule in `ferrograd::Partials` (receiver only).
        pub const UNARY_METHODS: &[&str] = &[$(stringify!($f)),*];
        /// Float methods with a binary rule (receiver and one argument).
        pub const BINARY_METHODS: &[&str] = &[$(stringify!($g)),*];

        /// Does the rule of unary method `m` read the primal result (so the reverse sweep must
        /// have it)? Read off the rule's signature in the table: it cannot disagree with it.
        pub fn uses_result(m: &str) -> bool {
            match m {
                $( stringify!($f) => ferrograd_prims::reads!($y), )*
                _ => false,
            }
        }

        /// Is unary method `m` transcendental (its partial worth computing next to the primal
        /// and taping inside loops, rather than recomputing)?
        pub fn is_expensive(m: &str) -> bool {
            match m {
                $( stringify!($f) => ferrograd_prims::is_expensive!($cost), )*
                _ => false,
            }
        }
    };
}
ferrograd_prims::scalar_primitives!(compiler_tables);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reaches_the_compiler() {
        assert!(UNARY_METHODS.contains(&"sin") && BINARY_METHODS.contains(&"atan2"));
        // Rules written in terms of the result, and only those, keep it.
        for m in [
            "tan", "tanh", "exp", "exp2", "exp_m1", "sqrt", "cbrt", "recip",
        ] {
            assert!(uses_result(m), "{m}");
        }
        for m in ["sin", "ln", "abs", "floor"] {
            assert!(!uses_result(m), "{m}");
        }
        assert!(is_expensive("exp") && !is_expensive("abs") && !is_expensive("powi"));
    }
}
