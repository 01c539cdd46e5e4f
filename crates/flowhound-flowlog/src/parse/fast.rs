//! The fast paths: a line of single-space separated, well-formed values read field by
//! field in its schema's order, in the same pass that finds the tokens. The common
//! orders each have straight-line code (their public constants are defined here, with
//! it); any other order follows its plan. A line either path declines goes to the
//! general path in the parent module, which gives the same record or names the error.

use super::swar::{digit_run, load8, token_end, unprintable};
use super::value::{Fields, ValueSource, address, ipv4_run, set_value};
use super::{Schema, Slot};
use crate::field::Field;
use crate::intern::{CACHED_BYTES, CachedId, Sym, tail_word};
use crate::record::{Addr, FlowRecord};

/// The `len` of a [`FastLine`] whose end is not known yet: the line ends where its last
/// token is followed by a bare `\n`.
pub(super) const UNTIL_NEWLINE: usize = usize::MAX;

/// Reads the fields of one line in the order of its schema, token by token.
struct FastLine<'t> {
    /// The line and, past `len`, its terminator (see [`LineParser::parse_line_in`](super::LineParser::parse_line_in)).
    text: &'t [u8],
    /// The length of the line without trailing separators or CR, or [`UNTIL_NEWLINE`].
    len: usize,
    pos: usize,
}

impl FastLine<'_> {
    /// Steps past a token ending at `end` followed by the byte `after`: the last token
    /// must end the line, the others must be followed by exactly one space.
    ///
    /// A token followed by a space need not be checked to end before `len`: past `len`
    /// there are only separators, a CR and the `\n`, so a token there is empty and fails,
    /// and a last token ending at `len` puts every token before it inside the line.
    #[inline(always)]
    fn next_token(&mut self, end: usize, after: u8, last: bool) -> Option<()> {
        if last {
            let ends_line = if self.len == UNTIL_NEWLINE { after == b'\n' } else { end == self.len };
            self.pos = end;
            return ends_line.then_some(());
        }
        if after == b' ' {
            self.pos = end + 1;
            return Some(());
        }
        None
    }

    /// The byte at `pos` (0 past the end of the text).
    #[inline(always)]
    fn byte(&self, pos: usize) -> u8 {
        self.text.get(pos).copied().unwrap_or(0)
    }

    /// The printable token at the position, stepped past.
    #[inline(always)]
    fn token(&mut self, last: bool) -> Option<&[u8]> {
        let start = self.pos;
        let end = token_end(self.text, start);
        if end == start {
            return None;
        }
        self.next_token(end, self.byte(end), last)?;
        Some(&self.text[start..end])
    }

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, last: bool) -> Option<Option<T>> {
        let Some((value, end, after)) = digit_run(self.text, self.pos) else {
            // Not a number: only `-` is still acceptable here.
            if self.byte(self.pos) != b'-' {
                return None;
            }
            self.next_token(self.pos + 1, self.byte(self.pos + 1), last)?;
            return Some(None);
        };
        // The byte after the digits comes with them: no second load for the separator.
        self.next_token(end, after, last)?;
        T::try_from(value).ok().map(Some)
    }

    #[inline(always)]
    fn address(&mut self, field: Field, last: bool) -> Option<Option<Addr>> {
        if let Some((bits, end)) = ipv4_run(self.text, self.pos)
            && self.next_token(end, self.byte(end), last).is_some()
        {
            return Some(Some(Addr::from_ipv4_bits(bits)));
        }
        address(field, self.token(last)?).ok()
    }

    /// A keyword of at most eight bytes (all of them are), compared as one masked word
    /// with no search for the token's end: a match must be followed by its separator.
    #[inline(always)]
    fn keyword<T: Copy>(&mut self, choices: &[(&[u8], T)], last: bool) -> Option<Option<T>> {
        let start = self.pos;
        let word = load8(self.text, start);
        for (name, value) in choices {
            let n = name.len();
            let (mask, after) = if n >= 8 {
                (u64::MAX, self.byte(start + 8))
            } else {
                ((1u64 << (8 * n)) - 1, (word >> (8 * n)) as u8)
            };
            if word & mask == tail_word(name) {
                self.next_token(start + n, after, last)?;
                return Some(Some(*value));
            }
        }
        if word as u8 != b'-' {
            return None;
        }
        self.next_token(start + 1, (word >> 8) as u8, last)?;
        Some(None)
    }
}

