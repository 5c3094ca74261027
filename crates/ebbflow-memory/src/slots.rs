//! A queue's messages by key, where keys are handed out in increasing order.
//!
//! A hash map of a million messages moves all of them each time it grows,
//! and frees its old table in one piece: in a profile of a fill, that copying,
//! its page faults and the allocator's consolidation took about a third of
//! the time. Here messages live in fixed-size chunks that never move; a
//! chunk is freed once its last message is gone. Keys are the queue's own
//! sequence, so a key finds its chunk and slot by arithmetic, with no hash,
//! and walking the chunks in order gives the messages in the order they
//! arrived, which is what a browse shows.

use std::collections::VecDeque;

/// Messages per chunk: about 75 KB of messages, small enough for the
/// allocator to reuse freed chunks rather than map fresh pages.
const CHUNK: u64 = 256;

struct Chunk<T> {
    slots: Box<[Option<T>]>,
    live: usize,
}

/// Values by increasing `u64` keys, in chunks that never move.
pub(crate) struct Slots<T> {
    /// The key of the first slot of `chunks[0]`; a multiple of [`CHUNK`].
    base: u64,
    /// `None` for a chunk whose values are all gone.
    chunks: VecDeque<Option<Chunk<T>>>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            base: 0,
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Slots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter_from(0)).finish()
    }
}

impl<T> Slots<T> {
    /// Where `key` is: its chunk's index in `chunks` and its slot, if not before the first chunk.
    fn locate(&self, key: u64) -> Option<(usize, usize)> {
        let from_base = key.checked_sub(self.base)?;
        let chunk = usize::try_from(from_base / CHUNK).ok()?;
        Some((chunk, (from_base % CHUNK) as usize))
    }

    /// Stores `value` at `key`. Keys are meant to be new and increasing; a key
    /// before the first chunk still in use is stored too, by adding chunks in front.
    pub(crate) fn insert(&mut self, key: u64, value: T) {
        if self.chunks.is_empty() {
            self.base = key - key % CHUNK;
        }
        while key < self.base {
            self.chunks.push_front(None);
            self.base -= CHUNK;
        }
        let Some((at, slot)) = self.locate(key) else {
            return;
        };
        if at >= self.chunks.len() {
            self.chunks.resize_with(at + 1, || None);
        }
        let chunk = self.chunks[at].get_or_insert_with(|| Chunk {
            slots: (0..CHUNK).map(|_| None).collect(),
            live: 0,
        });
        if chunk.slots[slot].replace(value).is_none() {
            chunk.live += 1;
            self.len += 1;
        }
    }

    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        let (at, slot) = self.locate(key)?;
        self.chunks.get(at)?.as_ref()?.slots[slot].as_ref()
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (at, slot) = self.locate(key)?;
        self.chunks.get_mut(at)?.as_mut()?.slots[slot].as_mut()
    }

    /// Takes the value at `key` out; frees its chunk if it was the last one there.
    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let (at, slot) = self.locate(key)?;
        let chunk = self.chunks.get_mut(at)?.as_mut()?;
        let value = chunk.slots[slot].take()?;
        chunk.live -= 1;
        self.len -= 1;
        if chunk.live == 0 {
            self.chunks[at] = None;
            while let Some(None) = self.chunks.front() {
                self.chunks.pop_front();
                self.base += CHUNK;
            }
            while let Some(None) = self.chunks.back() {
                self.chunks.pop_back();
            }
        }
        Some(value)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// Values with keys from `first` on, in key order.
    pub(crate) fn iter_from(&self, first: u64) -> impl Iterator<Item = (u64, &T)> + '_ {
        let skip = first.saturating_sub(self.base) / CHUNK;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        self.chunks
            .iter()
            .enumerate()
            .skip(skip)
            .filter_map(|(at, chunk)| chunk.as_ref().map(|c| (at, c)))
            .flat_map(move |(at, chunk)| {
                let start = self.base + at as u64 * CHUNK;
                chunk
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(move |(i, v)| v.as_ref().map(|v| (start + i as u64, v)))
            })
            .filter(move |(key, _)| *key >= first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn values_come_back_by_key_and_in_key_order() {
        let mut s = Slots::default();
        for k in 10..1000u64 {
            s.insert(k, k * 2);
        }
        assert_eq!(s.get(500), Some(&1000));
        assert_eq!(s.get(9), None);
        assert_eq!(s.get(1000), None);
        assert_eq!(s.remove(500), Some(1000));
        assert_eq!(s.remove(500), None);
        assert_eq!(s.len(), 989);
        let keys: Vec<u64> = s.iter_from(498).take(3).map(|(k, _)| k).collect();
        assert_eq!(keys, [498, 499, 501]);
    }

    #[test]
    fn emptied_chunks_are_freed_and_a_key_after_them_still_lands() {
        let mut s = Slots::default();
        for k in 0..CHUNK * 3 {
            s.insert(k, ());
        }
        // Empty the middle chunk while the first still holds one value.
        for k in CHUNK..CHUNK * 2 {
            s.remove(k);
        }
        assert!(s.chunks[1].is_none(), "the middle chunk is freed");
        for k in 1..CHUNK {
            s.remove(k);
        }
        s.remove(0);
        assert_eq!(s.base, CHUNK * 2, "freed chunks in front are dropped");
        assert_eq!(s.len(), CHUNK as usize);
        s.insert(CHUNK * 7 + 3, ());
        assert!(s.get(CHUNK * 7 + 3).is_some());
        for k in CHUNK * 2..CHUNK * 3 {
            s.remove(k);
        }
        s.remove(CHUNK * 7 + 3);
        assert_eq!((s.len(), s.chunks.len()), (0, 0));
    }

    proptest! {
        /// Any mix of inserts (of new, increasing keys) and removes agrees with a BTreeMap.
        #[test]
        fn agrees_with_a_sorted_map(ops in proptest::collection::vec((any::<bool>(), 0u64..2000), 1..400)) {
            let mut s = Slots::default();
            let mut m = BTreeMap::new();
            let mut next = 0u64;
            for (insert, pick) in ops {
                if insert || m.is_empty() {
                    next += pick % 700;
                    s.insert(next, next);
                    m.insert(next, next);
                    next += 1;
                } else {
                    let key = *m.keys().nth(pick as usize % m.len()).unwrap_or(&0);
                    prop_assert_eq!(s.remove(key), m.remove(&key));
                }
                prop_assert_eq!(s.len(), m.len());
            }
            let from = m.keys().nth(m.len() / 2).copied().unwrap_or(0);
            let got: Vec<(u64, u64)> = s.iter_from(from).map(|(k, v)| (k, *v)).collect();
            let want: Vec<(u64, u64)> = m.range(from..).map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
