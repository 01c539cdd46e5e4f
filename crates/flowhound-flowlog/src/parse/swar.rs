//! Word-at-a-time (SWAR) scanning of line bytes: a token's end found eight bytes per
//! step, a number read eight digits per step, and the byte-by-byte number parser they
//! fall back to. A word loaded past the end of a slice holds 0 there.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `line` from `pos` as a little-endian word; bytes past the end are 0.
#[inline(always)]
pub(super) fn load8(line: &[u8], pos: usize) -> u64 {
    match line.get(pos..pos + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        Some(bytes) => u64::from_le_bytes(bytes),
        None => {
            let mut bytes = [0u8; 8];
            let tail = line.get(pos..).unwrap_or_default();
            bytes[..tail.len().min(8)].copy_from_slice(&tail[..tail.len().min(8)]);
            u64::from_le_bytes(bytes)
        }
    }
}

/// The position of the first byte at or after `pos` that is not printable ASCII
/// (`0x21..=0x7e`), or `line.len()`. Eight bytes per step: tokens average 8-12 bytes,
/// so a byte loop would cost a branch per byte.
#[inline(always)]
pub(super) fn token_end(line: &[u8], mut pos: usize) -> usize {
    while let Some(bytes) = line.get(pos..pos + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        let flagged = unprintable(u64::from_le_bytes(bytes));
        if flagged != 0 {
            return pos + (flagged.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while pos < line.len() && (0x21..=0x7e).contains(&line[pos]) {
        pos += 1;
    }
    pos
}

/// The high bit of every byte of `word` that is not printable ASCII (`0x21..=0x7e`).
/// Exact for the lowest flagged byte, which is all callers use: borrows and carries
/// only travel upwards from a byte that is itself flagged.
#[inline(always)]
pub(super) fn unprintable(word: u64) -> u64 {
    let below = word.wrapping_sub(ONES * 0x21) & !word & HIGH_BITS;
    let above = (word.wrapping_add(ONES) | word) & HIGH_BITS;
    below | above
}

/// The value of `n` (1..=8) ASCII digits starting at byte 0 of `word`, or `None` if
/// one of them is not a digit (SWAR, after fast_float's eight-digit parser).
#[inline(always)]
fn digits8(word: u64, n: usize) -> Option<u64> {
    let keep = if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
    // Bytes past the token become '0' so the digit test ignores them.
    let w = (word & keep) | ((ONES * u64::from(b'0')) & !keep);
    if (w & NIBBLES) | ((w.wrapping_add(ONES * 6) & NIBBLES) >> 4) != ONES * 0x33 {
        return None;
    }
    Some(convert8(w, n))
}

const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;

/// The value of the `n` (1..=8) low bytes of `word`, known to be ASCII digits.
#[inline(always)]
fn convert8(word: u64, n: usize) -> u64 {
    // Shift the digits to the most significant end; the zero bytes below are leading zeros.
    let mut v = word << (8 * (8 - n as u32));
    v = ((v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561)) >> 8;
    v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601)) >> 16;
    ((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001)) >> 32
}

/// The high bit of every byte of `word` that is not an ASCII digit. Exact for the lowest
/// flagged byte, which is all callers use: the `+ 6` can only carry out of a byte that
/// is itself no digit (0xfa and above).
#[inline(always)]
fn non_digits(word: u64) -> u64 {
    let zero = ONES * 0x30;
    let x = ((word & NIBBLES) ^ zero) | ((word.wrapping_add(ONES * 6) & NIBBLES) ^ zero);
    // A byte of x is zero exactly when the byte of `word` is a digit.
    ((x & !HIGH_BITS).wrapping_add(!HIGH_BITS) | x) & HIGH_BITS
}

const POW10: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The run of 1 to 15 ASCII digits at `text[pos..]`: its value, its end and the byte
/// after it (0 past the end of `text`), taken from the word already loaded. Longer runs
/// and runs of none give `None` (longer numbers are left to [`parse_u64`]).
#[inline(always)]
pub(super) fn digit_run(text: &[u8], pos: usize) -> Option<(u64, usize, u8)> {
    let word = load8(text, pos);
    let flags = non_digits(word);
    if flags != 0 {
        let n = (flags.trailing_zeros() / 8) as usize;
        if n == 0 {
            return None;
        }
        return Some((convert8(word, n), pos + n, (word >> (8 * n)) as u8));
    }
    let low_word = load8(text, pos + 8);
    let low_flags = non_digits(low_word);
    if low_flags == 0 {
        return None;
    }
    let high = convert8(word, 8);
    let n = (low_flags.trailing_zeros() / 8) as usize;
    let after = (low_word >> (8 * n)) as u8;
    if n == 0 {
        return Some((high, pos + 8, after));
    }
    Some((high * POW10[n] + convert8(low_word, n), pos + 8 + n, after))
}

/// The number in `line[start..end]`: ASCII digits only, no sign, no overflow.
#[inline(always)]
pub(super) fn digits_at(line: &[u8], start: usize, end: usize) -> Option<u64> {
    let n = end - start;
    match n {
        1..=8 => digits8(load8(line, start), n),
        9..=16 => {
            let high = digits8(load8(line, start), n - 8)?;
            let low = digits8(load8(line, end - 8), 8)?;
            Some(high * 100_000_000 + low)
        }
        _ => parse_u64(&line[start..end]),
    }
}

#[inline]
pub(super) fn parse_u64(token: &[u8]) -> Option<u64> {
    if token.is_empty() || token.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in token {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(value)
}
