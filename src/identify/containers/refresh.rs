//! Which answers still count after an event: a container an event touched leaves the map at once
//! and is asked about again, and the engine's answer is applied only if no newer event about the
//! same container came meanwhile. It never lets a late answer undo a newer event.

use super::directory::Directory;
use super::Known;

impl Directory {
    /// Takes container `id` out of the map until the engine has said what it is now, and returns
    /// the number its answer must still carry to count.
    pub(super) fn begin_refresh(&self, id: &str) -> u64 {
        let mut known = self.known.lock();
        known.remove(id);
        let mut refreshing = self.refreshing.lock();
        let number = self.generation().wrapping_add(1);
        refreshing.insert(id.to_owned(), number);
        drop(refreshing);
        drop(known);
        self.changed.send_modify(|n| *n = number);
        number
    }

    /// Takes container `id` out of the map for good (it died or was removed); an answer about it
    /// still on its way no longer counts.
    pub(super) fn forget(&self, id: &str) {
        let mut known = self.known.lock();
        known.remove(id);
        self.refreshing.lock().remove(id);
        drop(known);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Applies the engine's answer about `id` if no newer event came since it was asked.
    pub(super) fn finish_refresh(&self, id: &str, number: u64, found: Option<Known>) {
        let mut refreshing = self.refreshing.lock();
        if refreshing.get(id) != Some(&number) {
            return;
        }
        refreshing.remove(id);
        drop(refreshing);
        if found.is_some() {
            self.set(id, found);
        }
    }
}
