//! Write tokens: every value the adapter writes by compare-and-swap carries a token of its own and the
//! tokens of the writes it replaced, so a swap's real outcome can be read back from the store.
//!
//! Spin's Redis backend misreports swaps (see the README's "Spin's Redis backend" section): a read-back
//! that finds our token — as the value's own or among the writes later values were built on — proves the
//! write landed, whatever the host said.

use spinpost::kv::CasOutcome;

/// How many earlier writes a sealed value remembers. A swap's read-back follows its write within a few
/// round trips; a later compare-and-swap needs at least three (watch, read, write), so eight generations
/// leave a wide margin.
pub const LINEAGE: usize = 8;

/// Marks the end of a sealed value. JSON and decimal counters never contain NUL bytes.
const SEAL: &[u8; 8] = b"\0spnwt1\0";

const TOKEN_BYTES: usize = 16;

/// A 128-bit random identity of one compare-and-swap write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteToken([u8; TOKEN_BYTES]);

impl WriteToken {
    /// A token from 128 random bits.
    pub fn from_random(high: u64, low: u64) -> Self {
        let mut bytes = [0; TOKEN_BYTES];
        bytes[..8].copy_from_slice(&high.to_le_bytes());
        bytes[8..].copy_from_slice(&low.to_le_bytes());
        WriteToken(bytes)
    }
}

/// A stored value split into the record and the write tokens sealed with it (newest first; none for a
/// value written without compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The record, as the core wrote it.
    pub value: Vec<u8>,
    /// The write that stored it, then the writes it was built on.
    pub lineage: Vec<WriteToken>,
}

impl Sealed {
    /// Split a stored value. A value without a well-formed seal is a plain record.
    pub fn open(mut raw: Vec<u8>) -> Self {
        let lineage = match seal_start(&raw) {
            Some(start) => {
                let tokens = raw[start..raw.len() - SEAL.len() - 1]
                    .chunks_exact(TOKEN_BYTES)
                    .filter_map(|chunk| chunk.try_into().ok().map(WriteToken))
                    .collect();
                raw.truncate(start);
                tokens
            }
            None => Vec::new(),
        };
        Sealed {
            value: raw,
            lineage,
        }
    }

    /// The stored form of `value` written by `token` over this value: our token first, then the most
    /// recent of the writes this one is built on.
    pub fn succeeded_by(&self, value: &[u8], token: WriteToken) -> Vec<u8> {
        let lineage: Vec<WriteToken> = std::iter::once(token)
            .chain(self.lineage.iter().copied())
            .take(LINEAGE)
            .collect();
        let mut raw =
            Vec::with_capacity(value.len() + lineage.len() * TOKEN_BYTES + SEAL.len() + 1);
        raw.extend_from_slice(value);
        for token in &lineage {
            raw.extend_from_slice(&token.0);
        }
        // LINEAGE fits a byte.
        raw.push(lineage.len() as u8);
        raw.extend_from_slice(SEAL);
        raw
    }

    /// Whether the write `token` is this value or one it was built on.
    pub fn descends_from(&self, token: WriteToken) -> bool {
        self.lineage.contains(&token)
    }

    /// The outcome of our swap by `token`, read back as this value, given what the host reported.
    ///
    /// Our token in the lineage proves the write landed. Another compare-and-swap write without it proves
    /// it did not (a host may report an aborted transaction as a success). A plain or absent value is no
    /// evidence either way: the host's report stands, a reported failure being a conflict to retry.
    pub fn outcome_of(self, token: WriteToken, reported_swapped: bool) -> CasOutcome {
        if self.descends_from(token) || (reported_swapped && self.lineage.is_empty()) {
            CasOutcome::Swapped
        } else {
            CasOutcome::Conflict(Some(self.value))
        }
    }
}

/// Where the tokens of a sealed value start, if `raw` ends with a well-formed seal.
fn seal_start(raw: &[u8]) -> Option<usize> {
    let body = raw.strip_suffix(SEAL.as_slice())?;
    let (&count, body) = body.split_last()?;
    let count = usize::from(count);
    if count == 0 || count > LINEAGE {
        return None;
    }
    body.len().checked_sub(count * TOKEN_BYTES)
}

