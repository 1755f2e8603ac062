//! Ledger identifiers. UUIDv7 like every Levqor id, so they sort by creation time
//! and a page cursor can simply be the last id seen.

use levqor_core::define_id;

define_id!(
    /// One ledger entry.
    EntryId
);
define_id!(
    /// Credits held for a run until it settles or is released.
    ReservationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = EntryId::new();
        let b = EntryId::new();
        assert!(a < b);
        assert_eq!(a, a.to_string().parse().unwrap());
        assert!("nope".parse::<ReservationId>().is_err());
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }
}
