//! The internal representation: structured control flow over renamed variables, with the
//! original spans kept for diagnostics. Built by `lower`, read by the analyses and emitters.

use proc_macro2::{Span, TokenStream};

pub type VarId = usize;
pub type LoopId = usize;
/// Names an assignment, call or `return` statement, given once by `lower`: the analyses key
/// their decisions on it and the emitters look them up (`analysis::Plan`).
pub type StmtId = usize;

/// What the light type inference knows about a value. Float precision is left to rustc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Float,
    Int,
    Bool,
    /// `&[f64]` / `&[f32]`.
    FloatSlice,
    /// `&mut [f64]` / `&mut [f32]`: an input and an output at once.
    FloatSliceMut,
    /// A local `[f64; N]`.
    FloatArray,
    /// `&[usize]`, `[i32; N]`, … (never differentiable).
    IntSlice,
    /// `&tch::Tensor` (tensor-level functions, see `tensor.rs`).
    Tensor,
    /// A closure bound by `let` (index into the lowering's closure table); inlined at calls.
    Closure(usize),
    /// A local tuple (index into the lowering's tuple table of element variables).
    Tuple(usize),
    /// A struct parameter (`p: &S`, or `&self`) that `structs.rs` keeps whole because it is
    /// passed to calls (`g(p)`, `p.m(..)`): its adjoint is `d_p: &mut S` and its tangent
    /// `t_p: &S`, handed to the callee's derivatives. Its float fields are separate
    /// parameters; the fields read through it carry no derivative.
    Struct,
    Unknown,
}

