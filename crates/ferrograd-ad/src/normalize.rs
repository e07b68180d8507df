//! Reverse-mode normalisation: early exits (`return`, `break`, `continue`) become flags, and
//! the statements after a possible exit are guarded by `if !flag { … }`. Every block then runs
//! either completely or not at all, so the reverse sweep is the plain reversal of what ran,
//! with branch decisions and trip counts recorded.

use crate::ir::*;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::collections::{BTreeSet, HashMap};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Exit {
    Ret,
    Brk(LoopId),
    Cont(LoopId),
}

/// What the emitter must do around each loop.
#[derive(Default, Clone, Debug)]
pub struct LoopFlags {
    /// Reset to `false` before the loop starts.
    pub brk: Option<syn::Ident>,
    /// Reset to `false` at the start of every iteration.
    pub cont: Option<syn::Ident>,
    /// `if any { break }` at the end of every iteration.
    pub check: Vec<syn::Ident>,
}

pub struct Normalized {
    pub body: Block,
    pub loops: HashMap<LoopId, LoopFlags>,
    /// All flags, declared `let mut flag = false;` at the top of the function.
    pub flags: Vec<syn::Ident>,
}

pub fn normalize(f: &Func) -> Normalized {
    let mut n = Norm {
        ret_var: f.ret_var,
        loops: HashMap::new(),
        flags: BTreeSet::new(),
    };
    let (body, _) = n.block(f.body.clone());
    Normalized {
        body,
        loops: n.loops,
        flags: n.flags.into_iter().map(flag_ident).collect(),
    }
}

fn flag_ident(e: Exit) -> syn::Ident {
    let s = match e {
        Exit::Ret => "__fg_ret".to_string(),
        Exit::Brk(l) => format!("__fg_brk{l}"),
        Exit::Cont(l) => format!("__fg_cont{l}"),
    };
    syn::Ident::new(&s, Span::call_site())
}

struct Norm {
    ret_var: Option<VarId>,
    loops: HashMap<LoopId, LoopFlags>,
    flags: BTreeSet<Exit>,
}

impl Norm {
    fn block(&mut self, b: Block) -> (Block, BTreeSet<Exit>) {
        let mut out = Vec::new();
        let mut exits = BTreeSet::new();
        let mut it = b.into_iter();
        while let Some(s) = it.next() {
            let (stmts, ex) = self.stmt(s);
            out.extend(stmts);
            if !ex.is_empty() {
                let rest: Block = it.by_ref().collect();
                let (rest, ex2) = self.block(rest);
                if !rest.is_empty() {
                    let fl: Vec<_> = ex.iter().map(|e| flag_ident(*e)).collect();
                    let cond: TokenStream = quote!(!(#(#fl)||*));
                    out.push(Stmt::If {
                        cond: Expr::Raw(cond),
                        then_b: rest,
                        else_b: Vec::new(),
                    });
                }
                exits.extend(ex);
                exits.extend(ex2);
                break;
            }
        }
        (out, exits)
    }

    fn stmt(&mut self, s: Stmt) -> (Block, BTreeSet<Exit>) {
        let one = |e: Exit| -> BTreeSet<Exit> { [e].into_iter().collect() };
        match s {
            Stmt::Return(id, e) => {
                self.flags.insert(Exit::Ret);
                let mut out = Vec::new();
                if let (Some(e), Some(r)) = (e, self.ret_var) {
                    out.push(Stmt::Assign {
                        id,
                        target: Place::Var(r),
                        value: e,
                        decl: false,
                        span: Span::call_site(),
                    });
                }
                out.push(Stmt::Raw(quote!(__fg_ret = true;)));
                (out, one(Exit::Ret))
            }
            Stmt::Break(l) => {
                self.flags.insert(Exit::Brk(l));
                let fl = flag_ident(Exit::Brk(l));
                (vec![Stmt::Raw(quote!(#fl = true;))], one(Exit::Brk(l)))
            }
            Stmt::Continue(l) => {
                self.flags.insert(Exit::Cont(l));
                let fl = flag_ident(Exit::Cont(l));
                (vec![Stmt::Raw(quote!(#fl = true;))], one(Exit::Cont(l)))
            }
            Stmt::If {
                cond,
                then_b,
                else_b,
            } => {
                let (t, e1) = self.block(then_b);
                let (e, e2) = self.block(else_b);
                let ex = e1.union(&e2).copied().collect();
                (
                    vec![Stmt::If {
                        cond,
                        then_b: t,
                        else_b: e,
                    }],
                    ex,
                )
            }
            Stmt::For {
                id,
                var,
                iter,
                body,
            } => {
                let (body, ex) = self.block(body);
                let ex = self.loop_flags(id, ex);
                (
                    vec![Stmt::For {
                        id,
                        var,
                        iter,
                        body,
                    }],
                    ex,
                )
            }
            Stmt::While { id, cond, body } => {
                let (body, ex) = self.block(body);
                let ex = self.loop_flags(id, ex);
                (vec![Stmt::While { id, cond, body }], ex)
            }
            other => (vec![other], BTreeSet::new()),
        }
    }

    fn loop_flags(&mut self, id: LoopId, ex: BTreeSet<Exit>) -> BTreeSet<Exit> {
        let mut lf = LoopFlags::default();
        if ex.contains(&Exit::Brk(id)) {
            lf.brk = Some(flag_ident(Exit::Brk(id)));
            lf.check.push(flag_ident(Exit::Brk(id)));
        }
        if ex.contains(&Exit::Cont(id)) {
            lf.cont = Some(flag_ident(Exit::Cont(id)));
        }
        if ex.contains(&Exit::Ret) {
            lf.check.push(flag_ident(Exit::Ret));
        }
        self.loops.insert(id, lf);
        ex.into_iter()
            .filter(|e| !matches!(e, Exit::Brk(l) | Exit::Cont(l) if *l == id))
            .collect()
    }
}