// The planned path's half of `Fields`: it reads the identifier from the line itself.
impl Fields<'_> {
    /// The planned path's identifier: the printable token at the line's position, its
    /// words loaded while its end is found. `None` leaves the line to the general path.
    #[inline(always)]
    fn symbol_at(&mut self, field: Field, line: &mut FastLine<'_>, last: bool) -> Option<Sym> {
        let start = line.pos;
        let first = load8(line.text, start);
        // `-` alone, the commonest value of the service and sublocation fields: no lookup.
        let second = (first >> 8) as u8;
        if first as u8 == b'-' && !(0x21..=0x7e).contains(&second) {
            line.next_token(start + 1, second, last)?;
            return Some(Sym::NONE);
        }
        let mut id = CachedId { words: [0; CACHED_BYTES / 8], len: 0 };
        let mut word = first;
        for index in 0..CACHED_BYTES / 8 {
            let flagged = unprintable(word);
            if flagged != 0 {
                let n = (flagged.trailing_zeros() / 8) as usize;
                id.words[index] = word & ((1u64 << (8 * n)) - 1);
                id.len = 8 * index + n;
                if id.len == 0 {
                    return None;
                }
                // The byte after the token is in the word already.
                line.next_token(start + id.len, (word >> (8 * n)) as u8, last)?;
                return Some(self.cached_symbol(field, &id, &line.text[start..start + id.len]));
            }
            id.words[index] = word;
            word = load8(line.text, start + 8 * (index + 1));
        }
        // Longer than the cache takes (ECS ARNs, say).
        let end = token_end(line.text, start + CACHED_BYTES);
        line.next_token(end, line.byte(end), last)?;
        Some(self.interner.intern(&line.text[start..end]))
    }
}

/// The planned path's value: the next token of the line, the line's last if `LAST`.
/// Any surprise is an error without a message: the general path then names it.
struct NextToken<'a, 't, 'p, const LAST: bool> {
    line: &'a mut FastLine<'t>,
    fields: &'a mut Fields<'p>,
}

impl<const LAST: bool> ValueSource for NextToken<'_, '_, '_, LAST> {
    type Error = ();

    #[inline(always)]
    fn number<T: TryFrom<u64>>(&mut self, _field: Field) -> Result<Option<T>, ()> {
        self.line.number(LAST).ok_or(())
    }

    #[inline(always)]
    fn address(&mut self, field: Field) -> Result<Option<Addr>, ()> {
        self.line.address(field, LAST).ok_or(())
    }

    #[inline(always)]
    fn symbol(&mut self, field: Field) -> Result<Sym, ()> {
        self.fields.symbol_at(field, self.line, LAST).ok_or(())
    }

    #[inline(always)]
    fn keyword<T: Copy>(&mut self, _field: Field, choices: &[(&[u8], T)]) -> Result<Option<T>, ()> {
        self.line.keyword(choices, LAST).ok_or(())
    }
}

/// The planned path: reads the fields of `slots` in order, for lines of single-space
/// separated, well-formed values, with one jump per field to code for that field.
/// `None` means "not such a line": the general parser then decides (and names the
/// error, if any); every line accepted here gives the record the general parser would.
#[inline]
fn parse_planned(
    slots: &[Slot],
    text: &[u8],
    len: usize,
    fields: &mut Fields<'_>,
    record: &mut FlowRecord,
) -> Option<usize> {
    let (&last, init) = slots.split_last()?;
    let mut line = FastLine { text, len, pos: 0 };
    for &slot in init {
        planned_slot::<false>(&mut line, fields, record, slot)?;
    }
    planned_slot::<true>(&mut line, fields, record, last)?;
    Some(line.pos)
}

