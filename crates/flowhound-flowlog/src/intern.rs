//! Interning of the identifiers that repeat across records (interface, instance, VPC,
//! subnet, account ids, ...): a record holds a 4-byte [`Sym`] instead of a heap string.

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

    /// The symbol at `index` (the inverse of [`Sym::index`]); indexes past `u32::MAX`
    /// saturate.
    pub fn from_index(index: usize) -> Sym {
        Sym(u32::try_from(index).unwrap_or(u32::MAX))
    }

    /// The symbol's index, for tables keyed by symbol.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The identifier table of one object. Symbols are only meaningful with the interner
/// that made them; resolve them to strings before records of different objects meet.
///
/// An open-addressing table of symbol numbers, hashed a word at a time: identifiers are
/// looked up once per field per record, and a general-purpose map hashing byte by byte
/// (and comparing through a boxed key) was the largest cost after tokenizing.
#[derive(Debug, Clone)]
pub struct Interner {
    /// Symbol numbers (0 = empty slot); the length is a power of two.
    table: Vec<u32>,
    /// The hash of each symbol's string, by symbol number, so growing never rehashes strings.
    hashes: Vec<u64>,
    strings: Vec<Box<str>>,
    /// Per-table random seed: identifiers come from outside, and a fixed hash would let
    /// crafted ones collide.
    seed: u64,
    /// A two-way set-associative cache of recent short identifiers in front of the
    /// table: the interface id changes on almost every line, and the full lookup
    /// (seeded hash, probe, compare through the boxed string) cost ~190 instructions
    /// per record. With the 400 interfaces of the benchmark objects, one way sent 14 %
    /// of lookups to the table, two ways send 6 % (callgrind). Collisions only evict,
    /// so crafted ids can slow it to the table's speed, no worse.
    cache: Vec<CacheEntry>,
}

/// Identifiers up to this many bytes go through the cache (AWS ids are 8 to 28 bytes).
pub(crate) const CACHED_BYTES: usize = 32;
const CACHE_BITS: u32 = 11;

/// A short identifier as its bytes zero-padded to whole little-endian words, and its
/// length: two of them compare equal exactly when their bytes do.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub(crate) struct CachedId {
    pub words: [u64; CACHED_BYTES / 8],
    pub len: usize,
}

impl PartialEq for CachedId {
    /// All words and the length in one test: the derived comparison branches after
    /// each word, and identifiers compared with their previous value mostly match.
    #[inline(always)]
    fn eq(&self, other: &CachedId) -> bool {
        let mut differ = (self.len ^ other.len) as u64;
        for (a, b) in self.words.iter().zip(&other.words) {
            differ |= a ^ b;
        }
        differ == 0
    }
}

/// A cached identifier and its symbol (`Sym::NONE`: empty).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CacheEntry {
    pub id: CachedId,
    pub sym: Sym,
}

/// `bytes` (at most [`CACHED_BYTES`]) as little-endian words, zero-padded.
#[inline(always)]
fn padded_words(bytes: &[u8]) -> [u64; CACHED_BYTES / 8] {
    let mut words = [0u64; CACHED_BYTES / 8];
    let mut chunks = bytes.chunks_exact(8);
    for (word, chunk) in words.iter_mut().zip(&mut chunks) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *word = u64::from_le_bytes(w);
    }
    if let Some(word) = words.get_mut(bytes.len() / 8) {
        *word = tail_word(chunks.remainder());
    }
    words
}

impl Default for Interner {
    fn default() -> Self {
        Interner::new()
    }
}

const WORD_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// A word-at-a-time hash of `bytes` (not cryptographic; the table verifies equality).
#[inline(always)]
fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(WORD_MUL);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(WORD_MUL).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        h = (h ^ tail_word(rest)).wrapping_mul(WORD_MUL).rotate_left(29);
    }
    // Final avalanche so the low bits used as the index depend on every input word.
    h ^= h >> 32;
    h = h.wrapping_mul(WORD_MUL);
    h ^ (h >> 29)
}

/// `a == b`, a word at a time: identifiers are 5 to 30 bytes, where a call to the
/// library's memcmp costs more than the comparison.
#[inline(always)]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a_words = a.chunks_exact(8);
    let mut b_words = b.chunks_exact(8);
    for (x, y) in (&mut a_words).zip(&mut b_words) {
        if <[u8; 8]>::try_from(x).ok() != <[u8; 8]>::try_from(y).ok() {
            return false;
        }
    }
    tail_word(a_words.remainder()) == tail_word(b_words.remainder())
}

/// The up to seven bytes of `rest` as a little-endian word, zero-padded. A byte loop:
/// copying a slice of unknown length into a word array calls the library's memcpy,
/// which cost ~70 instructions per record across the interner's uses.
#[inline(always)]
pub(crate) fn tail_word(rest: &[u8]) -> u64 {
    let mut word = 0u64;
    for (i, &b) in rest.iter().enumerate() {
        word |= u64::from(b) << (8 * i);
    }
    word
}

