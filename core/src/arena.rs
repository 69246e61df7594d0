//! `Arena`: a slab whose ids carry a generation, so that a removed entry's
//! id never finds the entry that later reuses its slot.
//!
//! Every table in the core (processes, threads, nodes, each process's
//! handles) is an `Arena`; a bare slab key is never exposed, because slab
//! reuses keys and a reused key would turn a stale id into someone else's
//! object.

use slab::Slab;

/// A slot holds a live value, or is retired because its generation counter
/// ran out; a retired slot is never handed out again.
enum Slot<T> {
    Live(T),
    Retired,
}

/// A generation-checked slab. Ids are `generation << 32 | index`, and the
/// first generation of every slot is 1, so no id is ever 0 (0 stays free for
/// "the context manager" among handles).
pub(crate) struct Arena<T> {
    slab: Slab<Slot<T>>,
    gens: Vec<u32>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Self {
            slab: Slab::new(),
            gens: Vec::new(),
        }
    }
}

fn split(id: u64) -> (usize, u32) {
    ((id & 0xffff_ffff) as usize, (id >> 32) as u32)
}

impl<T> Arena<T> {
    /// Inserts `value` and returns its id, never one handed out before.
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        let key = self.slab.insert(Slot::Live(value));
        if key >= self.gens.len() {
            self.gens.resize(key + 1, 0);
        }
        let gen = self.gens[key];
        if gen == u32::MAX {
            // This slot has been used 2^32-1 times: retire it for good rather
            // than wrap and reuse an old id; the retry lands on another slot.
            let Slot::Live(v) = std::mem::replace(&mut self.slab[key], Slot::Retired) else {
                unreachable!("slot was just inserted live")
            };
            return self.insert(v);
        }
        self.gens[key] = gen + 1;
        (u64::from(gen + 1) << 32) | key as u64
    }

    /// The live value with this id, if any.
    pub(crate) fn get(&self, id: u64) -> Option<&T> {
        let (key, gen) = split(id);
        if self.gens.get(key) != Some(&gen) {
            return None;
        }
        match self.slab.get(key) {
            Some(Slot::Live(v)) => Some(v),
            _ => None,
        }
    }

    /// The live value with this id, mutably.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let (key, gen) = split(id);
        if self.gens.get(key) != Some(&gen) {
            return None;
        }
        match self.slab.get_mut(key) {
            Some(Slot::Live(v)) => Some(v),
            _ => None,
        }
    }

    /// Removes and returns the value with this id.
    pub(crate) fn remove(&mut self, id: u64) -> Option<T> {
        self.get(id)?;
        let (key, _) = split(id);
        match self.slab.remove(key) {
            Slot::Live(v) => Some(v),
            Slot::Retired => None,
        }
    }

    /// Number of live values.
    pub(crate) fn len(&self) -> usize {
        self.slab
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Live(_)))
            .count()
    }

    /// Live values with their ids, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.slab.iter().filter_map(|(key, s)| match s {
            Slot::Live(v) => Some(((u64::from(self.gens[key]) << 32) | key as u64, v)),
            Slot::Retired => None,
        })
    }

    /// Live values with their ids, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut T)> {
        let gens = &self.gens;
        self.slab.iter_mut().filter_map(move |(key, s)| match s {
            Slot::Live(v) => Some(((u64::from(gens[key]) << 32) | key as u64, v)),
            Slot::Retired => None,
        })
    }

    /// Ids of all live values (collected, so the caller may mutate after).
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.iter().map(|(id, _)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_id_never_finds_the_slot_reuser() {
        let mut a = Arena::default();
        let first = a.insert("first");
        assert_eq!(a.remove(first), Some("first"));
        let second = a.insert("second");
        assert_ne!(first, second, "the reused slot must carry a new generation");
        assert_eq!(a.get(first), None);
        assert_eq!(a.get(second), Some(&"second"));
    }

    #[test]
    fn no_id_is_zero() {
        let mut a = Arena::default();
        for i in 0..10 {
            assert_ne!(a.insert(i), 0);
        }
    }
}
