//! A value per key, made once per process on first use: callers asking for the same key at
//! the same time wait for one making instead of each doing the work. Used for migrated template
//! databases and for walked staircases.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

pub(crate) struct OnceMap<K, V>(Mutex<HashMap<K, Arc<OnceCell<V>>>>);

impl<K: Eq + Hash, V> OnceMap<K, V> {
    pub(crate) fn new() -> Self {
        OnceMap(Mutex::new(HashMap::new()))
    }

    /// The cell for `key`, to `get_or_try_init`: a making that fails leaves it empty, and the
    /// next caller tries again.
    pub(crate) fn cell(&self, key: K) -> Arc<OnceCell<V>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(key).or_default().clone()
    }
}