impl Interner {
    pub fn new() -> Interner {
        use std::hash::BuildHasher;
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x666c_6f77u64);
        Interner {
            table: vec![0; 64],
            hashes: vec![0],
            strings: vec!["".into()],
            seed,
            cache: vec![CacheEntry::default(); 1 << CACHE_BITS],
        }
    }

    /// The symbol of `bytes`, adding it if new. The bytes must be valid UTF-8; the
    /// parser only passes printable ASCII.
    #[inline]
    pub fn intern(&mut self, bytes: &[u8]) -> Sym {
        if bytes.len() > CACHED_BYTES {
            return self.intern_in_table(bytes);
        }
        self.intern_cached(&CachedId { words: padded_words(bytes), len: bytes.len() }, bytes)
    }

    /// [`Interner::intern`] for an identifier of at most [`CACHED_BYTES`] whose padded
    /// words the caller already holds (the parser loads them straight from its line).
    #[inline(always)]
    pub(crate) fn intern_cached(&mut self, id: &CachedId, bytes: &[u8]) -> Sym {
        let mut mix = id.len as u64;
        for (i, word) in id.words.iter().enumerate() {
            mix ^= word.rotate_left(17 * i as u32);
        }
        let set = (mix.wrapping_mul(WORD_MUL) >> (64 - CACHE_BITS)) as usize & !1;
        for entry in &self.cache[set..set + 2] {
            if entry.sym.is_some() && entry.id == *id {
                return entry.sym;
            }
        }
        let sym = self.intern_in_table(bytes);
        // The newest entry goes first; the one it displaces takes the other way.
        self.cache[set + 1] = self.cache[set];
        self.cache[set] = CacheEntry { id: *id, sym };
        sym
    }

    fn intern_in_table(&mut self, bytes: &[u8]) -> Sym {
        let hash = hash_bytes(bytes, self.seed);
        let mask = self.table.len() - 1;
        let mut index = hash as usize & mask;
        loop {
            let candidate = self.table[index];
            if candidate == 0 {
                break;
            }
            let sym = candidate as usize;
            if self.hashes[sym] == hash && same_bytes(self.strings[sym].as_bytes(), bytes) {
                return Sym(candidate);
            }
            index = (index + 1) & mask;
        }
        let Ok(number) = u32::try_from(self.strings.len()) else {
            // Four billion distinct identifiers in one object: share the last symbol
            // rather than fail; this is far beyond any real flow log.
            return Sym(u32::MAX);
        };
        self.strings.push(String::from_utf8_lossy(bytes).into());
        self.hashes.push(hash);
        self.table[index] = number;
        if self.strings.len() * 2 > self.table.len() {
            self.grow();
        }
        Sym(number)
    }

    fn grow(&mut self) {
        let mut table = vec![0u32; self.table.len() * 2];
        let mask = table.len() - 1;
        for &number in self.table.iter().filter(|&&n| n != 0) {
            let mut index = self.hashes[number as usize] as usize & mask;
            while table[index] != 0 {
                index = (index + 1) & mask;
            }
            table[index] = number;
        }
        self.table = table;
    }

    /// The string of a symbol, or `None` for [`Sym::NONE`] or a foreign symbol.
    pub fn resolve(&self, sym: Sym) -> Option<&str> {
        if sym.is_none() {
            return None;
        }
        self.strings.get(sym.index()).map(|s| &**s)
    }

    /// The bytes of a symbol; empty for [`Sym::NONE`] or a foreign symbol.
    #[inline]
    pub fn bytes(&self, sym: Sym) -> &[u8] {
        self.strings.get(sym.index()).map_or(&[], |s| s.as_bytes())
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
    fn many_symbols_survive_growth() {
        let mut interner = Interner::new();
        let syms: Vec<Sym> = (0..10_000).map(|i| interner.intern(format!("eni-{i:017x}").as_bytes())).collect();
        for (i, sym) in syms.iter().enumerate() {
            assert_eq!(interner.intern(format!("eni-{i:017x}").as_bytes()), *sym);
            assert_eq!(interner.resolve(*sym), Some(format!("eni-{i:017x}").as_str()));
        }
        assert_eq!(interner.len(), 10_000);
        // Prefixes, lengths around word boundaries and the empty string stay distinct.
        // Around the cache's limit too (32 bytes are cached, 33 are not).
        let long = "x".repeat(32);
        let longer = "x".repeat(33);
        let words = ["", "a", "abcdefg", "abcdefgh", "abcdefghi", "abcdefgh\0", &long, &longer];
        let syms: Vec<Sym> = words.iter().map(|w| interner.intern(w.as_bytes())).collect();
        for (w, sym) in words.iter().zip(&syms) {
            assert_eq!(interner.bytes(*sym), w.as_bytes());
        }
        let distinct: std::collections::BTreeSet<Sym> = syms.iter().copied().collect();
        assert_eq!(distinct.len(), words.len());
        // Asked again, through the cache, each gives its first symbol.
        for (w, sym) in words.iter().zip(&syms) {
            assert_eq!(interner.intern(w.as_bytes()), *sym, "{w:?}");
        }
    }

    #[test]
    fn default_interner_works_like_new() {
        let mut interner = Interner::default();
        let a = interner.intern(b"vpc-1");
        assert!(a.is_some());
        assert_eq!(interner.resolve(a), Some("vpc-1"));
    }
}
