//! The compiler's view of the primitives, generated from their one declaration in
//! `ferrograd-prims`: the runtime generates `Real`, `Partials` and the dual numbers from the
//! same scalar table, and `ferrograd-torch` checks its tensor rules against the same tensor
//! table, so none of them can drift apart.

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

/// How a tensor method passes one of its arguments (its `kind` in the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// A tensor operand: a node of the graph, differentiated.
    Tensor,
    /// An optional operand: a node when written `Some(t)`, else `None` to the rule.
    Bias,
    /// Integers, passed to the rule as `&(arg)[..]`.
    List,
    /// Passed as written (or not at all).
    Value,
}

/// One tensor-level op: a `tch::Tensor` method and its rule in `ferrograd_torch::rules`.
pub struct TensorOp {
    pub method: &'static str,
    /// The method's arguments: name and kind.
    pub args: &'static [(&'static str, ArgKind)],
    pub rule: &'static str,
    /// What the rule takes, in order: `x`, `y`, `d` or an argument's name.
    pub params: &'static [&'static str],
    /// What the rule returns, in order: `x` or a `Tensor`/`Bias` argument's name.
    pub grads: &'static [&'static str],
    /// A rule on the same parameters for when `x`'s gradient is not needed, and its gradients.
    pub without_x: Option<(&'static str, &'static [&'static str])>,
}

impl TensorOp {
    /// Position and kind of the argument called `name`.
    pub fn arg(&self, name: &str) -> Option<(usize, ArgKind)> {
        self.args
            .iter()
            .position(|(n, _)| *n == name)
            .map(|j| (j, self.args[j].1))
    }
}

macro_rules! arg_kind {
    (tensor) => {
        ArgKind::Tensor
    };
    (bias) => {
        ArgKind::Bias
    };
    (list) => {
        ArgKind::List
    };
    (value) => {
        ArgKind::Value
    };
}

macro_rules! without_x {
    () => {
        None
    };
    ($rule:ident ($($g:ident),*)) => {
        Some((stringify!($rule), &[$(stringify!($g)),*]))
    };
}

macro_rules! tensor_tables {
    (methods { $(
        $m:ident ( $( $arg:ident : $kind:ident $( ( $($vty:tt)* ) )? ),* )
            => $rule:ident ( $($p:ident),* ) -> ( $($g:ident),* )
            $( | $rule2:ident -> ( $($g2:ident),* ) )? ;
    )* }) => {
        /// `tch::Tensor` methods with a rule in `ferrograd_torch::rules`.
        pub const TENSOR_OPS: &[TensorOp] = &[$(
            TensorOp {
                method: stringify!($m),
                args: &[$( (stringify!($arg), arg_kind!($kind)) ),*],
                rule: stringify!($rule),
                params: &[$(stringify!($p)),*],
                grads: &[$(stringify!($g)),*],
                without_x: without_x!($( $rule2 ($($g2),*) )?),
            },
        )*];
    };
}
ferrograd_prims::tensor_primitives!(tensor_tables);

/// The op of tensor method `m`.
pub fn tensor_op(m: &str) -> Option<&'static TensorOp> {
    TENSOR_OPS.iter().find(|op| op.method == m)
}

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

    /// Every name a tensor rule takes or returns is one the compiler can resolve.
    #[test]
    fn the_tensor_table_is_consistent() {
        for op in TENSOR_OPS {
            let m = op.method;
            let lines = TENSOR_OPS.iter().filter(|o| o.method == m).count();
            assert_eq!(lines, 1, "{m}");
            for p in op.params {
                let known = matches!(*p, "x" | "y" | "d") || op.arg(p).is_some();
                assert!(known, "{m}: rule parameter `{p}` is no argument");
            }
            let gradient = |g: &str| {
                g == "x" || matches!(op.arg(g), Some((_, ArgKind::Tensor | ArgKind::Bias)))
            };
            for g in op.grads {
                assert!(gradient(g), "{m}: `{g}` has no gradient");
            }
            if let Some((_, gs)) = op.without_x {
                let rest: Vec<_> = op.grads.iter().filter(|g| **g != "x").collect();
                assert!(
                    gs.iter().eq(rest),
                    "{m}: the rule without `x` returns the others"
                );
            }
            // A lone gradient is the receiver's (the generated code gives it to `x`).
            assert!(op.grads.len() > 1 || op.grads == ["x"], "{m}");
        }
        assert_eq!(tensor_op("conv1d").map(|o| o.args.len()), Some(6));
    }
}