/// The field orders read by straight-line code: one function per order in which every
/// call names its field, so the per-token jump of [`parse_planned`] folds away (the
/// version-2 default order through the planned loop cost ~20 % more per line,
/// callgrind). The orders are the ones AWS writes or documents and users configure:
/// the default, the "all fields of version N" formats (the catalogue in order), and
/// the simulator's v5 format. A schema is matched against them once, when its header
/// is read; every other order keeps its plan.
macro_rules! straight_line_orders {
    ($( $(#[$doc:meta])* $variant:ident: $order:ident, $parse:ident = [$($field:ident)+ ; $last:ident]; )+) => {
        $(
            $(#[$doc])*
            pub const $order: &[Field] = &[$(Field::$field,)+ Field::$last];

            #[inline]
            fn $parse(text: &[u8], len: usize, fields: &mut Fields<'_>, record: &mut FlowRecord) -> Option<usize> {
                let mut line = FastLine { text, len, pos: 0 };
                $( planned_slot::<false>(&mut line, fields, record, Slot::Known(Field::$field))?; )+
                planned_slot::<true>(&mut line, fields, record, Slot::Known(Field::$last))?;
                Some(line.pos)
            }
        )+

        /// Every straight-line order, for the tests that compare the paths.
        #[cfg(test)]
        pub(super) const STRAIGHT_LINE_ORDERS: &[(&[Field], FastPath)] = &[$( ($order, FastPath::$variant), )+];

        /// How the lines of a schema are read before the general parser is tried.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum FastPath {
            $( $variant, )+
            /// Any other order: [`parse_planned`], one jump per field.
            Planned,
            /// The general parser alone (for the tests that compare the paths).
            #[cfg(test)]
            None,
        }

        impl FastPath {
            /// The straight-line order `slots` are in, if any.
            pub(super) fn for_slots(slots: &[Slot]) -> FastPath {
                $(
                    if slots.len() == $order.len() && slots.iter().zip($order).all(|(slot, field)| *slot == Slot::Known(*field)) {
                        return FastPath::$variant;
                    }
                )+
                FastPath::Planned
            }
        }

        impl Schema {
            /// Reads a line of this schema the fast way: one `match` on the path chosen
            /// when the schema was made (see [`parse_planned`] for `text`, `len` and the result).
            #[inline(always)]
            pub(super) fn parse_fast(&self, text: &[u8], len: usize, fields: &mut Fields<'_>, record: &mut FlowRecord) -> Option<usize> {
                match self.fast_path {
                    $( FastPath::$variant => $parse(text, len, fields, record), )+
                    FastPath::Planned => parse_planned(&self.slots, text, len, fields, record),
                    #[cfg(test)]
                    FastPath::None => None,
                }
            }
        }
    };
}

straight_line_orders! {
    /// The default (version 2) format, in its fixed order.
    DefaultV2: DEFAULT_V2, parse_default_v2 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        ; LogStatus
    ];
    /// Every field of version 3, in AWS's catalogue order.
    AllV3: ALL_V3, parse_all_v3 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr
        ; PktDstAddr
    ];
    /// Every field of version 4, in AWS's catalogue order.
    AllV4: ALL_V4, parse_all_v4 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr PktDstAddr Region AzId SublocationType
        ; SublocationId
    ];
    /// Every field of version 5, in AWS's catalogue order.
    AllV5: ALL_V5, parse_all_v5 = [
        Version AccountId InterfaceId SrcAddr DstAddr SrcPort DstPort Protocol Packets Bytes Start End Action
        LogStatus VpcId SubnetId InstanceId TcpFlags Type PktSrcAddr PktDstAddr Region AzId SublocationType
        SublocationId PktSrcAwsService PktDstAwsService FlowDirection
        ; TrafficPath
    ];
    /// The v5 custom format `flowhound simulate` writes: every v2–v5 field it fills,
    /// deliberately not in catalogue order.
    SimulatorV5: SIMULATOR_V5, parse_simulator_v5 = [
        Version AccountId Region AzId VpcId SubnetId InstanceId InterfaceId FlowDirection TrafficPath SrcAddr
        DstAddr PktSrcAddr PktDstAddr SrcPort DstPort Protocol TcpFlags Type Packets Bytes Start End Action
        LogStatus PktSrcAwsService
        ; PktDstAwsService
    ];
}

#[inline(always)]
fn planned_slot<const LAST: bool>(
    line: &mut FastLine<'_>,
    fields: &mut Fields<'_>,
    record: &mut FlowRecord,
    slot: Slot,
) -> Option<()> {
    match slot {
        Slot::Known(field) => set_value(record, field, &mut NextToken::<LAST> { line, fields }).ok(),
        Slot::Unknown => line.token(LAST).map(|_| ()),
    }
}
