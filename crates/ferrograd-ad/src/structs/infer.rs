//! Which field paths of struct parameters the body uses as floats: syntactic type and use
//! inference over the body, to a fixpoint of three passes (see the parent module).

use super::*;

pub(super) const FLOAT_ONLY_METHODS: &[&str] = &[
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
    "exp",
    "exp2",
    "exp_m1",
    "ln",
    "ln_1p",
    "log2",
    "log10",
    "log",
    "sqrt",
    "cbrt",
    "powf",
    "powi",
    "atan2",
    "hypot",
    "recip",
    "floor",
    "ceil",
    "round",
    "trunc",
    "fract",
    "mul_add",
    "to_degrees",
    "to_radians",
];
const BINARY_FLOAT_METHODS: &[&str] = &["powf", "atan2", "hypot", "max", "min", "log", "copysign"];

/// Type and use inference over the body (syntactic, to a fixpoint of three passes).
pub(super) struct Infer<'a> {
    pub(super) structs: &'a [StructParam],
    pub(super) generic: Option<String>,
    pub(super) float_ret: bool,
    /// Scalars: parameters and locals.
    pub(super) vars: HashMap<String, Class>,
    /// Element class of slices and arrays (parameters and local arrays).
    pub(super) slices: HashMap<String, Class>,
    /// What each local is expected to be where it is used.
    pub(super) demanded: HashMap<String, Class>,
    /// Loop variables bound to the elements of a field (`for x in p.w.iter()`).
    pub(super) loop_elems: HashMap<String, Key>,
    pub(super) uses: BTreeMap<Key, Usage>,
    pub(super) members: HashMap<Key, Vec<syn::Member>>,
    /// A struct parameter used whole: (parameter, span, as the receiver of a method call).
    pub(super) whole: Vec<(usize, Span, bool)>,
}

