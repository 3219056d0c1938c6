//! The account's open orders by client id, with a version that changes on every change.
//!
//! Reading is the map's own (`Deref`); every way to change it (`insert`, `remove`,
//! `get_mut`, `values_mut`) takes a new version first, and there is no other way in (no
//! `DerefMut`). A reader that remembers the version it decided on knows, by one integer
//! compare, that no order was added, removed or touched since: a strategy need not walk the
//! orders again when nothing else it reads changed either.
//!
//! Versions come from one process-wide counter, so two maps never share a version unless
//! one is a clone of the other with nothing changed since (then their orders are the
//! same). A version says nothing about order: only equality means anything.

use super::order::{ClientOrderId, Order};
use std::collections::BTreeMap;
use std::collections::btree_map::ValuesMut;
use std::sync::atomic::{AtomicU64, Ordering};

/// Versions handed out so far (0 is every new, empty map's).
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

/// Open orders by client id, in client-id order. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct OpenOrders {
    map: BTreeMap<ClientOrderId, Order>,
    version: u64,
}

impl std::ops::Deref for OpenOrders {
    type Target = BTreeMap<ClientOrderId, Order>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl OpenOrders {
    pub fn new() -> Self {
        OpenOrders::default()
    }

    /// Equal versions: the same orders, field for field, as when the version was read.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// A new version, before any change (also when the change turns out to be none).
    fn touch(&mut self) {
        self.version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
    }

    pub fn insert(&mut self, id: ClientOrderId, order: Order) -> Option<Order> {
        self.touch();
        self.map.insert(id, order)
    }

    pub fn remove(&mut self, id: &ClientOrderId) -> Option<Order> {
        self.touch();
        self.map.remove(id)
    }

    pub fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut Order> {
        self.touch();
        self.map.get_mut(id)
    }

    pub fn values_mut(&mut self) -> ValuesMut<'_, ClientOrderId, Order> {
        self.touch();
        self.map.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        InstrumentId, OrderKind, OrderRequest, OrderSpec, OrderTag, Owner, Price, Qty, Side,
        TimeInForce, Timestamp,
    };

    fn order(id: &str) -> Order {
        let req = OrderRequest {
            client_id: ClientOrderId::new(id.to_string()),
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(100)),
                qty: Qty(1),
                tif: TimeInForce::Gtc,
                reduce_only: false,
            },
            owner: Owner::Manual,
            tag: OrderTag::Manual,
        };
        Order::new(req, Timestamp(0))
    }

    #[test]
    fn every_change_gives_a_version_never_seen_before() {
        let mut m = OpenOrders::new();
        let mut seen = vec![m.version()];
        let id = ClientOrderId::new("a".to_string());
        m.insert(id.clone(), order("a"));
        seen.push(m.version());
        m.get_mut(&id).unwrap().cancel_pending = true;
        seen.push(m.version());
        for o in m.values_mut() {
            o.cancel_pending = false;
        }
        seen.push(m.version());
        m.remove(&id);
        seen.push(m.version());
        let mut sorted = seen.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "{seen:?}");
        // Reads leave it as it is.
        let v = m.version();
        assert!(m.get(&id).is_none() && m.is_empty() && m.values().count() == 0);
        assert_eq!(m.version(), v);
    }

    #[test]
    fn a_clone_changed_apart_never_shares_the_other_s_version() {
        let mut a = OpenOrders::new();
        a.insert(ClientOrderId::new("a".to_string()), order("a"));
        let mut b = a.clone();
        assert_eq!(a.version(), b.version(), "same orders");
        a.insert(ClientOrderId::new("x".to_string()), order("x"));
        b.insert(ClientOrderId::new("y".to_string()), order("y"));
        assert_ne!(a.version(), b.version());
    }
}