impl Ty {
    /// Has an adjoint of its own kind (scalar or buffer).
    pub fn is_differentiable(self) -> bool {
        matches!(
            self,
            Ty::Float
                | Ty::FloatSlice
                | Ty::FloatSliceMut
                | Ty::FloatArray
                | Ty::Tensor
                | Ty::Struct
        )
    }
    pub fn is_float_buffer(self) -> bool {
        matches!(self, Ty::FloatSlice | Ty::FloatSliceMut | Ty::FloatArray)
    }
    pub fn elem(self) -> Ty {
        match self {
            Ty::FloatSlice | Ty::FloatSliceMut | Ty::FloatArray => Ty::Float,
            Ty::IntSlice => Ty::Int,
            _ => Ty::Unknown,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Var {
    /// The name used in generated code (unique within the function).
    pub name: String,
    pub span: Span,
    pub ty: Ty,
    /// Index into `Func::params` if this is a parameter.
    pub param: Option<usize>,
    /// A generated temporary (if-expressions used as values, match scrutinees, return slot).
    pub synthetic: bool,
    /// Initialiser usable when hoisting the declaration (constant array repeats).
    pub hoist_init: Option<Expr>,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub var: VarId,
    pub ident: syn::Ident,
    pub mutable: bool,
    pub ty: syn::Type,
    pub kind: Ty,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetKind {
    Unit,
    Float,
    /// `Result<(), E>` — `?` allowed on calls.
    ResultUnit,
    /// `Result<f64, E>`.
    ResultFloat,
    /// `tch::Tensor` (tensor-level functions).
    Tensor,
}

impl RetKind {
    pub fn is_result(&self) -> bool {
        matches!(self, RetKind::ResultUnit | RetKind::ResultFloat)
    }
    pub fn has_value(&self) -> bool {
        matches!(
            self,
            RetKind::Float | RetKind::ResultFloat | RetKind::Tensor
        )
    }
}

#[derive(Clone, Debug)]
pub struct Func {
    pub item: syn::ItemFn,
    pub name: syn::Ident,
    pub params: Vec<Param>,
    pub ret: RetKind,
    /// The float type written in the signature (`f64` or `f32`).
    pub float_ty: syn::Type,
    /// The `Result` type written in the signature, when `ret.is_result()`.
    pub ret_ty: syn::ReturnType,
    pub vars: Vec<Var>,
    pub body: Block,
    /// The variable holding the return value (`None` for unit functions).
    pub ret_var: Option<VarId>,
    /// The scalar type parameter of a generic function (`T` in `fn f<T: Real>`): the IR is
    /// lowered as for `f64`, and every derivative function is emitted generic.
    pub generic_over: Option<syn::Ident>,
    /// Call sites may hand stashes (`ArgMode::Stash`) an empty adjoint. Off in `impl` blocks,
    /// which cannot hold the constant assertions that make it sound (`lib.rs`): there a stash
    /// gets its adjoint like any output.
    pub stashes: bool,
}

pub type Block = Vec<Stmt>;

#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "IR values are built once per expansion; boxing only adds noise"
)]
pub enum Place {
    Var(VarId),
    Index(VarId, Expr),
}

impl Place {
    pub fn var(&self) -> VarId {
        match self {
            Place::Var(v) | Place::Index(v, _) => *v,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Iter {
    /// `lo..hi` / `lo..=hi`, optionally `.rev()` and/or `.step_by(k)` (in the written order).
    Range {
        lo: Expr,
        hi: Expr,
        inclusive: bool,
        adaptors: Vec<Adaptor>,
    },
}

#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "IR values are built once per expansion; boxing only adds noise"
)]
pub enum Adaptor {
    Rev,
    StepBy(Expr),
}

#[derive(Clone, Debug)]
pub enum Stmt {
    /// `target = value` (compound assignments are lowered to this form). `decl` marks the
    /// `let` that introduces the variable.
    Assign {
        id: StmtId,
        target: Place,
        value: Expr,
        decl: bool,
        span: Span,
    },
    /// A call evaluated for its effect on `&mut` slice arguments (kernels, `out` writers).
    Call(StmtId, Expr),
    If {
        cond: Expr,
        then_b: Block,
        else_b: Block,
    },
    For {
        id: LoopId,
        var: Option<VarId>,
        iter: Iter,
        body: Block,
    },
    While {
        id: LoopId,
        cond: Option<Expr>,
        body: Block,
    },
    Break(LoopId),
    Continue(LoopId),
    /// `return e`; the reverse-mode normalisation makes it the assignment of the return
    /// variable under the same id.
    Return(StmtId, Option<Expr>),
    /// Forward-only bookkeeping inserted by the reverse-mode normalisation (exit flags).
    Raw(TokenStream),
}

#[derive(Clone, Debug)]
pub enum Expr {
    /// A float, integer or bool literal, or a path constant such as `f64::consts::PI`.
    Lit(syn::Lit),
    Const(syn::Path),
    Var(VarId),
    Index(VarId, Box<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(syn::BinOp, Box<Expr>, Box<Expr>),
    /// `recv.method(args)`: float math methods, `.len()`, integer helpers.
    Method(Box<Expr>, syn::Ident, Vec<Expr>),
    /// A call to a free function; `try_` is a trailing `?`.
    Call {
        path: syn::Path,
        args: Vec<Expr>,
        try_: bool,
        span: Span,
    },
    Cast(Box<Expr>, syn::Type, Ty),
    Ref(Box<Expr>, bool),
    Array(Vec<Expr>),
    Repeat(Box<Expr>, syn::Expr),
    Matches(Box<Expr>, syn::Pat),
    /// Generated boolean tokens (exit-flag guards).
    Raw(TokenStream),
    /// `&[a, b][..]`: a slice of a literal integer array (shape and dimension lists).
    SliceOf(Box<Expr>),
    /// `v.field` of a pass-through (non-differentiable) value, e.g. a dimensions struct.
    Field(Box<Expr>, syn::Member),
    /// `e[i]` where `e` is a pass-through value (e.g. `dims.conv[0]`).
    IndexOf(Box<Expr>, Box<Expr>),
    /// `&x[lo..hi]` / `&mut x[lo..hi]` (either bound optional) of a float buffer `x`: a call
    /// argument only; its adjoint and tangent are the same range of `x`'s.
    SubSlice {
        var: VarId,
        lo: Option<Box<Expr>>,
        hi: Option<Box<Expr>>,
        mutable: bool,
    },
}

pub fn is_arith(op: &syn::BinOp) -> bool {
    matches!(
        op,
        syn::BinOp::Add(_)
            | syn::BinOp::Sub(_)
            | syn::BinOp::Mul(_)
            | syn::BinOp::Div(_)
            | syn::BinOp::Rem(_)
    )
}

/// Float methods with a rule in `ferrograd::Partials` (from `ferrograd-prims`).
pub use crate::prims::{BINARY_METHODS, UNARY_METHODS};

/// `tch::Tensor` methods with a rule in `ferrograd_torch::rules` (from `ferrograd-prims`).
pub use crate::prims::{tensor_op, ArgKind, TensorOp, TENSOR_OPS};

impl Func {
    pub fn var_ty(&self, v: VarId) -> Ty {
        self.vars[v].ty
    }

    /// The type of an expression, as far as the light inference can tell.
    pub fn ty_of(&self, e: &Expr) -> Ty {
        ty_of(&self.vars, e)
    }
}

/// The type of an expression given the variable table.
pub fn ty_of(vars: &[Var], e: &Expr) -> Ty {
    let ty_of = |e: &Expr| ty_of(vars, e);
    {
        match e {
            Expr::Lit(syn::Lit::Float(_)) => Ty::Float,
            Expr::Lit(syn::Lit::Int(i)) => {
                if matches!(i.suffix(), "f32" | "f64") {
                    Ty::Float
                } else {
                    Ty::Int
                }
            }
            Expr::Lit(syn::Lit::Bool(_)) => Ty::Bool,
            Expr::Lit(_) => Ty::Unknown,
            Expr::Const(p) => {
                let first = p.segments.first().map(|s| s.ident.to_string());
                if matches!(first.as_deref(), Some("f64" | "f32" | "core" | "std")) {
                    Ty::Float
                } else {
                    Ty::Unknown
                }
            }
            Expr::Var(v) => vars[*v].ty,
            Expr::Index(v, _) => vars[*v].ty.elem(),
            Expr::Neg(a) => ty_of(a),
            Expr::Not(a) => match ty_of(a) {
                Ty::Int => Ty::Int,
                _ => Ty::Bool,
            },
            Expr::Binary(op, a, b) => {
                if is_arith(op) {
                    let (ta, tb) = (ty_of(a), ty_of(b));
                    if ta == Ty::Tensor || tb == Ty::Tensor {
                        Ty::Tensor
                    } else if ta == Ty::Float || tb == Ty::Float {
                        Ty::Float
                    } else if ta == Ty::Int || tb == Ty::Int {
                        Ty::Int
                    } else {
                        Ty::Unknown
                    }
                } else if matches!(
                    op,
                    syn::BinOp::BitAnd(_)
                        | syn::BinOp::BitOr(_)
                        | syn::BinOp::BitXor(_)
                        | syn::BinOp::Shl(_)
                        | syn::BinOp::Shr(_)
                ) {
                    ty_of(a)
                } else {
                    Ty::Bool
                }
            }
            Expr::Method(recv, m, _) => {
                let m = m.to_string();
                if m == "len" {
                    Ty::Int
                } else if matches!(
                    m.as_str(),
                    "is_nan"
                        | "is_finite"
                        | "is_infinite"
                        | "is_sign_negative"
                        | "is_sign_positive"
                ) {
                    Ty::Bool
                } else {
                    ty_of(recv)
                }
            }
            Expr::Call { args, .. } => {
                if args.iter().any(|a| ty_of(a) == Ty::Tensor) {
                    Ty::Tensor
                } else if args.iter().any(|a| ty_of(a).is_differentiable()) {
                    Ty::Float
                } else {
                    Ty::Unknown
                }
            }
            Expr::Cast(_, _, t) => *t,
            Expr::Ref(a, _) => ty_of(a),
            Expr::Array(items) => {
                let tys: Vec<Ty> = items.iter().map(&ty_of).collect();
                if tys.contains(&Ty::Float) {
                    Ty::FloatArray
                } else if tys.contains(&Ty::Int) {
                    Ty::IntSlice
                } else {
                    Ty::Unknown
                }
            }
            Expr::Repeat(a, _) => match ty_of(a) {
                Ty::Float => Ty::FloatArray,
                Ty::Int => Ty::IntSlice,
                _ => Ty::Unknown,
            },
            Expr::Matches(..) | Expr::Raw(_) => Ty::Bool,
            Expr::SliceOf(_) => Ty::IntSlice,
            Expr::SubSlice { mutable, .. } => {
                if *mutable {
                    Ty::FloatSliceMut
                } else {
                    Ty::FloatSlice
                }
            }
            Expr::Field(..) | Expr::IndexOf(..) => Ty::Unknown,
        }
    }
}

impl Func {
    /// Calls `f` for every variable read by `e` (including those in index expressions).
    pub fn for_each_read(e: &Expr, f: &mut dyn FnMut(VarId)) {
        crate::visit::each_expr(e, &mut |e| match e {
            Expr::Var(v) | Expr::Index(v, _) | Expr::SubSlice { var: v, .. } => f(*v),
            _ => {}
        });
    }
}

/// Is `v` the variable of a `for` loop somewhere in `b` (bound by the loop, never declared)?
pub fn is_loop_var(b: &Block, v: VarId) -> bool {
    crate::visit::any_stmt(
        b,
        &mut |s| matches!(s, Stmt::For { var, .. } if *var == Some(v)),
    )
}

/// The float buffers the call at the root of `e` may write (`g(out, …)` with `out: &mut [f64]`,
/// `g(&mut v, …)?`), each with its callee and argument position.
pub fn written_buffers(f: &Func, e: &Expr) -> Vec<(syn::Path, usize, VarId)> {
    let Expr::Call { path, args, .. } = e else {
        return Vec::new();
    };
    args.iter()
        .enumerate()
        .filter_map(|(j, a)| match a {
            Expr::Ref(inner, true) => match &**inner {
                Expr::Var(v) if f.var_ty(*v).is_float_buffer() => Some((path.clone(), j, *v)),
                _ => None,
            },
            Expr::Var(v) if f.var_ty(*v) == Ty::FloatSliceMut => Some((path.clone(), j, *v)),
            Expr::SubSlice {
                var, mutable: true, ..
            } => Some((path.clone(), j, *var)),
            _ => None,
        })
        .collect()
}
