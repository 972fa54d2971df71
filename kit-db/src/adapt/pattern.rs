//! The patterns of `output:PATTERN` adaptation rules: a small regular
//! expression language, matched by backtracking over the kept output.
//!
//! Why not the `regex` crate: it is not in kit's vendored dependency set
//! (docs/decisions.md). The subset: literals, `.`, classes `[a-z0-9_]` and
//! `[^...]`, escapes `\d \w \s \D \W \S` and `\` before any punctuation,
//! groups `( )`, alternation `|`, quantifiers `* + ?` (greedy), and the
//! anchors `^ $`, which match at line starts and ends (output is lines).
//! A prefix `(?i)` makes it case-insensitive. Matching runs the compiled
//! automaton over the text once (Thompson's construction, no
//! backtracking), so no pattern can stall kit-run: time is linear in the
//! output's length times the pattern's.

use std::fmt;

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Group(Box<Alt>),
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quant {
    One,
    Star,
    Plus,
    Opt,
}

type Seq = Vec<(Atom, Quant)>;

#[derive(Debug, Clone)]
struct Alt(Vec<Seq>);

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    prog: Vec<Inst>,
    nocase: bool,
}

/// The automaton's instructions (Thompson's construction).
#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Split(usize, usize),
    Jmp(usize),
    Start,
    End,
    Match,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn fail<T>(&self, what: &str) -> Result<T, PatternError> {
        Err(PatternError(format!("{what} at position {}", self.pos + 1)))
    }
    fn alt(&mut self) -> Result<Alt, PatternError> {
        let mut seqs = vec![self.seq()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            seqs.push(self.seq()?);
        }
        Ok(Alt(seqs))
    }
    fn seq(&mut self) -> Result<Seq, PatternError> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let q = match self.peek() {
                Some('*') => Quant::Star,
                Some('+') => Quant::Plus,
                Some('?') => Quant::Opt,
                _ => Quant::One,
            };
            if q != Quant::One {
                if matches!(atom, Atom::Start | Atom::End) {
                    return self.fail("a quantifier after an anchor");
                }
                self.pos += 1;
                if matches!(self.peek(), Some('*' | '+' | '?')) {
                    return self.fail("two quantifiers in a row");
                }
            }
            seq.push((atom, q));
        }
        Ok(seq)
    }
    fn atom(&mut self) -> Result<Atom, PatternError> {
        let c = self.peek().unwrap_or_default();
        self.pos += 1;
        Ok(match c {
            '.' => Atom::Any,
            '^' => Atom::Start,
            '$' => Atom::End,
            '*' | '+' | '?' => return self.fail("a quantifier with nothing to repeat"),
            '(' => {
                let inner = self.alt()?;
                if self.peek() != Some(')') {
                    return self.fail("an unclosed group");
                }
                self.pos += 1;
                Atom::Group(Box::new(inner))
            }
            '[' => self.class()?,
            '\\' => self.escape()?,
            c => Atom::Char(c),
        })
    }
    fn escape(&mut self) -> Result<Atom, PatternError> {
        let Some(e) = self.peek() else {
            return self.fail("a trailing backslash");
        };
        self.pos += 1;
        let digit = vec![('0', '9')];
        let word = vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
        let space = vec![(' ', ' '), ('\t', '\r')];
        Ok(match e {
            'd' => Atom::Class(digit, false),
            'D' => Atom::Class(digit, true),
            'w' => Atom::Class(word, false),
            'W' => Atom::Class(word, true),
            's' => Atom::Class(space, false),
            'S' => Atom::Class(space, true),
            'n' => Atom::Char('\n'),
            't' => Atom::Char('\t'),
            c if c.is_ascii_punctuation() => Atom::Char(c),
            _ => return self.fail(&format!("an unsupported escape \\{e}")),
        })
    }
    fn class(&mut self) -> Result<Atom, PatternError> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return self.fail("an unclosed [class]");
            };
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                let e = self.peek().unwrap_or('\\');
                self.pos += 1;
                e
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']') {
                let hi = self.chars[self.pos + 1];
                self.pos += 2;
                if hi < lo {
                    return self.fail("a reversed range in a [class]");
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Atom::Class(ranges, negated))
    }
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let (nocase, body) = match text.strip_prefix("(?i)") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(PatternError("an empty pattern".into()));
        }
        let lowered: String;
        let body = if nocase {
            lowered = body.to_lowercase();
            lowered.as_str()
        } else {
            body
        };
        let mut p = Parser {
            chars: body.chars().collect(),
            pos: 0,
        };
        let alt = p.alt()?;
        if p.pos < p.chars.len() {
            return p.fail("an unmatched ')'");
        }
        let mut prog = Vec::new();
        compile_alt(&alt, &mut prog);
        prog.push(Inst::Match);
        Ok(Pattern { prog, nocase })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = if self.nocase {
            text.chars().flat_map(|c| c.to_lowercase()).collect()
        } else {
            text.chars().collect()
        };
        let n = self.prog.len();
        let mut current: Vec<usize> = Vec::new();
        let mut next: Vec<usize> = Vec::new();
        let mut seen = vec![usize::MAX; n];
        for pos in 0..=chars.len() {
            // Unanchored: a new thread starts at every position.
            if self.add(&mut current, &mut seen, 0, pos, &chars) {
                return true;
            }
            let Some(&c) = chars.get(pos) else { break };
            next.clear();
            for &pc in &current {
                let ok = match &self.prog[pc] {
                    Inst::Char(x) => *x == c,
                    Inst::Any => c != '\n',
                    Inst::Class(ranges, neg) => {
                        ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *neg
                    }
                    _ => false,
                };
                if ok && self.add(&mut next, &mut seen, pc + 1, pos + 1, &chars) {
                    return true;
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        false
    }

    /// Adds thread `pc` at `pos` and what it reaches without reading;
    /// true when that reaches Match. `seen` marks (pc, pos) once.
    fn add(
        &self,
        list: &mut Vec<usize>,
        seen: &mut [usize],
        pc: usize,
        pos: usize,
        text: &[char],
    ) -> bool {
        let mut stack = vec![pc];
        while let Some(pc) = stack.pop() {
            if seen[pc] == pos {
                continue;
            }
            seen[pc] = pos;
            match &self.prog[pc] {
                Inst::Match => return true,
                Inst::Jmp(t) => stack.push(*t),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::Start => {
                    if pos == 0 || text[pos - 1] == '\n' {
                        stack.push(pc + 1);
                    }
                }
                Inst::End => {
                    if pos == text.len()
                        || text[pos] == '\n'
                        || (text[pos] == '\r' && text.get(pos + 1) == Some(&'\n'))
                    {
                        stack.push(pc + 1);
                    }
                }
                _ => list.push(pc),
            }
        }
        false
    }
}

fn compile_alt(alt: &Alt, prog: &mut Vec<Inst>) {
    // split L1, next; L1: seq1; jmp end; next: split L2 ... ; last seq
    let mut jumps = Vec::new();
    for (i, seq) in alt.0.iter().enumerate() {
        if i + 1 < alt.0.len() {
            let split = prog.len();
            prog.push(Inst::Split(split + 1, 0));
            compile_seq(seq, prog);
            jumps.push(prog.len());
            prog.push(Inst::Jmp(0));
            let here = prog.len();
            prog[split] = Inst::Split(split + 1, here);
        } else {
            compile_seq(seq, prog);
        }
    }
    let end = prog.len();
    for j in jumps {
        prog[j] = Inst::Jmp(end);
    }
}

fn compile_seq(seq: &Seq, prog: &mut Vec<Inst>) {
    for (atom, q) in seq {
        match q {
            Quant::One => compile_atom(atom, prog),
            Quant::Opt => {
                let split = prog.len();
                prog.push(Inst::Split(0, 0));
                compile_atom(atom, prog);
                prog[split] = Inst::Split(split + 1, prog.len());
            }
            Quant::Star => {
                let split = prog.len();
                prog.push(Inst::Split(0, 0));
                compile_atom(atom, prog);
                prog.push(Inst::Jmp(split));
                prog[split] = Inst::Split(split + 1, prog.len());
            }
            Quant::Plus => {
                let start = prog.len();
                compile_atom(atom, prog);
                prog.push(Inst::Split(start, prog.len() + 1));
            }
        }
    }
}

fn compile_atom(atom: &Atom, prog: &mut Vec<Inst>) {
    match atom {
        Atom::Char(c) => prog.push(Inst::Char(*c)),
        Atom::Any => prog.push(Inst::Any),
        Atom::Class(r, n) => prog.push(Inst::Class(r.clone(), *n)),
        Atom::Start => prog.push(Inst::Start),
        Atom::End => prog.push(Inst::End),
        Atom::Group(alt) => compile_alt(alt, prog),
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(p: &str, t: &str) -> bool {
        Pattern::parse(p).unwrap().is_match(t)
    }

    #[test]
    fn matches_like_a_regex_search() {
        assert!(m("ANOMALY", "scan done\nANOMALY: port 22 open\n"));
        assert!(!m("ANOMALY", "all clear"));
        assert!(m("anomal(y|ies) [0-9]+", "found anomalies 12"));
        assert!(m("^found \\d+ issues?$", "ok\nfound 3 issues\nbye"));
        assert!(!m("^found \\d+ issues?$", "we found 3 issues"));
        assert!(m("a.c", "xxabcxx"));
        assert!(!m("a.c", "a\nc"));
        assert!(m("(?i)error", "An ERROR occurred"));
        assert!(m("x[^0-9]y", "x-y"));
        assert!(!m("x[^0-9]y", "x5y"));
        assert!(m("ab*c", "ac") && m("ab+c", "abbc") && !m("ab+c", "ac"));
        assert!(m("colou?r", "color"));
        assert!(m("\\.txt$", "file.txt"));
        assert!(!m("\\.txt$", "filetxt"));
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let text = "a".repeat(20_000);
        assert!(!m("(a*)*b", &text));
        assert!(!m("(a|aa)+$x", &text));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for bad in ["", "(ab", "ab)", "*a", "[a-", "a**", "\\q"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
