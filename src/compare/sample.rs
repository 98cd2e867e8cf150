//! Deterministic bounded samples: keep the `limit` entries with the smallest
//! sort keys (Arrow row-format bytes of the key, or of the whole row in
//! keyless mode), so the same inputs give the same samples whatever the
//! partitioning or thread count.

use std::collections::BTreeMap;

#[derive(Debug)]
pub struct SmallestK<T> {
    limit: usize,
    items: BTreeMap<Vec<u8>, T>,
}

impl<T> SmallestK<T> {
    pub fn new(limit: usize) -> Self {
        SmallestK {
            limit,
            items: BTreeMap::new(),
        }
    }

    /// Would an entry with this sort key be kept?
    pub fn accepts(&self, key: &[u8]) -> bool {
        if self.limit == 0 {
            return false;
        }
        self.items.len() < self.limit
            || self
                .items
                .last_key_value()
                .is_some_and(|(k, _)| key < k.as_slice())
    }

    pub fn insert(&mut self, key: Vec<u8>, item: T) {
        if !self.accepts(&key) {
            return;
        }
        self.items.insert(key, item);
        if self.items.len() > self.limit {
            self.items.pop_last();
        }
    }

    pub fn merge(&mut self, other: SmallestK<T>) {
        for (k, v) in other.items {
            self.insert(k, v);
        }
    }

    pub fn into_sorted(self) -> Vec<T> {
        self.items.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_smallest_keys_in_order_whatever_the_arrival_order() {
        let mut a = SmallestK::new(3);
        let mut b = SmallestK::new(3);
        for k in [9u8, 1, 7, 3] {
            a.insert(vec![k], k);
        }
        for k in [2u8, 8, 0] {
            b.insert(vec![k], k);
        }
        a.merge(b);
        assert_eq!(a.into_sorted(), vec![0, 1, 2]);
    }

    #[test]
    fn a_zero_limit_keeps_nothing() {
        let mut s = SmallestK::new(0);
        s.insert(vec![1], 1);
        assert!(s.into_sorted().is_empty());
    }
}