impl Infer<'_> {
    pub(super) fn usage(&mut self, root: usize, members: &[syn::Member], span: Span) -> &mut Usage {
        let key = key_of(root, members);
        self.members
            .entry(key.clone())
            .or_insert_with(|| members.to_vec());
        let u = self.uses.entry(key).or_default();
        u.span.get_or_insert(span);
        u
    }

    pub(super) fn field_class(&self, key: &Key, elem: bool) -> Class {
        match self.uses.get(key) {
            Some(u) if elem && u.elem_float => Class::Float,
            Some(u) if !elem && u.scalar_float => Class::Float,
            _ => Class::Unknown,
        }
    }

    /// What `e` evaluates to, as far as the syntax tells.
    pub(super) fn class(&self, e: &syn::Expr) -> Class {
        use syn::Expr as E;
        if let Some((r, m)) = chain_of(e, self.structs) {
            return self.field_class(&key_of(r, &m), false);
        }
        match e {
            E::Lit(l) => match &l.lit {
                syn::Lit::Float(_) => Class::Float,
                syn::Lit::Int(i) if matches!(i.suffix(), "f64" | "f32") => Class::Float,
                syn::Lit::Int(_) => Class::Int,
                _ => Class::Unknown,
            },
            E::Path(p) => match p.path.get_ident() {
                Some(id) => {
                    let n = id.to_string();
                    self.vars.get(&n).copied().unwrap_or(Class::Unknown).or(self
                        .demanded
                        .get(&n)
                        .copied()
                        .unwrap_or(Class::Unknown))
                }
                None => Class::Unknown,
            },
            E::Index(ix) => {
                if matches!(&*ix.index, E::Range(_)) {
                    return Class::Unknown;
                }
                if let Some((r, m)) = chain_of(&ix.expr, self.structs) {
                    return self.field_class(&key_of(r, &m), true);
                }
                match &*ix.expr {
                    E::Path(p) => p
                        .path
                        .get_ident()
                        .and_then(|i| self.slices.get(&i.to_string()).copied())
                        .unwrap_or(Class::Unknown),
                    _ => Class::Unknown,
                }
            }
            E::Binary(b) => {
                use syn::BinOp as B;
                match b.op {
                    B::Add(_) | B::Sub(_) | B::Mul(_) | B::Div(_) | B::Rem(_) => {
                        self.class(&b.left).or(self.class(&b.right))
                    }
                    B::BitAnd(_) | B::BitOr(_) | B::BitXor(_) | B::Shl(_) | B::Shr(_) => Class::Int,
                    _ => Class::Unknown,
                }
            }
            E::Unary(u) => match u.op {
                syn::UnOp::Neg(_) | syn::UnOp::Deref(_) => self.class(&u.expr),
                _ => Class::Unknown,
            },
            E::Paren(p) => self.class(&p.expr),
            E::Group(g) => self.class(&g.expr),
            E::MethodCall(m) => {
                let name = m.method.to_string();
                if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                    Class::Float
                } else if matches!(name.as_str(), "len" | "count") {
                    Class::Int
                } else {
                    self.class(&m.receiver)
                }
            }
            E::Cast(c) => {
                if is_float_ty(&c.ty, self.generic.as_deref()) {
                    Class::Float
                } else if is_int_ty(&c.ty) {
                    Class::Int
                } else {
                    Class::Unknown
                }
            }
            E::Block(b) => self.block_class(&b.block),
            E::If(i) => self.block_class(&i.then_branch),
            _ => Class::Unknown,
        }
    }

    pub(super) fn block_class(&self, b: &syn::Block) -> Class {
        match b.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => self.class(e),
            _ => Class::Unknown,
        }
    }

    pub(super) fn block(&mut self, b: &syn::Block, demand: Class) {
        let n = b.stmts.len();
        for (k, s) in b.stmts.iter().enumerate() {
            match s {
                syn::Stmt::Local(l) => self.local(l),
                syn::Stmt::Expr(e, semi) => {
                    let d = if k + 1 == n && semi.is_none() {
                        demand
                    } else {
                        Class::Unknown
                    };
                    self.expr(e, d);
                }
                syn::Stmt::Item(_) | syn::Stmt::Macro(_) => {}
            }
        }
    }

    pub(super) fn local(&mut self, l: &syn::Local) {
        let (name, ty) = match &l.pat {
            syn::Pat::Ident(pi) => (Some(pi.ident.to_string()), None),
            syn::Pat::Type(pt) => match &*pt.pat {
                syn::Pat::Ident(pi) => (Some(pi.ident.to_string()), Some(&*pt.ty)),
                _ => (None, Some(&*pt.ty)),
            },
            _ => (None, None),
        };
        let annotated = match ty {
            Some(t) if is_float_ty(t, self.generic.as_deref()) => Class::Float,
            Some(t) if is_int_ty(t) => Class::Int,
            _ => Class::Unknown,
        };
        let Some(init) = &l.init else {
            if let Some(n) = name {
                self.vars.insert(n, annotated);
            }
            return;
        };
        let demand = annotated.or(name
            .as_ref()
            .and_then(|n| self.demanded.get(n).copied())
            .unwrap_or(Class::Unknown));
        // Local arrays: their element class.
        if let (Some(n), syn::Expr::Array(_) | syn::Expr::Repeat(_)) = (&name, &*init.expr) {
            let elem = match &*init.expr {
                syn::Expr::Array(a) => a
                    .elems
                    .iter()
                    .map(|e| self.class(e))
                    .fold(Class::Unknown, Class::or),
                syn::Expr::Repeat(r) => self.class(&r.expr),
                _ => Class::Unknown,
            };
            self.slices.insert(n.clone(), elem);
        }
        self.expr(&init.expr, demand);
        if let Some((_, div)) = &init.diverge {
            self.expr(div, Class::Unknown);
        }
        if let Some(n) = name {
            let c = annotated.or(self.class(&init.expr)).or(demand);
            self.vars.insert(n, c);
        }
    }

    /// Marks the local `name` as expected to be `demand` (floats win).
    pub(super) fn demand(&mut self, name: &str, demand: Class) {
        if demand == Class::Unknown {
            return;
        }
        let e = self.demanded.entry(name.to_string()).or_insert(demand);
        if demand == Class::Float {
            *e = Class::Float;
        }
    }

    pub(super) fn record_value(&mut self, e: &syn::Expr, demand: Class) {
        let (r, m) = chain_of(e, self.structs).expect("a field path");
        let u = self.usage(r, &m, e.span());
        match demand {
            Class::Float => u.scalar_float = true,
            Class::Int => u.scalar_int = true,
            Class::Unknown => u.scalar_unknown = true,
        }
    }

    pub(super) fn expr(&mut self, e: &syn::Expr, demand: Class) {
        use syn::Expr as E;
        if chain_of(e, self.structs).is_some() {
            self.record_value(e, demand);
            return;
        }
        if let Some(r) = root_of(e, self.structs) {
            self.whole.push((r, e.span(), false));
            return;
        }
        match e {
            E::Path(p) => {
                if let Some(id) = p.path.get_ident() {
                    let n = id.to_string();
                    self.demand(&n, demand);
                    if let Some(key) = self.loop_elems.get(&n).cloned() {
                        if demand == Class::Float {
                            self.uses.entry(key).or_default().elem_float = true;
                        }
                    }
                }
            }
            E::Lit(_) => {}
            E::Binary(b) => {
                use syn::BinOp as B;
                let (l, r) = (self.class(&b.left), self.class(&b.right));
                match b.op {
                    B::Add(_) | B::Sub(_) | B::Mul(_) | B::Div(_) | B::Rem(_) => {
                        self.expr(&b.left, demand.or(r));
                        self.expr(&b.right, demand.or(l));
                    }
                    B::AddAssign(_)
                    | B::SubAssign(_)
                    | B::MulAssign(_)
                    | B::DivAssign(_)
                    | B::RemAssign(_) => {
                        self.expr(&b.left, r);
                        self.expr(&b.right, l);
                    }
                    B::Lt(_) | B::Le(_) | B::Gt(_) | B::Ge(_) | B::Eq(_) | B::Ne(_) => {
                        self.expr(&b.left, r);
                        self.expr(&b.right, l);
                    }
                    B::And(_) | B::Or(_) => {
                        self.expr(&b.left, Class::Unknown);
                        self.expr(&b.right, Class::Unknown);
                    }
                    _ => {
                        self.expr(&b.left, Class::Int);
                        self.expr(&b.right, Class::Int);
                    }
                }
            }
            E::Unary(u) => match u.op {
                syn::UnOp::Neg(_) | syn::UnOp::Deref(_) => self.expr(&u.expr, demand),
                _ => self.expr(&u.expr, Class::Unknown),
            },
            E::Paren(p) => self.expr(&p.expr, demand),
            E::Group(g) => self.expr(&g.expr, demand),
            E::Index(ix) => {
                match &*ix.index {
                    E::Range(r) => {
                        for b in r.start.iter().chain(r.end.iter()) {
                            self.expr(b, Class::Int);
                        }
                    }
                    i => self.expr(i, Class::Int),
                }
                if let Some((r, m)) = chain_of(&ix.expr, self.structs) {
                    let ranged = matches!(&*ix.index, E::Range(_));
                    let u = self.usage(r, &m, ix.expr.span());
                    u.slice = true;
                    if ranged {
                        u.borrowed = true;
                    } else {
                        match demand {
                            Class::Float => u.elem_float = true,
                            Class::Int => u.elem_int = true,
                            Class::Unknown => u.elem_unknown = true,
                        }
                    }
                } else {
                    self.expr(&ix.expr, Class::Unknown);
                }
            }
            E::MethodCall(m) => {
                let name = m.method.to_string();
                if let Some((r, mem)) = chain_of(&m.receiver, self.structs) {
                    if matches!(name.as_str(), "len" | "is_empty") {
                        self.usage(r, &mem, m.receiver.span()).slice = true;
                    } else if name == "iter" {
                        let u = self.usage(r, &mem, m.receiver.span());
                        u.slice = true;
                        u.iterated = true;
                    } else if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                        self.record_value(&m.receiver, Class::Float);
                    } else {
                        self.record_value(&m.receiver, demand);
                    }
                } else if let Some(r) = root_of(&m.receiver, self.structs) {
                    self.whole.push((r, m.span(), true));
                } else {
                    let d = if FLOAT_ONLY_METHODS.contains(&name.as_str()) {
                        Class::Float
                    } else if matches!(name.as_str(), "len" | "is_empty" | "iter") {
                        Class::Unknown
                    } else {
                        demand
                    };
                    self.expr(&m.receiver, d);
                }
                let recv = self.class(&m.receiver);
                for a in &m.args {
                    let d = if name == "powi" {
                        Class::Int
                    } else if BINARY_FLOAT_METHODS.contains(&name.as_str()) || name == "mul_add" {
                        recv.or(demand)
                    } else {
                        Class::Unknown
                    };
                    self.expr(a, d);
                }
            }
            E::Call(c) => {
                self.expr(&c.func, Class::Unknown);
                for a in &c.args {
                    self.arg(a);
                }
            }
            E::Reference(_) => {
                self.arg(e);
            }
            E::Cast(c) => self.expr(&c.expr, Class::Unknown),
            E::Range(r) => {
                for b in r.start.iter().chain(r.end.iter()) {
                    self.expr(b, Class::Int);
                }
            }
            E::If(i) => {
                self.expr(&i.cond, Class::Unknown);
                self.block(&i.then_branch, demand);
                if let Some((_, el)) = &i.else_branch {
                    self.expr(el, demand);
                }
            }
            E::Block(b) => self.block(&b.block, demand),
            E::Unsafe(b) => self.block(&b.block, demand),
            E::Loop(l) => self.block(&l.body, Class::Unknown),
            E::While(w) => {
                self.expr(&w.cond, Class::Unknown);
                self.block(&w.body, Class::Unknown);
            }
            E::ForLoop(f) => {
                self.for_loop(f);
            }
            E::Match(m) => {
                self.expr(&m.expr, Class::Unknown);
                for arm in &m.arms {
                    if let Some((_, g)) = &arm.guard {
                        self.expr(g, Class::Unknown);
                    }
                    self.expr(&arm.body, demand);
                }
            }
            E::Assign(a) => {
                let l = self.class(&a.left);
                self.expr(&a.left, self.class(&a.right));
                self.expr(&a.right, l);
            }
            E::Return(r) => {
                if let Some(v) = &r.expr {
                    let d = if self.float_ret {
                        Class::Float
                    } else {
                        Class::Unknown
                    };
                    self.expr(v, d);
                }
            }
            E::Break(b) => {
                if let Some(v) = &b.expr {
                    self.expr(v, Class::Unknown);
                }
            }
            E::Try(t) => self.expr(&t.expr, demand),
            E::Tuple(t) => {
                for x in &t.elems {
                    self.expr(x, Class::Unknown);
                }
            }
            E::Array(a) => {
                for x in &a.elems {
                    self.expr(x, demand);
                }
            }
            E::Repeat(r) => {
                self.expr(&r.expr, demand);
                self.expr(&r.len, Class::Int);
            }
            E::Closure(c) => {
                for p in &c.inputs {
                    if let syn::Pat::Type(pt) = p {
                        if let syn::Pat::Ident(pi) = &*pt.pat {
                            let c = if is_float_ty(&pt.ty, self.generic.as_deref()) {
                                Class::Float
                            } else if is_int_ty(&pt.ty) {
                                Class::Int
                            } else {
                                Class::Unknown
                            };
                            self.vars.insert(pi.ident.to_string(), c);
                        }
                    }
                }
                self.expr(&c.body, Class::Unknown);
            }
            _ => {}
        }
    }

    /// A call argument: `&p.w` / `&p.w[a..b]` borrow a field whole; returns whether `e` was
    /// such a borrow.
    pub(super) fn arg(&mut self, e: &syn::Expr) -> bool {
        if let syn::Expr::Reference(r) = e {
            if let Some((root, m)) = chain_of(&r.expr, self.structs) {
                let u = self.usage(root, &m, r.expr.span());
                u.borrowed = true;
                u.slice = true;
                return true;
            }
            if let syn::Expr::Index(ix) = &*r.expr {
                if matches!(&*ix.index, syn::Expr::Range(_))
                    && chain_of(&ix.expr, self.structs).is_some()
                {
                    self.expr(&r.expr, Class::Unknown);
                    return true;
                }
            }
            if root_of(&r.expr, self.structs).is_some() {
                self.expr(&r.expr, Class::Unknown);
                return true;
            }
            self.expr(&r.expr, Class::Unknown);
            return true;
        }
        self.expr(e, Class::Unknown);
        false
    }

    pub(super) fn for_loop(&mut self, f: &syn::ExprForLoop) {
        fn ident_of(p: &syn::Pat) -> Option<String> {
            match p {
                syn::Pat::Ident(pi) => Some(pi.ident.to_string()),
                syn::Pat::Reference(r) => ident_of(&r.pat),
                _ => None,
            }
        }
        // `for (i, x) in xs.iter().enumerate()`: the element is the second binding.
        let (pat_elem, iter) = match (&*f.pat, &*f.expr) {
            (syn::Pat::Tuple(t), syn::Expr::MethodCall(m))
                if m.method == "enumerate" && t.elems.len() == 2 =>
            {
                if let Some(i) = ident_of(&t.elems[0]) {
                    self.vars.insert(i, Class::Int);
                }
                (ident_of(&t.elems[1]), &*m.receiver)
            }
            (p, e) => (ident_of(p), e),
        };
        let var = pat_elem;
        // The iterated field, if any: `p.w.iter()`, `&p.w`, `p.w`.
        let it = match iter {
            syn::Expr::MethodCall(m) if m.method == "iter" => &*m.receiver,
            syn::Expr::Reference(r) => &*r.expr,
            other => other,
        };
        if let Some((r, m)) = chain_of(it, self.structs) {
            let u = self.usage(r, &m, it.span());
            u.slice = true;
            u.iterated = true;
            if let Some(v) = &var {
                self.loop_elems.insert(v.clone(), key_of(r, &m));
                let c = self.field_class(&key_of(r, &m), true);
                self.vars.insert(v.clone(), c);
            }
        } else {
            match &*f.expr {
                syn::Expr::Range(_) => {
                    if let Some(v) = &var {
                        self.vars.insert(v.clone(), Class::Int);
                    }
                }
                _ => {
                    if let (Some(v), syn::Expr::Path(p)) = (&var, it) {
                        if let Some(id) = p.path.get_ident() {
                            let c = self.slices.get(&id.to_string()).copied();
                            self.vars.insert(v.clone(), c.unwrap_or(Class::Unknown));
                        }
                    }
                }
            }
            self.expr(&f.expr, Class::Unknown);
        }
        self.block(&f.body, Class::Unknown);
    }
}
