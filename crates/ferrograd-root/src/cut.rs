//! Selection cuts for the data loader: `x > 0`, `pt >= 25 && abs_eta < 2.5`, `n == 2 || w < 0`.
//! A small closed grammar (comparisons of a branch with a number, joined by `&&` and `||`,
//! `&&` binding tighter, optional parentheses); anything else is an error that says what is
//! accepted.

use crate::error::{Error, Result};

/// A parsed cut.
#[derive(Clone, Debug, PartialEq)]
pub enum Cut {
    Cmp { branch: String, op: Op, value: f64 },
    And(Box<Cut>, Box<Cut>),
    Or(Box<Cut>, Box<Cut>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Op(Op),
    And,
    Or,
    Open,
    Close,
}

fn bad(text: &str, detail: impl Into<String>) -> Error {
    Error::Config {
        what: format!("cut `{text}`"),
        detail: format!(
            "{}; a cut compares branches with numbers (`x > 0`, `n == 2`), joined by && and ||",
            detail.into()
        ),
    }
}

fn lex(text: &str) -> Result<Vec<Tok>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' => i += 1,
            '(' => (out.push(Tok::Open), i += 1).1,
            ')' => (out.push(Tok::Close), i += 1).1,
            '&' if next == Some('&') => (out.push(Tok::And), i += 2).1,
            '|' if next == Some('|') => (out.push(Tok::Or), i += 2).1,
            '<' | '>' | '=' | '!' => {
                let (op, n) = match (c, next) {
                    ('<', Some('=')) => (Op::Le, 2),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', _) => (Op::Lt, 1),
                    ('>', _) => (Op::Gt, 1),
                    _ => {
                        return Err(bad(
                            text,
                            format!("`{c}` at character {i} is not an operator"),
                        ))
                    }
                };
                out.push(Tok::Op(op));
                i += n;
            }
            c if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while let Some(&d) = chars.get(i) {
                    let exp_sign =
                        (d == '-' || d == '+') && matches!(chars.get(i - 1), Some('e' | 'E'));
                    if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let s: String = chars[start..i].iter().collect();
                let v = s
                    .parse()
                    .map_err(|_| bad(text, format!("`{s}` is not a number")))?;
                out.push(Tok::Num(v));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_' || *d == '.')
                {
                    i += 1;
                }
                out.push(Tok::Name(chars[start..i].iter().collect()));
            }
            c => return Err(bad(text, format!("`{c}` at character {i} is not allowed"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Cut> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Cut::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cut> {
        let mut left = self.atom()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Cut::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Cut> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Open) => {
                let inner = self.or()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(bad(self.text, "a `(` is not closed"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Name(branch)) => match (self.toks.get(self.pos), self.toks.get(self.pos + 1))
            {
                (Some(Tok::Op(op)), Some(Tok::Num(value))) => {
                    let (op, value) = (*op, *value);
                    self.pos += 2;
                    Ok(Cut::Cmp { branch, op, value })
                }
                _ => Err(bad(
                    self.text,
                    format!("`{branch}` must be followed by a comparison with a number"),
                )),
            },
            other => Err(bad(
                self.text,
                format!("expected a branch name, found {other:?}"),
            )),
        }
    }
}

impl Cut {
    /// Parses a cut expression.
    pub fn parse(text: &str) -> Result<Cut> {
        let mut p = Parser {
            toks: lex(text)?,
            pos: 0,
            text,
        };
        let cut = p.or()?;
        if p.pos != p.toks.len() {
            return Err(bad(text, "unexpected text after the end of the expression"));
        }
        Ok(cut)
    }

    /// The branches the cut reads.
    pub fn branches(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect(&self, out: &mut Vec<String>) {
        match self {
            Cut::Cmp { branch, .. } => {
                if !out.contains(branch) {
                    out.push(branch.clone());
                }
            }
            Cut::And(a, b) | Cut::Or(a, b) => {
                a.collect(out);
                b.collect(out);
            }
        }
    }

    /// Evaluates the cut with `value(branch)` giving the entry's value of a branch.
    pub fn eval(&self, value: &dyn Fn(&str) -> f64) -> bool {
        match self {
            Cut::Cmp {
                branch,
                op,
                value: v,
            } => {
                let x = value(branch);
                match op {
                    Op::Lt => x < *v,
                    Op::Le => x <= *v,
                    Op::Gt => x > *v,
                    Op::Ge => x >= *v,
                    Op::Eq => x == *v,
                    Op::Ne => x != *v,
                }
            }
            Cut::And(a, b) => a.eval(value) && b.eval(value),
            Cut::Or(a, b) => a.eval(value) || b.eval(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_parse_and_evaluate_with_and_binding_tighter() {
        let c = Cut::parse("x > 0 && y <= -1.5e1 || n == 2").unwrap();
        assert_eq!(c.branches(), ["x", "y", "n"]);
        let env = |x: f64, y: f64, n: f64| {
            move |b: &str| match b {
                "x" => x,
                "y" => y,
                _ => n,
            }
        };
        assert!(c.eval(&env(1.0, -20.0, 0.0)));
        assert!(!c.eval(&env(1.0, 0.0, 0.0)));
        assert!(c.eval(&env(-1.0, 0.0, 2.0)));
        let c = Cut::parse("(x > 0 || n != 1) && y < 3").unwrap();
        assert!(!c.eval(&env(1.0, 5.0, 1.0)));
        for bad in [
            "x >",
            "x > y",
            "x = 1",
            "(x > 1",
            "x > 1 &&",
            "sqrt(x) > 1",
            "x > 1 garbage",
        ] {
            let e = Cut::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("a cut compares branches with numbers"),
                "{bad}: {e}"
            );
        }
    }
}
