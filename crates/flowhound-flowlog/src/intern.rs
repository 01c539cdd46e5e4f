//! Interning of the identifiers that repeat across records (interface, instance, VPC,
//! subnet, account ids, ...): a record holds a 4-byte [`Sym`] instead of a heap string.

use rustc_hash::FxHashMap;

/// An interned identifier. `Sym::NONE` stands for a missing value (`-`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);

impl Sym {
    pub const NONE: Sym = Sym(0);

    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    pub fn is_some(self) -> bool {
        self.0 != 0
    }

    /// The symbol's index, for tables keyed by symbol.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The identifier table of one object. Symbols are only meaningful with the interner
/// that made them; resolve them to strings before records of different objects meet.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<[u8]>, Sym>,
    strings: Vec<Box<str>>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner { ids: FxHashMap::default(), strings: vec!["".into()] }
    }

    /// The symbol of `bytes`, adding it if new. The bytes must be valid UTF-8; the
    /// parser only passes printable ASCII.
    pub fn intern(&mut self, bytes: &[u8]) -> Sym {
        if let Some(&sym) = self.ids.get(bytes) {
            return sym;
        }
        if self.strings.is_empty() {
            self.strings.push("".into());
        }
        let sym = Sym(u32::try_from(self.strings.len()).unwrap_or(u32::MAX));
        self.strings.push(String::from_utf8_lossy(bytes).into());
        self.ids.insert(bytes.into(), sym);
        sym
    }

    /// The string of a symbol, or `None` for [`Sym::NONE`] or a foreign symbol.
    pub fn resolve(&self, sym: Sym) -> Option<&str> {
        if sym.is_none() {
            return None;
        }
        self.strings.get(sym.index()).map(|s| &**s)
    }

    /// The string of a symbol, `-` when missing (the flow-log spelling).
    pub fn display(&self, sym: Sym) -> &str {
        self.resolve(sym).unwrap_or("-")
    }

    /// Number of distinct identifiers held.
    pub fn len(&self) -> usize {
        self.strings.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_symbol() {
        let mut interner = Interner::new();
        let a = interner.intern(b"eni-0abc");
        let b = interner.intern(b"eni-0def");
        assert_eq!(interner.intern(b"eni-0abc"), a);
        assert_ne!(a, b);
        assert_eq!(interner.resolve(a), Some("eni-0abc"));
        assert_eq!(interner.resolve(Sym::NONE), None);
        assert_eq!(interner.display(Sym::NONE), "-");
        assert_eq!(interner.len(), 2);
    }

    #[test]
    fn default_interner_works_like_new() {
        let mut interner = Interner::default();
        let a = interner.intern(b"vpc-1");
        assert!(a.is_some());
        assert_eq!(interner.resolve(a), Some("vpc-1"));
    }
}