/// The outcome of our swap when the key reads back absent: nothing of ours is there, so only a reported
/// success stands (another writer may have deleted the key since).
pub fn outcome_when_absent(reported_swapped: bool) -> CasOutcome {
    if reported_swapped {
        CasOutcome::Swapped
    } else {
        CasOutcome::Conflict(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: u64) -> WriteToken {
        WriteToken::from_random(n, !n)
    }

    fn plain(value: &[u8]) -> Sealed {
        Sealed::open(value.to_vec())
    }

    #[test]
    fn a_plain_value_opens_as_itself_with_no_lineage() {
        for value in [&b""[..], b"{}", b"42", b"\0spnwt1\0", b"x\x09\0spnwt1\0"] {
            let sealed = plain(value);
            assert_eq!(sealed.value, value);
            assert!(sealed.lineage.is_empty(), "{value:?}");
        }
    }

    #[test]
    fn a_sealed_value_opens_to_the_record_and_its_writes_newest_first() {
        let first = plain(b"").succeeded_by(br#"{"n":1}"#, token(1));
        let second = Sealed::open(first).succeeded_by(br#"{"n":2}"#, token(2));
        let opened = Sealed::open(second);
        assert_eq!(opened.value, br#"{"n":2}"#);
        assert_eq!(opened.lineage, vec![token(2), token(1)]);
    }

    #[test]
    fn the_lineage_keeps_only_the_most_recent_writes() {
        let mut raw = b"0".to_vec();
        for n in 1..=20 {
            raw = Sealed::open(raw).succeeded_by(n.to_string().as_bytes(), token(n));
        }
        let opened = Sealed::open(raw);
        assert_eq!(opened.value, b"20");
        assert_eq!(opened.lineage.len(), LINEAGE);
        assert!(opened.descends_from(token(20)));
        assert!(opened.descends_from(token(13)));
        assert!(!opened.descends_from(token(12)));
    }

    #[test]
    fn identical_records_written_by_different_swaps_stay_distinguishable() {
        let ours = Sealed::open(plain(b"").succeeded_by(b"same", token(1)));
        let theirs = Sealed::open(plain(b"").succeeded_by(b"same", token(2)));
        assert_eq!(ours.value, theirs.value);
        assert_eq!(ours.outcome_of(token(1), false), CasOutcome::Swapped);
        assert_eq!(
            theirs.outcome_of(token(1), false),
            CasOutcome::Conflict(Some(b"same".to_vec()))
        );
    }

    #[test]
    fn a_reported_failure_is_a_success_when_our_write_is_there_or_underneath() {
        let ours = plain(b"v0").succeeded_by(b"v1", token(1));
        assert_eq!(
            Sealed::open(ours.clone()).outcome_of(token(1), false),
            CasOutcome::Swapped
        );
        // Another writer built on ours before we read back: ours landed.
        let later = Sealed::open(ours).succeeded_by(b"v2", token(2));
        assert_eq!(
            Sealed::open(later).outcome_of(token(1), false),
            CasOutcome::Swapped
        );
    }

    #[test]
    fn a_reported_success_without_our_write_underneath_is_a_conflict() {
        // The host reported success, but another swap's value does not descend from ours.
        let theirs = plain(b"v0").succeeded_by(b"v1", token(2));
        assert_eq!(
            Sealed::open(theirs).outcome_of(token(1), true),
            CasOutcome::Conflict(Some(b"v1".to_vec()))
        );
    }

    #[test]
    fn a_plain_or_absent_read_back_leaves_the_reported_outcome() {
        assert_eq!(
            plain(b"set").outcome_of(token(1), true),
            CasOutcome::Swapped
        );
        assert_eq!(
            plain(b"set").outcome_of(token(1), false),
            CasOutcome::Conflict(Some(b"set".to_vec()))
        );
        assert_eq!(outcome_when_absent(true), CasOutcome::Swapped);
        assert_eq!(outcome_when_absent(false), CasOutcome::Conflict(None));
    }
}
